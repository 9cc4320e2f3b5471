// SGD against hand computation with torch.optim.SGD's formulas:
//   g = grad + weight_decay * p
//   buf = first ? g : momentum * buf + (1 - dampening) * g
//   g = nesterov ? g + momentum * buf : buf          (when momentum != 0)
//   p -= lr * g
// Every case starts from p = [1, -2], grad = [0.5, 1]; a second step uses grad = [0.25, -0.5].
#include <doctest/doctest.h>

#include <vector>

#include "autograd/autograd.h"
#include "optim/optimizer.h"
#include "tensor/creation.h"
#include "tensor/ops.h"
#include "tensor/storage.h"

using namespace tg;
using optim::SGD;
using optim::SGDOptions;

namespace {

Tensor param(DType dt = DType::f32) {
  return tensor({1, -2}, dt).requires_grad_();
}
void give_grad(const Tensor& p, std::initializer_list<double> g) {
  Tensor t = p;
  t.set_grad(tensor(g, p.dtype()));
}

void check_values(const Tensor& t, const std::vector<double>& want, double eps = 1e-6) {
  std::vector<double> got = t.detach().to(DType::f64).to_vector<double>();
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i)
    CHECK_MESSAGE(got[i] == doctest::Approx(want[i]).epsilon(eps), "element ", i);
}

// Two steps with the given options; returns p after each.
std::pair<Tensor, Tensor> two_steps(const SGDOptions& o, DType dt = DType::f32) {
  Tensor p = param(dt);
  SGD opt({p}, o);
  give_grad(p, {0.5, 1});
  opt.step();
  Tensor after1 = p.detach().clone();
  give_grad(p, {0.25, -0.5});
  opt.step();
  return {after1, p.detach().clone()};
}

// Reads the protected momentum buffers.
struct SpySGD : SGD {
  using SGD::SGD;
  const Tensor* buffer(size_t g, size_t i) const {
    auto it = state_[g][i].find("momentum_buffer");
    return it == state_[g][i].end() ? nullptr : &it->second;
  }
};

}  // namespace

TEST_CASE("SGD plain step: p -= lr * grad") {
  auto [p1, p2] = two_steps({.lr = 0.1});
  check_values(p1, {0.95, -2.1});    // [1 - 0.1*0.5, -2 - 0.1*1]
  check_values(p2, {0.925, -2.05});  // [0.95 - 0.025, -2.1 + 0.05]
}

TEST_CASE("SGD in float64 gives the same numbers to double precision") {
  auto [p1, p2] = two_steps({.lr = 0.1}, DType::f64);
  CHECK(p2.dtype() == DType::f64);
  check_values(p1, {0.95, -2.1}, 1e-14);
  check_values(p2, {0.925, -2.05}, 1e-14);
}

TEST_CASE("SGD weight decay adds weight_decay * p to the gradient") {
  auto [p1, p2] = two_steps({.lr = 0.1, .weight_decay = 0.5});
  // g = [0.5 + 0.5*1, 1 + 0.5*(-2)] = [1, 0]; p = [0.9, -2]
  check_values(p1, {0.9, -2});
  // g = [0.25 + 0.45, -0.5 - 1] = [0.7, -1.5]; p = [0.9 - 0.07, -2 + 0.15] = [0.83, -1.85]
  check_values(p2, {0.83, -1.85});
}

TEST_CASE("SGD momentum: the first step sets the buffer to the gradient") {
  auto [p1, p2] = two_steps({.lr = 0.1, .momentum = 0.9});
  // step 1: buf = [0.5, 1]; p = [0.95, -2.1]
  check_values(p1, {0.95, -2.1});
  // step 2: buf = 0.9*[0.5, 1] + [0.25, -0.5] = [0.7, 0.4]; p = [0.95 - 0.07, -2.1 - 0.04]
  check_values(p2, {0.88, -2.14});
}

TEST_CASE("SGD dampening scales the new gradient from the second step on") {
  auto [p1, p2] = two_steps({.lr = 0.1, .momentum = 0.9, .dampening = 0.5});
  // step 1: buf = g = [0.5, 1] (no dampening on the first step); p = [0.95, -2.1]
  check_values(p1, {0.95, -2.1});
  // step 2: buf = 0.9*[0.5, 1] + 0.5*[0.25, -0.5] = [0.575, 0.65]
  //         p = [0.95 - 0.0575, -2.1 - 0.065] = [0.8925, -2.165]
  check_values(p2, {0.8925, -2.165});
}

TEST_CASE("SGD nesterov steps with g + momentum * buf") {
  auto [p1, p2] = two_steps({.lr = 0.1, .momentum = 0.9, .nesterov = true});
  // step 1: buf = [0.5, 1]; g = [0.5, 1] + 0.9*buf = [0.95, 1.9]; p = [0.905, -2.19]
  check_values(p1, {0.905, -2.19});
  // step 2: buf = [0.7, 0.4]; g = [0.25 + 0.63, -0.5 + 0.36] = [0.88, -0.14]
  //         p = [0.905 - 0.088, -2.19 + 0.014] = [0.817, -2.176]
  check_values(p2, {0.817, -2.176});
}

TEST_CASE("SGD momentum with weight decay") {
  auto [p1, p2] = two_steps({.lr = 0.1, .momentum = 0.9, .weight_decay = 0.1});
  // step 1: g = [0.5 + 0.1, 1 - 0.2] = [0.6, 0.8] = buf; p = [0.94, -2.08]
  check_values(p1, {0.94, -2.08});
  // step 2: g = [0.25 + 0.094, -0.5 - 0.208] = [0.344, -0.708]
  //         buf = [0.54 + 0.344, 0.72 - 0.708] = [0.884, 0.012]; p = [0.8516, -2.0812]
  check_values(p2, {0.8516, -2.0812});
}

TEST_CASE("the momentum buffer is made once and a warm step allocates nothing") {
  Tensor p = param();
  SpySGD opt(std::vector<Tensor>{p}, SGDOptions{.lr = 0.1, .momentum = 0.9});
  CHECK(opt.buffer(0, 0) == nullptr);
  give_grad(p, {0.5, 1});
  opt.step();
  REQUIRE(opt.buffer(0, 0) != nullptr);
  check_values(*opt.buffer(0, 0), {0.5, 1});
  const void* data = opt.buffer(0, 0)->raw_data();
  opt.step();
  size_t bytes = cpu_bytes_in_use();
  opt.step();
  opt.step();
  CHECK(cpu_bytes_in_use() == bytes);
  CHECK(opt.buffer(0, 0)->raw_data() == data);
  // buf = 0.9 buf + g, three more times from [0.5, 1] with g = [0.5, 1]
  check_values(*opt.buffer(0, 0), {0.5 * (1 + 0.9 + 0.81 + 0.729), 1 + 0.9 + 0.81 + 0.729});
}

TEST_CASE("SGD skips parameters without a gradient") {
  Tensor a = param(), b = param();
  SpySGD opt(std::vector<Tensor>{a, b}, SGDOptions{.lr = 0.1, .momentum = 0.9});
  give_grad(a, {0.5, 1});
  opt.step();
  check_values(a, {0.95, -2.1});
  check_values(b, {1, -2});
  CHECK(opt.buffer(0, 1) == nullptr);
  CHECK(opt.state_dict().count("state.0.1.momentum_buffer") == 0);
}

TEST_CASE("SGD.step records nothing on the tape and keeps parameters as leaves") {
  Tensor p = param();
  SGD opt({p}, {.lr = 0.1, .momentum = 0.5});
  Tensor x = tensor({3, 4});
  backward(sum(p * x));  // grad = [3, 4]
  size_t before = tape().size();
  opt.step();
  CHECK(tape().size() == before);
  CHECK(p.is_leaf());
  CHECK(p.requires_grad());
  check_values(p, {0.7, -2.4});
  CHECK(GradMode::enabled());
}

TEST_CASE("SGD refuses invalid hyper-parameters as PyTorch does") {
  Tensor p = param();
  CHECK_THROWS_WITH_AS(SGD({p}, {.lr = -0.1}), doctest::Contains("invalid learning rate"), Error);
  CHECK_THROWS_WITH_AS(SGD({p}, {.momentum = -0.5}), doctest::Contains("invalid momentum"), Error);
  CHECK_THROWS_WITH_AS(SGD({p}, {.weight_decay = -1}), doctest::Contains("invalid weight_decay"),
                       Error);
  CHECK_THROWS_WITH_AS(SGD({p}, {.nesterov = true}),
                       doctest::Contains("nesterov momentum requires a momentum > 0"), Error);
  CHECK_THROWS_AS(SGD({p}, {.momentum = 0.9, .dampening = 0.1, .nesterov = true}), Error);
  CHECK_NOTHROW(SGD({p}, {.lr = 0, .momentum = 0.9, .nesterov = true}));
}

TEST_CASE("SGD refuses integer parameters and parameters listed twice") {
  Tensor p = param();
  Tensor i = zeros({2}, DType::i32);
  CHECK_THROWS_WITH_AS(SGD({i}, {}), doctest::Contains("int32"), Error);
  CHECK_THROWS_WITH_AS(SGD({p, p}, {}), doctest::Contains("more than once"), Error);
  SGD opt({p}, {});
  CHECK_THROWS_AS(opt.add_param_group({{p}, {}}), Error);
}
