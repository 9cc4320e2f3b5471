// The CNN ops: pooling, sigmoid, tanh, leaky_relu, dropout, cat and stack. Forward against
// hand-computed values, backward by gradcheck in float64, and the errors for bad input.
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/autograd.h"
#include "grad_test_util.h"
#include "tensor/creation.h"
#include "tensor/ops.h"
#include "test_util.h"

using namespace tg;
using tg::test::check_grad;
using tg::test::error_of;
using tg::test::has;
using tg::test::vals;

namespace {

Generator gen(4321);

Tensor leaf(const Shape& s, double lo = -1, double hi = 1) {
  return uniform(s, lo, hi, gen, DType::f64).requires_grad_();
}

// Distinct values, so no max-pool window has a tie within finite-difference reach.
Tensor distinct_leaf(const Shape& s) {
  Tensor p = randperm(shape_numel(s), gen).to(DType::f64);
  NoGrad ng;
  return (p * 0.1).reshape(s).contiguous().requires_grad_();
}

}  // namespace

TEST_CASE("max_pool2d: forward by hand, indices, float32 and float64") {
  Tensor x = arange(16).reshape({1, 1, 4, 4});
  CHECK(vals(max_pool2d(x, 2)) == std::vector<float>{5, 7, 13, 15});
  CHECK(max_pool2d(x, 2).shape() == Shape{1, 1, 2, 2});
  auto r = max_pool2d_with_indices(x.to(DType::f64), 2, 1);
  CHECK(r.first.shape() == Shape{1, 1, 3, 3});
  CHECK(r.first.dtype() == DType::f64);
  CHECK(r.second.to_vector<int32_t>() == std::vector<int32_t>{5, 6, 7, 9, 10, 11, 13, 14, 15});
  // (C, H, W) input, padding, ceil mode
  Tensor x3 = arange(25).reshape({1, 5, 5});
  CHECK(max_pool2d(x3, 2, 2, 0, 1, true).shape() == Shape{1, 3, 3});
  CHECK(vals(max_pool2d(x3, 3, 2, 1)) == std::vector<float>{6, 8, 9, 16, 18, 19, 21, 23, 24});
}

TEST_CASE("max_pool2d: the gradient flows to the first maximum") {
  Tensor x = zeros({1, 1, 2, 2}).requires_grad_();
  backward(sum(max_pool2d(x, 2)));
  CHECK(vals(x.grad()) == std::vector<float>{1, 0, 0, 0});
}

TEST_CASE("max_pool2d: gradcheck (padding, stride, dilation, ceil mode, a strided input)") {
  check_grad([](auto& in) { return max_pool2d(in[0], 2); }, {distinct_leaf({2, 3, 4, 4})});
  check_grad([](auto& in) { return max_pool2d(in[0], 3, 2, 1); }, {distinct_leaf({1, 2, 5, 6})});
  check_grad(
      [](auto& in) {
        return max_pool2d(in[0], {2, 3}, {1, 2}, {1, 1}, {2, 1}, true);
      },
      {distinct_leaf({2, 1, 6, 7})});
  check_grad([](auto& in) { return max_pool2d(transpose(in[0], 2, 3), 2, 1); },
             {distinct_leaf({1, 2, 4, 3})});
}

TEST_CASE("avg_pool2d: forward by hand and gradcheck") {
  Tensor x = arange(1, 10, 1).reshape({1, 1, 3, 3});
  CHECK(vals(avg_pool2d(x, 2, 2, 1)) == std::vector<float>{0.25f, 1.25f, 2.75f, 7});
  CHECK(vals(avg_pool2d(x, 2, 2, 1, false, false)) == std::vector<float>{1, 2.5f, 5.5f, 7});
  CHECK(vals(avg_pool2d(x, 2, 1)) == std::vector<float>{3, 4, 6, 7});
  check_grad([](auto& in) { return avg_pool2d(in[0], 2); }, {leaf({2, 2, 4, 4})});
  check_grad([](auto& in) { return avg_pool2d(in[0], 3, 2, 1); }, {leaf({1, 2, 5, 5})});
  check_grad([](auto& in) { return avg_pool2d(in[0], 3, 2, 1, true, false); },
             {leaf({2, 1, 6, 5})});
  check_grad(
      [](auto& in) {
        return avg_pool2d(in[0], {2, 3}, {2, 1}, {1, 0}, true, true);
      },
      {leaf({3, 5, 4})});
}

TEST_CASE("adaptive_avg_pool2d: forward by hand and gradcheck") {
  Tensor x = arange(1, 6, 1).reshape({1, 1, 1, 5});
  CHECK(vals(adaptive_avg_pool2d(x, {1, 3})) == std::vector<float>{1.5f, 3, 4.5f});
  Tensor g = tensor({{1, 2}, {3, 4}}).reshape({1, 1, 2, 2});
  CHECK(vals(adaptive_avg_pool2d(g, 1)) == std::vector<float>{2.5f});
  CHECK(adaptive_avg_pool2d(zeros({2, 3, 7, 7}), {3, 2}).shape() == Shape{2, 3, 3, 2});
  check_grad([](auto& in) { return adaptive_avg_pool2d(in[0], {3, 2}); }, {leaf({2, 2, 5, 7})});
  check_grad([](auto& in) { return adaptive_avg_pool2d(in[0], 1); }, {leaf({2, 3, 3, 3})});
  check_grad([](auto& in) { return adaptive_avg_pool2d(in[0], {4, 6}); }, {leaf({1, 3, 3})});
}

TEST_CASE("pooling: errors name the op, the shape and the arguments") {
  std::string m = error_of([] { max_pool2d(zeros({4, 4}), 2); });
  CHECK(has(m, "max_pool2d"));
  CHECK(has(m, "[4, 4]"));
  m = error_of([] { max_pool2d(zeros({1, 1, 2, 2}), 3); });
  CHECK(has(m, "[1, 1, 2, 2]"));
  CHECK(has(m, "too small"));
  m = error_of([] { avg_pool2d(zeros({1, 1, 4, 4}), 2, 2, 2); });
  CHECK(has(m, "avg_pool2d"));
  CHECK(has(m, "padding (2, 2)"));
  CHECK(has(error_of([] { max_pool2d(zeros({1, 1, 4, 4}), 2, 0); }), "stride (0, 0)"));
  CHECK(has(error_of([] { max_pool2d(zeros({1, 1, 4, 4}), 2, 2, 0, 0); }), "dilation"));
  CHECK(has(error_of([] { max_pool2d(zeros({1, 1, 4, 4}, DType::i32), 2); }), "int32"));
  m = error_of([] { adaptive_avg_pool2d(zeros({1, 1, 4, 4}), {0, 2}); });
  CHECK(has(m, "adaptive_avg_pool2d"));
  CHECK(has(m, "output_size (0, 2)"));
  CHECK(has(error_of([] { adaptive_avg_pool2d(zeros({2, 1, 0, 4}), 1); }), "[2, 1, 0, 4]"));
}

TEST_CASE("sigmoid, tanh, leaky_relu: forward by hand and gradcheck") {
  Tensor x = tensor({-2.0f, 0.0f, 3.0f});
  auto s = vals(sigmoid(x));
  CHECK(s[0] == doctest::Approx(1 / (1 + std::exp(2.0))));
  CHECK(s[1] == 0.5f);
  auto t = vals(tg::tanh(x));
  CHECK(t[2] == doctest::Approx(std::tanh(3.0)));
  CHECK(vals(leaky_relu(x, 0.1)) == std::vector<float>{-0.2f, 0, 3});
  CHECK(vals(leaky_relu(x)) == std::vector<float>{-0.02f, 0, 3});
  check_grad([](auto& in) { return sigmoid(in[0]); }, {leaf({3, 4}, -3, 3)});
  check_grad([](auto& in) { return tg::tanh(in[0]); }, {leaf({3, 4}, -2, 2)});
  check_grad([](auto& in) { return leaky_relu(in[0], 0.2); }, {leaf({3, 4})});
  check_grad([](auto& in) { return leaky_relu(in[0], -0.5); }, {leaf({5})});
  // The course's GeneralRelu: leaky, shifted, capped.
  check_grad([](auto& in) { return leaky_relu(in[0], 0.1) - 0.4; }, {leaf({6})});
}

TEST_CASE("dropout: inverted scaling, identity in eval, reproducible, gradient through the mask") {
  Tensor x = ones({1000}, DType::f64).requires_grad_();
  Generator g1(7), g2(7);
  Tensor y = dropout(x, 0.25, true, g1);
  auto v = y.to_vector<double>();
  int64_t kept = 0;
  for (double e : v) {
    CHECK((e == 0 || std::abs(e - 1 / 0.75) < 1e-12));
    kept += e != 0;
  }
  CHECK(kept > 700);
  CHECK(kept < 800);
  {
    NoGrad ng;
    CHECK(equal(dropout(x, 0.25, true, g2), y.detach()));
  }
  backward(sum(y));
  CHECK(equal(x.grad(), y.detach()));  // x = 1: the gradient is the scaled mask
  Tensor e = dropout(x, 0.9, false, g1);
  CHECK(e.impl() == x.impl());
  CHECK(equal(dropout(x, 0, true, g1).detach(), x.detach()));
  // In float64 the mask is fixed by its generator: gradcheck with a fresh one each call.
  check_grad(
      [](auto& in) {
        Generator g(3);
        return dropout(in[0], 0.5, true, g);
      },
      {leaf({4, 5})});
  std::string m = error_of([&] { dropout(x, 1.0, true, g1); });
  CHECK(has(m, "dropout"));
  CHECK(has(m, "[0, 1)"));
  CHECK(has(error_of([&] { dropout(x, -0.1, false, g1); }), "[1000]"));
}

TEST_CASE("cat and stack: forward by hand, gradcheck, errors") {
  Tensor a = tensor({{1, 2}, {3, 4}}), b = tensor({{5, 6}});
  CHECK(vals(cat({a, b})) == std::vector<float>{1, 2, 3, 4, 5, 6});
  CHECK(cat({a, b}).shape() == Shape{3, 2});
  Tensor c = tensor({7, 8}).reshape({2, 1});
  CHECK(vals(cat({a, c}, 1)) == std::vector<float>{1, 2, 7, 3, 4, 8});
  CHECK(vals(cat({a, c}, -1)) == std::vector<float>{1, 2, 7, 3, 4, 8});
  Tensor d = tensor({{10, 20}, {30, 40}});
  CHECK(stack({a, d}).shape() == Shape{2, 2, 2});
  CHECK(vals(stack({a, d}, 1)) == std::vector<float>{1, 2, 10, 20, 3, 4, 30, 40});
  CHECK(vals(stack({a, d}, -1)) == std::vector<float>{1, 10, 2, 20, 3, 30, 4, 40});
  CHECK(stack({tensor({1, 2}), tensor({3, 4})}, 2 - 1).shape() == Shape{2, 2});

  check_grad(
      [](auto& in) {
        return cat({in[0], in[1], in[2]}, 1);
      },
      {leaf({2, 3, 2}), leaf({2, 1, 2}), leaf({2, 4, 2})});
  check_grad([](auto& in) { return cat({in[0], in[1]}, 0); }, {leaf({2, 3}), leaf({1, 3})});
  check_grad(
      [](auto& in) {
        return stack({in[0], in[1], in[0]}, 1);
      },
      {leaf({2, 3}), leaf({2, 3})});
  check_grad(
      [](auto& in) {
        return mul(stack({in[0], in[1]}, 2), stack({in[1], in[0]}, 0));
      },
      {leaf({2, 2}), leaf({2, 2})});
  // Only one input needs a gradient.
  Tensor w = leaf({2, 2});
  backward(sum(cat({w, zeros({1, 2}, DType::f64)})));
  CHECK(w.grad().to_vector<double>() == std::vector<double>{1, 1, 1, 1});

  std::string m = error_of([&] { cat({a, c}, 0); });
  CHECK(has(m, "cat"));
  CHECK(has(m, "[2, 2], [2, 1]"));
  CHECK(has(error_of([&] { stack({a, b}); }), "[2, 2], [1, 2]"));
  CHECK(has(error_of([&] { cat({a, b}, 2); }), "dim 2 is out of range"));
  CHECK(has(error_of([&] { cat({}, 0); }), "at least one"));
  CHECK(has(error_of([&] { cat({a, a.to(DType::f64)}); }), "float64"));
}
