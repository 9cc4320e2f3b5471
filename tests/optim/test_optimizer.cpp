// Optimizer: hyper-parameters by name, parameter groups, zero_grad, and the state dict
// (a restored checkpoint continues training bit for bit).
#include <doctest/doctest.h>

#include <vector>

#include "autograd/autograd.h"
#include "nn/nn.h"
#include "optim/optimizer.h"
#include "tensor/creation.h"
#include "tensor/ops.h"

using namespace tg;
using optim::ParamGroup;
using optim::SGD;
using optim::SGDOptions;

namespace {

Tensor param(double a, double b) {
  return tensor({a, b}).requires_grad_();
}
void give_grad(const Tensor& p, std::initializer_list<double> g) {
  Tensor t = p;
  t.set_grad(tensor(g, p.dtype()));
}
std::vector<float> vals(const Tensor& t) {
  return t.detach().to_vector<float>();
}

// One full-batch step of cross-entropy training.
void train_step(nn::Module& model, optim::Optimizer& opt, const Tensor& x, const Tensor& y) {
  opt.zero_grad();
  backward(cross_entropy(model(x), y));
  opt.step();
}

// Clones of a model's parameters: a checkpoint that later training cannot change.
nn::StateDict snapshot(const nn::Module& m) {
  nn::StateDict out;
  for (auto& [k, v] : m.state_dict()) out[k] = v.clone();
  return out;
}

}  // namespace

TEST_CASE("hyper-parameters are read and written by name") {
  Tensor p = param(1, 2);
  SGD opt({p}, {.lr = 0.1, .momentum = 0.9, .nesterov = true});
  CHECK(opt.get("lr") == 0.1);
  CHECK(opt.get("momentum") == 0.9);
  CHECK(opt.get("dampening") == 0);
  CHECK(opt.get("weight_decay") == 0);
  CHECK(opt.get("nesterov") == 1);
  opt.set("momentum", 0.5, 0);
  CHECK(opt.get("momentum", 0) == 0.5);
  CHECK(opt.hyper_names() ==
        std::vector<std::string>{"lr", "momentum", "dampening", "weight_decay", "nesterov"});
  CHECK(opt.get(opt.hyper_id("momentum")) == 0.5);
  CHECK_THROWS_WITH_AS(
      opt.get("betas"),
      "Optimizer: unknown hyper-parameter 'betas'; known: dampening, lr, momentum, "
      "nesterov, weight_decay",
      Error);
  CHECK_THROWS_WITH_AS(
      opt.set("betas", 1),
      doctest::Contains("Optimizer: unknown hyper-parameter 'betas'; known: dampening, lr"), Error);
  CHECK_THROWS_AS(opt.set("eps", 1, 0), Error);
  CHECK_THROWS_WITH_AS(opt.set(size_t{7}, 1.0), doctest::Contains("id 7 is out of range"), Error);
  CHECK_THROWS_WITH_AS(opt.get("lr", 1), doctest::Contains("group 1 is out of range"), Error);
}

TEST_CASE("set(name) changes every group and the next step uses it") {
  Tensor a = param(1, 1), b = param(1, 1);
  SGD opt(std::vector<ParamGroup>{{{a}, {{"lr", 0.1}}}, {{b}, {{"lr", 0.2}}}}, {.lr = 0.5});
  opt.set("lr", 0.01);
  CHECK(opt.get("lr", 0) == 0.01);
  CHECK(opt.get("lr", 1) == 0.01);
  give_grad(a, {1, 2});
  give_grad(b, {1, 2});
  opt.step();
  CHECK(vals(a) == vals(b));
  CHECK(vals(a)[0] == doctest::Approx(0.99));  // 1 - 0.01 * 1
  CHECK(vals(a)[1] == doctest::Approx(0.98));  // 1 - 0.01 * 2
}

TEST_CASE("parameter groups keep their own lr and take the defaults for the rest") {
  Tensor a = param(1, 1), b = param(1, 1);
  SGD opt(std::vector<ParamGroup>{{{a}, {{"lr", 0.1}}}, {{b}, {}}},
          {.lr = 0.5, .weight_decay = 0.25});
  CHECK(opt.get("lr", 0) == 0.1);
  CHECK(opt.get("lr", 1) == 0.5);
  CHECK(opt.get("weight_decay", 0) == 0.25);
  give_grad(a, {1, 1});
  give_grad(b, {1, 1});
  opt.step();
  // g = 1 + 0.25 * 1 = 1.25; a = 1 - 0.1 * 1.25, b = 1 - 0.5 * 1.25
  CHECK(vals(a)[0] == doctest::Approx(0.875));
  CHECK(vals(b)[0] == doctest::Approx(0.375));
  Tensor c = param(1, 1);
  opt.add_param_group({{c}, {{"momentum", 0.9}}});
  REQUIRE(opt.num_groups() == 3);
  CHECK(opt.get("lr", 2) == 0.5);
  CHECK(opt.get("momentum", 2) == 0.9);
  CHECK_THROWS_WITH_AS(opt.add_param_group({{param(0, 0)}, {{"betas", 0.9}}}),
                       doctest::Contains("unknown hyper-parameter 'betas'"), Error);
}

TEST_CASE("a rejected hyper-parameter value changes nothing") {
  Tensor a = param(1, 1), b = param(1, 1);
  SGD opt(std::vector<ParamGroup>{{{a}, {}}, {{b}, {{"momentum", 0.9}}}}, {.lr = 0.1});
  CHECK_THROWS_WITH_AS(opt.set("lr", -1), doctest::Contains("invalid learning rate"), Error);
  CHECK(opt.get("lr", 0) == 0.1);
  CHECK(opt.get("lr", 1) == 0.1);
  // nesterov is valid for group 1 (momentum 0.9) but not for group 0 (momentum 0)
  CHECK_THROWS_AS(opt.set("nesterov", 1), Error);
  CHECK(opt.get("nesterov", 1) == 0);
  CHECK_THROWS_AS(opt.set("nesterov", 2), Error);
  // One group at a time is checked too, and a refused value leaves the group as it was.
  CHECK_THROWS_WITH_AS(opt.set("momentum", -1, 0), doctest::Contains("invalid momentum"), Error);
  CHECK(opt.get("momentum", 0) == 0);
  CHECK_THROWS_AS(opt.set("nesterov", 1, 0), Error);
  CHECK_NOTHROW(opt.set("nesterov", 1, 1));
  CHECK(opt.get("nesterov", 1) == 1);
  CHECK(opt.get("nesterov", 0) == 0);
}

// The values are checked when they are set, once: step() trusts the optimizer's typed copy,
// and a value set by id reaches the update as it does by name.
TEST_CASE("a value set by id is what the next step uses, in every group") {
  Tensor a = param(1, 1), b = param(1, 1);
  SGD opt(std::vector<ParamGroup>{{{a}, {}}, {{b}, {{"lr", 0.3}}}}, {.lr = 0.1});
  const size_t lr = opt.hyper_id("lr");
  opt.set(lr, 0.5);
  give_grad(a, {1, 2});
  give_grad(b, {2, 4});
  opt.step();
  CHECK(vals(a) == std::vector<float>{0.5f, 0.0f});   // 1 - 0.5 * {1, 2}
  CHECK(vals(b) == std::vector<float>{0.0f, -1.0f});  // 1 - 0.5 * {2, 4}
  opt.set(lr, 0.25, 1);
  give_grad(b, {4, 4});
  opt.step();
  CHECK(vals(b) == std::vector<float>{-1.0f, -2.0f});  // b - 0.25 * 4
}

TEST_CASE("Optimizer.zero_grad zeroes every group's gradients in place") {
  Tensor a = param(1, 1), b = param(1, 1), c = param(1, 1);
  SGD opt(std::vector<ParamGroup>{{{a}, {}}, {{b, c}, {}}}, {});
  give_grad(a, {1, 2});
  give_grad(b, {3, 4});
  const void* buf = b.grad().raw_data();
  opt.zero_grad();
  CHECK(vals(a.grad()) == std::vector<float>{0, 0});
  CHECK(vals(b.grad()) == std::vector<float>{0, 0});
  CHECK(b.grad().raw_data() == buf);
  CHECK_FALSE(c.grad().defined());
}

TEST_CASE("state_dict holds 0-d float64 hyper-parameters and the momentum buffers") {
  Tensor a = param(1, 2), b = param(3, 4);
  SGD opt(std::vector<ParamGroup>{{{a}, {}}, {{b}, {{"lr", 0.2}}}}, {.lr = 0.1, .momentum = 0.9});
  give_grad(a, {0.5, 1});
  opt.step();
  auto sd = opt.state_dict();
  CHECK(sd.size() == 11);  // 2 groups x 5 hyper-parameters + one buffer
  REQUIRE(sd.count("param_groups.1.lr") == 1);
  CHECK(sd["param_groups.1.lr"].shape() == Shape{});
  CHECK(sd["param_groups.1.lr"].dtype() == DType::f64);
  CHECK(sd["param_groups.1.lr"].item<double>() == 0.2);
  CHECK(sd["param_groups.0.nesterov"].item<double>() == 0);
  REQUIRE(sd.count("state.0.0.momentum_buffer") == 1);
  CHECK(vals(sd["state.0.0.momentum_buffer"]) == std::vector<float>{0.5, 1});
  CHECK(sd.count("state.1.0.momentum_buffer") == 0);  // b had no gradient yet
  opt.step();  // the saved buffer is a copy: later steps leave it alone
  CHECK(vals(sd["state.0.0.momentum_buffer"]) == std::vector<float>{0.5, 1});
}

TEST_CASE("a restored model and optimizer continue training bit for bit") {
  Generator gen(42);
  Tensor x = randn({16, 4}, gen);
  Tensor y = randint(0, 3, {16}, gen);
  SGDOptions o{.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-3};
  auto a = nn::mlp({4, 8, 3}, gen);
  SGD opt_a(a->parameters(), o);
  for (int i = 0; i < 3; ++i) train_step(*a, opt_a, x, y);
  auto model_ckpt = snapshot(*a);
  auto opt_ckpt = opt_a.state_dict();
  opt_a.set("lr", 0.05);  // a schedule changes lr: the checkpoint has 0.1
  for (int i = 0; i < 3; ++i) train_step(*a, opt_a, x, y);

  Generator other(7);
  auto b = nn::mlp({4, 8, 3}, other);
  SGD opt_b(b->parameters(), {.lr = 1});
  b->load_state_dict(model_ckpt);
  opt_b.load_state_dict(opt_ckpt);
  CHECK(opt_b.get("lr") == 0.1);
  CHECK(opt_b.get("momentum") == 0.9);
  opt_b.set("lr", 0.05);
  for (int i = 0; i < 3; ++i) train_step(*b, opt_b, x, y);
  auto pa = a->parameters(), pb = b->parameters();
  for (size_t i = 0; i < pa.size(); ++i) CHECK(equal(pa[i].detach(), pb[i].detach()));
}

TEST_CASE("load_state_dict refuses a dict of another shape of optimizer") {
  Tensor a = param(1, 2), b = param(3, 4);
  SGD two(std::vector<ParamGroup>{{{a}, {}}, {{b}, {}}}, {.lr = 0.1, .momentum = 0.9});
  give_grad(a, {1, 1});
  two.step();
  Tensor c = param(1, 2);
  SGD one({c}, {.lr = 0.3});
  CHECK_THROWS_WITH_AS(
      one.load_state_dict(two.state_dict()),
      "Optimizer.load_state_dict: the state dict has 2 parameter groups, the optimizer has 1",
      Error);

  auto sd = one.state_dict();
  sd.erase("param_groups.0.lr");
  CHECK_THROWS_WITH_AS(one.load_state_dict(sd),
                       doctest::Contains("missing keys: [param_groups.0.lr]"), Error);
  sd = one.state_dict();
  sd["foo"] = scalar_tensor(1, DType::f64);
  sd["param_groups.0.betas"] = scalar_tensor(1, DType::f64);
  CHECK_THROWS_WITH_AS(one.load_state_dict(sd),
                       doctest::Contains("unexpected keys: [foo, param_groups.0.betas]"), Error);
  sd = one.state_dict();
  sd["state.0.0.momentum_buffer"] = zeros({3});
  CHECK_THROWS_WITH_AS(one.load_state_dict(sd),
                       doctest::Contains("'state.0.0.momentum_buffer' has shape [3]"), Error);
  sd = one.state_dict();
  sd["state.0.5.momentum_buffer"] = zeros({2});
  CHECK_THROWS_WITH_AS(one.load_state_dict(sd), doctest::Contains("which this optimizer lacks"),
                       Error);
  sd = one.state_dict();
  sd["param_groups.0.lr"] = scalar_tensor(-1, DType::f64);
  CHECK_THROWS_AS(one.load_state_dict(sd), Error);
  CHECK(one.get("lr") == 0.3);  // every failed load left it alone
}
