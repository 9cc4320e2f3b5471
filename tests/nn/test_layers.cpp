// Layers: Linear (forward by hand, input checks, PyTorch's default init, gradients), ReLU,
// Flatten and Sequential.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "autograd/autograd.h"
#include "nn/nn.h"
#include "tensor/creation.h"
#include "tensor/ops.h"

using namespace tg;

namespace {

std::vector<double> values(const Tensor& t) {
  NoGrad guard;
  return t.detach().to(DType::f64).to_vector<double>();
}

void check_close(const Tensor& t, const std::vector<double>& want, double eps = 1e-6) {
  auto got = values(t);
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i)
    CHECK_MESSAGE(got[i] == doctest::Approx(want[i]).epsilon(eps), "element ", i);
}

double stddev(const std::vector<double>& v) {
  double mean = 0, var = 0;
  for (double x : v) mean += x;
  mean /= static_cast<double>(v.size());
  for (double x : v) var += (x - mean) * (x - mean);
  return std::sqrt(var / static_cast<double>(v.size()));
}

}  // namespace

TEST_CASE("Linear computes x @ W^T + b (hand-computed)") {
  Generator gen(0);
  nn::Linear lin(3, 2, true, gen);
  {
    NoGrad guard;
    lin.weight.copy_(tensor({{1, 2, 3}, {4, 5, 6}}));
    lin.bias.copy_(tensor({0.5, -1}));
  }
  Tensor x = tensor({{1, 0, -1}, {2, 1, 0}});
  Tensor y = lin(x);
  CHECK(y.shape() == Shape{2, 2});
  // row 0: [1 - 3 + 0.5, 4 - 6 - 1] = [-1.5, -3]; row 1: [2 + 2 + 0.5, 8 + 5 - 1] = [4.5, 12]
  check_close(y, {-1.5, -3, 4.5, 12});
  CHECK(y.requires_grad());
}

TEST_CASE("Linear without bias has no bias parameter and computes x @ W^T") {
  Generator gen(0);
  nn::Linear lin(2, 3, false, gen);
  CHECK_FALSE(lin.bias.defined());
  CHECK(lin.named_parameters().size() == 1);
  {
    NoGrad guard;
    lin.weight.copy_(tensor({{1, 0}, {0, 1}, {1, 1}}));
  }
  check_close(lin(tensor({{2, 3}})), {2, 3, 5});
}

TEST_CASE("Linear names the input shape and in_features when they disagree") {
  Generator gen(0);
  nn::Linear lin(784, 10, true, gen);
  CHECK_THROWS_WITH_AS(lin(zeros({2, 5})),
                       "Linear: input of shape [2, 5] does not match in_features=784", Error);
  CHECK_THROWS_AS(lin(Tensor()), Error);
  CHECK_THROWS_WITH_AS(nn::Linear(0, 3, true, gen), doctest::Contains("in_features=0"), Error);
  CHECK_THROWS_AS(nn::Linear(3, -2, true, gen), Error);
}

TEST_CASE("Linear's default init stays within +-1/sqrt(in) with the std of U(-b, b)") {
  Generator gen(123);
  nn::Linear lin(400, 300, true, gen);
  const double bound = 1.0 / std::sqrt(400.0);  // 0.05
  auto w = values(lin.weight);
  double max_abs = 0, mean = 0;
  for (double v : w) {
    max_abs = std::max(max_abs, std::abs(v));
    mean += v;
  }
  mean /= static_cast<double>(w.size());
  CHECK(max_abs <= bound * (1 + 1e-6));
  CHECK(max_abs > 0.99 * bound);  // the whole range is used
  CHECK(std::abs(mean) < 1e-3);
  // std of U(-b, b) = b / sqrt(3) = 0.028868
  CHECK(stddev(w) == doctest::Approx(bound / std::sqrt(3.0)).epsilon(0.02));
  auto b = values(lin.bias);
  double bmax = 0;
  for (double v : b) bmax = std::max(bmax, std::abs(v));
  CHECK(bmax <= bound * (1 + 1e-6));
  CHECK(bmax > 0.8 * bound);
}

TEST_CASE("Linear draws kaiming_uniform_(a = sqrt(5)) for the weight, then the bias") {
  Generator g1(11), g2(11);
  nn::Linear lin(4, 3, true, g1);
  Tensor w = empty({3, 4}), b = empty({3});
  nn::init::kaiming_uniform_(w, g2, std::sqrt(5.0));
  nn::init::uniform_(b, -0.5, 0.5, g2);  // 1 / sqrt(4)
  CHECK(equal(lin.weight.detach(), w));
  CHECK(equal(lin.bias.detach(), b));
}

TEST_CASE("the same seed gives the same init, another seed a different one") {
  Generator a(7), b(7), c(8);
  auto ma = nn::mlp({6, 5, 4}, a), mb = nn::mlp({6, 5, 4}, b), mc = nn::mlp({6, 5, 4}, c);
  auto pa = ma->parameters(), pb = mb->parameters(), pc = mc->parameters();
  for (size_t i = 0; i < pa.size(); ++i) {
    CHECK(equal(pa[i].detach(), pb[i].detach()));
    CHECK_FALSE(equal(pa[i].detach(), pc[i].detach()));
  }
  manual_seed(3);  // the constructor without a generator uses the default one
  nn::Linear la(5, 4);
  manual_seed(3);
  nn::Linear lb(5, 4);
  CHECK(equal(la.weight.detach(), lb.weight.detach()));
  CHECK(equal(la.bias.detach(), lb.bias.detach()));
}

TEST_CASE("Linear's gradients: d sum(y)/dW = column sums of x, d/db = batch size") {
  Generator gen(0);
  nn::Linear lin(2, 2, true, gen);
  Tensor x = tensor({{1, 2}, {3, -4}, {0.5, 1}});
  backward(sum(lin(x)));
  check_close(lin.weight.grad(), {4.5, -1, 4.5, -1});
  check_close(lin.bias.grad(), {3, 3});
}

TEST_CASE("gradcheck: tg::linear and two stacked Linear layers in float64") {
  Generator gen(5);
  Tensor x = randn({4, 3}, gen, DType::f64).requires_grad_();
  Tensor w = randn({2, 3}, gen, DType::f64).requires_grad_();
  Tensor b = randn({2}, gen, DType::f64).requires_grad_();
  auto r = gradcheck([](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); },
                     {x, w, b});
  CHECK_MESSAGE(r.ok, r.message);
  // A Linear module's parameters, as float64 copies.
  nn::Linear l1(3, 5, true, gen), l2(5, 2, true, gen);
  auto f64 = [](const Tensor& p) { return p.detach().to(DType::f64).requires_grad_(); };
  std::vector<Tensor> in{x, f64(l1.weight), f64(l1.bias), f64(l2.weight), f64(l2.bias)};
  auto r2 = gradcheck(
      [](const std::vector<Tensor>& v) { return linear(linear(v[0], v[1], v[2]), v[3], v[4]); },
      in);
  CHECK_MESSAGE(r2.ok, r2.message);
}

TEST_CASE("ReLU and Flatten") {
  nn::ReLU relu_layer;
  check_close(relu_layer(tensor({-1, 0, 2})), {0, 0, 2});
  nn::Flatten flat;
  Tensor x = arange(24).reshape({2, 3, 4});
  Tensor y = flat(x);
  CHECK(y.shape() == Shape{2, 12});
  CHECK(values(y) == values(arange(24)));
  CHECK_THROWS_WITH_AS(flat(zeros({3})), doctest::Contains("[3]"), Error);
}

TEST_CASE("Sequential runs its layers in order") {
  Generator gen(9);
  auto model = nn::mlp({3, 4, 2}, gen);
  auto& l0 = dynamic_cast<nn::Linear&>((*model)[0]);
  auto& l2 = dynamic_cast<nn::Linear&>((*model)[2]);
  Tensor x = randn({5, 3}, gen);
  NoGrad guard;
  Tensor want = linear(relu(linear(x, l0.weight, l0.bias)), l2.weight, l2.bias);
  CHECK(equal((*model)(x), want));
  nn::Sequential empty_seq;
  CHECK(equal(empty_seq(x), x));  // no layers: the identity
}

TEST_CASE("a forward under NoGrad records nothing") {
  Generator gen(1);
  auto model = nn::mlp({3, 4, 2}, gen);
  size_t before = tape().size();
  {
    NoGrad guard;
    Tensor y = (*model)(randn({2, 3}, gen));
    CHECK_FALSE(y.requires_grad());
  }
  CHECK(tape().size() == before);
}
