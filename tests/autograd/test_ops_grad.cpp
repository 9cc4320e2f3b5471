// Every differentiable op: forward against hand-computed values, backward by gradcheck in
// float64 over the full Jacobian (broadcasting cases included).
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/autograd.h"
#include "grad_test_util.h"
#include "tensor/creation.h"
#include "tensor/ops.h"

using namespace tg;
using tg::test::check_grad;
using tg::test::vals;

namespace {

Generator gen(1234);

// A float64 leaf with values in [lo, hi), away from the kinks of relu/sqrt/log when asked.
Tensor leaf(const Shape& s, double lo = -1, double hi = 1) {
  return uniform(s, lo, hi, gen, DType::f64).requires_grad_();
}

}  // namespace

TEST_CASE("add sub mul div: forward by hand") {
  Tensor a = tensor({{1, 2}, {3, 4}});
  Tensor b = tensor({10, 20});
  CHECK(vals(a + b) == std::vector<float>{11, 22, 13, 24});
  CHECK(vals(a - b) == std::vector<float>{-9, -18, -7, -16});
  CHECK(vals(a * b) == std::vector<float>{10, 40, 30, 80});
  CHECK(vals(b / a) == std::vector<float>{10, 10, 10.f / 3, 5});
  CHECK(vals(2.0 - a) == std::vector<float>{1, 0, -1, -2});
  CHECK(vals(a * 3.0) == std::vector<float>{3, 6, 9, 12});
  CHECK(vals(-a) == std::vector<float>{-1, -2, -3, -4});
  CHECK(vals(8.0 / a) == std::vector<float>{8, 4, 8.f / 3, 2});
}

TEST_CASE("add and sub: gradcheck, with broadcasting") {
  check_grad([](auto& in) { return add(in[0], in[1]); }, {leaf({3, 4}), leaf({3, 4})});
  check_grad([](auto& in) { return add(in[0], in[1]); }, {leaf({3, 4}), leaf({4})});
  check_grad([](auto& in) { return sub(in[0], in[1]); }, {leaf({3, 1}), leaf({1, 4})});
  check_grad([](auto& in) { return sub(in[0], in[1]); }, {leaf({2, 3, 4}), leaf({3, 1})});
}

TEST_CASE("mul and div: gradcheck, with broadcasting") {
  check_grad([](auto& in) { return mul(in[0], in[1]); }, {leaf({3, 4}), leaf({3, 4})});
  check_grad([](auto& in) { return mul(in[0], in[1]); }, {leaf({3, 4}), leaf({1})});
  check_grad([](auto& in) { return div(in[0], in[1]); }, {leaf({3, 4}), leaf({4}, 0.5, 2)});
  check_grad([](auto& in) { return div(in[0], in[1]); }, {leaf({2, 1}), leaf({2, 3}, 0.5, 2)});
}

TEST_CASE("scalar forms: gradcheck") {
  check_grad([](auto& in) { return in[0] * 2.5 + 1.0; }, {leaf({5})});
  check_grad([](auto& in) { return 3.0 - in[0]; }, {leaf({5})});
  check_grad([](auto& in) { return 2.0 / in[0]; }, {leaf({5}, 0.5, 2)});
  check_grad([](auto& in) { return in[0] / 4.0; }, {leaf({5})});
  check_grad([](auto& in) { return pow(in[0], 3.0); }, {leaf({5}, 0.5, 2)});
}

TEST_CASE("unary ops: forward by hand") {
  Tensor x = tensor({-1, 0.5, 2});
  auto e = vals(exp(x));
  CHECK(e[0] == doctest::Approx(std::exp(-1.0)));
  CHECK(e[2] == doctest::Approx(std::exp(2.0)));
  CHECK(vals(relu(x)) == std::vector<float>{0, 0.5, 2});
  auto l = vals(log(tensor({1, 2.718281828, 4})));
  CHECK(l[0] == 0);
  CHECK(l[1] == doctest::Approx(1.0));
  CHECK(vals(sqrt(tensor({4, 9}))) == std::vector<float>{2, 3});
  CHECK(vals(pow(tensor({2, 3}), 2.0)) == std::vector<float>{4, 9});
}

TEST_CASE("neg exp log sqrt relu: gradcheck") {
  check_grad([](auto& in) { return neg(in[0]); }, {leaf({2, 3})});
  check_grad([](auto& in) { return exp(in[0]); }, {leaf({2, 3})});
  check_grad([](auto& in) { return log(in[0]); }, {leaf({2, 3}, 0.5, 3)});
  check_grad([](auto& in) { return sqrt(in[0]); }, {leaf({2, 3}, 0.5, 3)});
  // relu: inputs kept away from the kink at 0.
  Tensor x = tensor({-1.5, -0.3, 0.2, 0.7, 1.1, -2}, DType::f64).requires_grad_();
  check_grad([](auto& in) { return relu(in[0]); }, {x});
}

TEST_CASE("relu backward at exactly 0 gives 0 (PyTorch's convention)") {
  Tensor x = tensor({-1, 0, 1}).requires_grad_();
  backward(sum(relu(x)));
  CHECK(vals(x.grad()) == std::vector<float>{0, 0, 1});
}

TEST_CASE("sum and mean: forward by hand") {
  Tensor a = tensor({{1, 2, 3}, {4, 5, 6}});
  CHECK(sum(a).item<float>() == 21);
  CHECK(mean(a).item<float>() == 3.5f);
  CHECK(vals(sum(a, {0})) == std::vector<float>{5, 7, 9});
  CHECK(vals(sum(a, {1})) == std::vector<float>{6, 15});
  CHECK(vals(mean(a, {-1})) == std::vector<float>{2, 5});
  CHECK(sum(a, {1}, true).shape() == Shape{2, 1});
  CHECK(sum(a).shape() == Shape{});
}

TEST_CASE("sum and mean: gradcheck, whole and along axes") {
  check_grad([](auto& in) { return sum(in[0]); }, {leaf({3, 4})});
  check_grad([](auto& in) { return mean(in[0]); }, {leaf({3, 4})});
  check_grad([](auto& in) { return sum(in[0], {0}); }, {leaf({3, 4})});
  check_grad([](auto& in) { return mean(in[0], {1}, true); }, {leaf({3, 4})});
  check_grad([](auto& in) { return sum(in[0], {0, 2}); }, {leaf({2, 3, 4})});
  check_grad([](auto& in) { return mean(in[0], {-1, 0}); }, {leaf({2, 3, 4})});
}

TEST_CASE("reshape, view, flatten, transpose: forward and gradcheck") {
  Tensor a = tensor({{1, 2, 3}, {4, 5, 6}});
  CHECK(vals(t(a).contiguous()) == std::vector<float>{1, 4, 2, 5, 3, 6});
  CHECK(reshape(a, {3, 2}).shape() == Shape{3, 2});
  CHECK(flatten(reshape(a, {1, 2, 3}), 1).shape() == Shape{1, 6});
  check_grad([](auto& in) { return reshape(in[0], {6, 2}); }, {leaf({3, 4})});
  check_grad([](auto& in) { return view(in[0], {-1}); }, {leaf({3, 4})});
  check_grad([](auto& in) { return flatten(in[0], 1); }, {leaf({2, 3, 2})});
  check_grad([](auto& in) { return transpose(in[0], 0, 2); }, {leaf({2, 3, 4})});
  // A transposed view feeding a matmul: strides must be honoured in both directions.
  check_grad([](auto& in) { return matmul(t(in[0]), in[1]); }, {leaf({3, 2}), leaf({3, 4})});
}

TEST_CASE("matmul: forward by hand and gradcheck") {
  Tensor a = tensor({{1, 2, 3}, {4, 5, 6}});
  Tensor b = tensor({{1, 0}, {0, 1}, {1, 1}});
  CHECK(vals(matmul(a, b)) == std::vector<float>{4, 5, 10, 11});
  check_grad([](auto& in) { return matmul(in[0], in[1]); }, {leaf({3, 4}), leaf({4, 5})});
  check_grad([](auto& in) { return matmul(in[0], in[1]); }, {leaf({1, 7}), leaf({7, 1})});
  check_grad([](auto& in) { return matmul(in[0], in[1]); }, {leaf({2, 3, 4}), leaf({4, 2})});
}

TEST_CASE("linear: forward by hand and gradcheck with and without bias") {
  Tensor x = tensor({{1, 2}});
  Tensor w = tensor({{1, 1}, {2, -1}, {0, 3}});
  Tensor b = tensor({0.5, 0, -1});
  CHECK(vals(linear(x, w, b)) == std::vector<float>{3.5, 0, 5});
  check_grad([](auto& in) { return linear(in[0], in[1], in[2]); },
             {leaf({4, 3}), leaf({5, 3}), leaf({5})});
  check_grad([](auto& in) { return linear(in[0], in[1], Tensor()); }, {leaf({4, 3}), leaf({2, 3})});
}

TEST_CASE("softmax and log_softmax: forward by hand and gradcheck") {
  Tensor x = tensor({{0, std::log(3.0)}});
  auto s = vals(softmax(x));
  CHECK(s[0] == doctest::Approx(0.25));
  CHECK(s[1] == doctest::Approx(0.75));
  auto l = vals(log_softmax(x));
  CHECK(l[0] == doctest::Approx(std::log(0.25)));
  check_grad([](auto& in) { return softmax(in[0]); }, {leaf({3, 4})});
  check_grad([](auto& in) { return log_softmax(in[0]); }, {leaf({3, 4})});
}

TEST_CASE("cross_entropy: forward by hand and gradcheck") {
  // Row 0: logits (0, ln 3) label 1 -> -ln(3/4); row 1: (0, 0) label 0 -> ln 2.
  Tensor logits = tensor({{0, std::log(3.0)}, {0, 0}});
  Tensor y = from_vector<int32_t>({1, 0});
  double expect = (-std::log(0.75) + std::log(2.0)) / 2;
  CHECK(cross_entropy(logits, y).item<double>() == doctest::Approx(expect));
  Tensor labels = from_vector<int32_t>({2, 0, 1, 2});
  check_grad([labels](auto& in) { return cross_entropy(in[0], labels); }, {leaf({4, 3})});
  check_grad([labels](auto& in) { return nll_loss(log_softmax(in[0]), labels); }, {leaf({4, 3})});
}

TEST_CASE("label_smoothing_cross_entropy: forward by hand and gradcheck") {
  // The smoothed target of row i is (1 - eps) * onehot(y_i) + eps / c; the loss is the mean
  // over rows of sum_c target[c] * -logp[i, c] (PyTorch's definition, written out here).
  Tensor logits = tensor({{0, std::log(3.0), 1}, {0, 0, -2}});
  Tensor y = from_vector<int32_t>({1, 0});
  const double eps = 0.1, c = 3;
  const double rows[2][3] = {{0, std::log(3.0), 1}, {0, 0, -2}};
  const int labels_of[2] = {1, 0};
  double expect = 0;
  for (int i = 0; i < 2; ++i) {
    double z = 0;
    for (double v : rows[i]) z += std::exp(v);
    for (int j = 0; j < 3; ++j) {
      const double target = (j == labels_of[i] ? 1 - eps : 0) + eps / c;
      expect += target * -(rows[i][j] - std::log(z));
    }
  }
  expect /= 2;
  CHECK(label_smoothing_cross_entropy(logits, y, eps).item<double>() ==
        doctest::Approx(expect).epsilon(1e-6));
  // eps = 0 is cross_entropy; eps = 1 is the mean of -log_softmax (the label does not count).
  CHECK(label_smoothing_cross_entropy(logits, y, 0).item<double>() ==
        doctest::Approx(cross_entropy(logits, y).item<double>()));
  Tensor y2 = from_vector<int32_t>({0, 2});
  CHECK(label_smoothing_cross_entropy(logits, y, 1).item<double>() ==
        doctest::Approx(label_smoothing_cross_entropy(logits, y2, 1).item<double>()));
  CHECK(label_smoothing_cross_entropy(logits, y, 1).item<double>() !=
        doctest::Approx(label_smoothing_cross_entropy(logits, y, 0).item<double>()));
  CHECK_THROWS_AS(label_smoothing_cross_entropy(logits, y, -0.1), Error);
  CHECK_THROWS_AS(label_smoothing_cross_entropy(logits, y, 1.5), Error);
  CHECK_THROWS_AS(label_smoothing_cross_entropy(logits, y, std::nan("")), Error);
  Tensor labels = from_vector<int32_t>({2, 0, 1, 2});
  for (double e : {0.0, 0.1, 0.5, 1.0})
    check_grad([labels, e](auto& in) { return label_smoothing_cross_entropy(in[0], labels, e); },
               {leaf({4, 3})});
}

TEST_CASE("cross_entropy equals nll_loss of log_softmax") {
  Tensor x = randn({8, 5}, gen);
  Tensor y = randint(0, 5, {8}, gen);
  CHECK(cross_entropy(x, y).item<float>() ==
        doctest::Approx(nll_loss(log_softmax(x), y).item<float>()));
}

TEST_CASE("mse: forward by hand and gradcheck") {
  Tensor p = tensor({1, 2, 3}), q = tensor({1, 0, 0});
  CHECK(mse(p, q).item<float>() == doctest::Approx((0 + 4 + 9) / 3.0));
  check_grad([](auto& in) { return mse(in[0], in[1]); }, {leaf({3, 2}), leaf({3, 2})});
}

TEST_CASE("a composite: two-layer MLP loss gradcheck") {
  Tensor labels = from_vector<int32_t>({0, 2, 1});
  check_grad(
      [labels](auto& in) {
        Tensor h = relu(linear(in[0], in[1], in[2]));
        return cross_entropy(linear(h, in[3], in[4]), labels);
      },
      {leaf({3, 4}), leaf({5, 4}), leaf({5}), leaf({3, 5}), leaf({3})});
}

TEST_CASE("gradcheck itself catches a wrong gradient") {
  // exp(x) with a deliberately broken backward: gradcheck must fail.
  auto bad = [](const std::vector<Tensor>& in) {
    Tensor out = ops::unary(UnaryOp::exp, in[0]);
    if (!needs_grad({&in[0]})) return out;
    return tape().record("bad_exp", out, {in[0]}, [](const Tensor& gy) {
      return std::vector<Tensor>{ops::scalar(ScalarOp::mul, gy, 2.0)};
    });
  };
  GradcheckResult r = gradcheck(bad, {leaf({3})});
  CHECK_FALSE(r.ok);
  CHECK(r.message.find("input 0") != std::string::npos);
}
