// tg::batch_norm, tg::layer_norm, tg::group_norm: forward on tiny inputs worked out by hand,
// the running statistics after two training steps, eval with the running statistics,
// gradcheck in float64 of every input, and the errors naming the shapes.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "autograd/autograd.h"
#include "tensor/creation.h"
#include "tensor/ops.h"
#include "test_util.h"

using namespace tg;
using tg::test::error_of;
using tg::test::has;

namespace {

Generator gen(2024);

Tensor leaf(const Shape& s) {
  return uniform(s, -1, 1, gen, DType::f64).requires_grad_();
}

void check_close(const Tensor& t, const std::vector<double>& want, double tol = 1e-12) {
  std::vector<double> got = t.to_vector<double>();
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(tol));
}

const double kEps = 1e-5;

}  // namespace

TEST_CASE("batch_norm (N, C) in training: forward by hand and the running statistics") {
  // Channel 0 holds {1, 3}: mean 2, biased variance 1, unbiased 2. Channel 1 holds {2, 6}:
  // mean 4, biased variance 4, unbiased 8.
  Tensor x = tensor({{1, 2}, {3, 6}}, DType::f64);
  Tensor w = tensor({2, 1}, DType::f64), b = tensor({0.5, -1}, DType::f64);
  Tensor rm = zeros({2}, DType::f64), rv = ones({2}, DType::f64);
  Tensor y = batch_norm(x, rm, rv, w, b, true, 0.1, kEps);
  const double s0 = 1 / std::sqrt(1 + kEps), s1 = 1 / std::sqrt(4 + kEps);
  check_close(y, {0.5 - 2 * s0, -1 - 2 * s1, 0.5 + 2 * s0, -1 + 2 * s1});
  // r = 0.9 r + 0.1 stat: mean {0.2, 0.4}; variance 0.9 + 0.1 {2, 8} = {1.1, 1.7}.
  check_close(rm, {0.2, 0.4});
  check_close(rv, {1.1, 1.7});
  // Second step: channel 0 {0, 4}: mean 2, unbiased variance 8; channel 1 {0, 2}: mean 1,
  // unbiased 2. mean 0.9 {0.2, 0.4} + 0.1 {2, 1} = {0.38, 0.46}; variance 0.9 {1.1, 1.7} +
  // 0.1 {8, 2} = {1.79, 1.73}.
  batch_norm(tensor({{0, 0}, {4, 2}}, DType::f64), rm, rv, w, b, true, 0.1, kEps);
  check_close(rm, {0.38, 0.46});
  check_close(rv, {1.79, 1.73});
  // Eval normalises with the running statistics and leaves them alone.
  Tensor ye = batch_norm(tensor({{1, 2}}, DType::f64), rm, rv, w, b, false, 0.1, kEps);
  check_close(
      ye, {2 * (1 - 0.38) / std::sqrt(1.79 + kEps) + 0.5, (2 - 0.46) / std::sqrt(1.73 + kEps) - 1});
  check_close(rm, {0.38, 0.46});
  check_close(rv, {1.79, 1.73});
  // Another momentum: r = 0.5 r + 0.5 stat.
  Tensor rm2 = zeros({2}, DType::f64), rv2 = ones({2}, DType::f64);
  batch_norm(x, rm2, rv2, Tensor(), Tensor(), true, 0.5, kEps);
  check_close(rm2, {1, 2});
  check_close(rv2, {1.5, 4.5});
}

TEST_CASE("batch_norm (N, C, H, W): statistics over N, H and W per channel") {
  // One image, two channels of 2x2: channel 0 {1, 2, 3, 4}: mean 2.5, biased variance 1.25,
  // unbiased 5/3; channel 1 {0, 0, 0, 4}: mean 1, biased 3, unbiased 4.
  Tensor x = tensor({1, 2, 3, 4, 0, 0, 0, 4}, DType::f64).reshape({1, 2, 2, 2});
  Tensor rm = zeros({2}, DType::f64), rv = ones({2}, DType::f64);
  Tensor y = batch_norm(x, rm, rv, Tensor(), Tensor(), true, 0.1, kEps);
  CHECK(y.shape() == Shape{1, 2, 2, 2});
  const double a = 1 / std::sqrt(1.25 + kEps), c = 1 / std::sqrt(3 + kEps);
  check_close(y, {-1.5 * a, -0.5 * a, 0.5 * a, 1.5 * a, -c, -c, -c, 3 * c});
  check_close(rm, {0.25, 0.1});
  check_close(rv, {0.9 + 0.1 * 5 / 3, 1.3});
  // float32 in, float32 running statistics.
  Tensor rm32 = zeros({2}), rv32 = ones({2});
  Tensor y32 = batch_norm(x.to(DType::f32), rm32, rv32, Tensor(), Tensor(), true);
  CHECK(y32.dtype() == DType::f32);
  CHECK(allclose(y32.to(DType::f64), y, 1e-6, 1e-6));
  CHECK(allclose(rv32.to(DType::f64), rv, 1e-6, 1e-6));
}

TEST_CASE("batch_norm in float32 with a mean far from zero: output and gradients as float64's") {
  // Values 1000 + U(-1, 1): a form that computes x*scale - mean*scale loses about 3 digits to
  // cancellation here; the fused CPU kernel subtracts the mean first, as the composed form does.
  Tensor x64 = (uniform({8, 3, 5, 5}, -1, 1, gen, DType::f64) + 1000.0).requires_grad_();
  Tensor w64 = uniform({3}, 0.5, 2, gen, DType::f64).requires_grad_();
  Tensor b64 = uniform({3}, -1, 1, gen, DType::f64).requires_grad_();
  Tensor gy64 = uniform({8, 3, 5, 5}, -1, 1, gen, DType::f64);
  Tensor x32 = x64.detach().to(DType::f32).requires_grad_();
  Tensor w32 = w64.detach().to(DType::f32).requires_grad_();
  Tensor b32 = b64.detach().to(DType::f32).requires_grad_();
  Tensor y64 = batch_norm(x64, Tensor(), Tensor(), w64, b64, true, 0.1, kEps);
  Tensor y32 = batch_norm(x32, Tensor(), Tensor(), w32, b32, true, 0.1, kEps);
  CHECK(allclose(y32.detach().to(DType::f64), y64.detach(), 1e-4, 1e-4));
  backward(sum(y64 * gy64));
  backward(sum(y32 * gy64.to(DType::f32)));
  CHECK(allclose(x32.grad().to(DType::f64), x64.grad(), 1e-3, 1e-3));
  CHECK(allclose(w32.grad().to(DType::f64), w64.grad(), 1e-3, 1e-3));
  CHECK(allclose(b32.grad().to(DType::f64), b64.grad(), 1e-4, 1e-4));
}

TEST_CASE("batch_norm backward: gradcheck of input, weight and bias, training and eval") {
  for (const Shape& s : {Shape{4, 3}, Shape{2, 3, 2, 2}, Shape{3, 2, 4}}) {
    CAPTURE(s.size());
    const int64_t c = s[1];
    Tensor x = leaf(s), w = leaf({c}), b = leaf({c});
    Tensor rm = zeros({c}, DType::f64), rv = ones({c}, DType::f64);
    auto r = gradcheck(
        [&](const std::vector<Tensor>& in) {
          return batch_norm(in[0], rm, rv, in[1], in[2], true, 0.1, kEps);
        },
        {x, w, b});
    CHECK_MESSAGE(r.ok, r.message);
    // A loss that is not a plain sum (the sum of a normalised channel has zero gradient).
    auto r2 = gradcheck(
        [&](const std::vector<Tensor>& in) {
          Tensor y = batch_norm(in[0], Tensor(), Tensor(), in[1], in[2], true, 0.1, kEps);
          return y * y * y;
        },
        {x, w, b});
    CHECK_MESSAGE(r2.ok, r2.message);
    auto re = gradcheck(
        [&](const std::vector<Tensor>& in) {
          return batch_norm(in[0], rm, rv, in[1], in[2], false, 0.1, kEps);
        },
        {x, w, b});
    CHECK_MESSAGE(re.ok, re.message);
  }
}

TEST_CASE("batch_norm's running statistics stay off the tape") {
  Tensor x = leaf({4, 2});
  Tensor rm = zeros({2}, DType::f64), rv = ones({2}, DType::f64);
  Tensor y = batch_norm(x, rm, rv, Tensor(), Tensor(), true);
  CHECK(y.requires_grad());
  CHECK_FALSE(rm.requires_grad());
  CHECK_FALSE(rv.requires_grad());
  backward(sum(y * y));
  CHECK(x.grad().defined());
}

TEST_CASE("layer_norm: forward by hand and gradcheck") {
  // Row {1, 2, 3}: mean 2, variance 2/3; row {2, 2, 5}: mean 3, variance 2.
  Tensor x = tensor({{1, 2, 3}, {2, 2, 5}}, DType::f64);
  const double a = 1 / std::sqrt(2.0 / 3 + kEps), c = 1 / std::sqrt(2 + kEps);
  check_close(layer_norm(x, {3}), {-a, 0, a, -c, -c, 2 * c});
  Tensor w = tensor({1, 2, 3}, DType::f64), b = tensor({0, 1, 0}, DType::f64);
  check_close(layer_norm(x, {3}, w, b), {-a, 1, 3 * a, -c, 1 - 2 * c, 6 * c});
  // Over two trailing dims the whole (2, 3) is one group.
  Tensor x3 = x.reshape({1, 2, 3});
  const double m = 15.0 / 6, v = (2.25 + 0.25 + 0.25 + 0.25 + 0.25 + 6.25) / 6;
  check_close(layer_norm(x3, {2, 3}),
              {(1 - m) / std::sqrt(v + kEps), (2 - m) / std::sqrt(v + kEps),
               (3 - m) / std::sqrt(v + kEps), (2 - m) / std::sqrt(v + kEps),
               (2 - m) / std::sqrt(v + kEps), (5 - m) / std::sqrt(v + kEps)});
  for (const Shape& ns : {Shape{4}, Shape{3, 4}}) {
    Tensor xi = leaf({2, 3, 4}), wi = leaf(ns), bi = leaf(ns);
    auto r = gradcheck(
        [&](const std::vector<Tensor>& in) {
          Tensor y = layer_norm(in[0], ns, in[1], in[2]);
          return y * y * y;
        },
        {xi, wi, bi});
    CHECK_MESSAGE(r.ok, r.message);
  }
}

TEST_CASE("group_norm: forward by hand, instance norm, gradcheck") {
  // (1, 4, 1, 2), 2 groups: group 0 holds {1, 3, 1, 3}: mean 2, variance 1; group 1 holds
  // {0, 4, 0, 4}: mean 2, variance 4.
  Tensor x = tensor({1, 3, 1, 3, 0, 4, 0, 4}, DType::f64).reshape({1, 4, 1, 2});
  const double a = 1 / std::sqrt(1 + kEps), c = 2 / std::sqrt(4 + kEps);
  Tensor y = group_norm(x, 2);
  CHECK(y.shape() == Shape{1, 4, 1, 2});
  check_close(y, {-a, a, -a, a, -c, c, -c, c});
  Tensor w = tensor({1, 2, 3, 4}, DType::f64), b = tensor({0, 0, 1, 1}, DType::f64);
  check_close(group_norm(x, 2, w, b),
              {-a, a, -2 * a, 2 * a, 1 - 3 * c, 1 + 3 * c, 1 - 4 * c, 1 + 4 * c});
  // Instance norm (groups == channels): channel {5, 5} normalises to 0.
  Tensor xi = tensor({1, 3, 5, 5}, DType::f64).reshape({1, 2, 2});
  check_close(group_norm(xi, 2), {-a, a, 0, 0});
  for (int64_t g : {1, 2, 4}) {
    CAPTURE(g);
    Tensor xg = leaf({2, 4, 2, 2}), wg = leaf({4}), bg = leaf({4});
    auto r = gradcheck(
        [&](const std::vector<Tensor>& in) {
          Tensor yg = group_norm(in[0], g, in[1], in[2]);
          return yg * yg * yg;
        },
        {xg, wg, bg});
    CHECK_MESSAGE(r.ok, r.message);
  }
}

TEST_CASE("normalisation ops: errors name the shapes") {
  Tensor x = zeros({2, 4});
  Tensor c3 = zeros({3});
  std::string m = error_of([&] { batch_norm(x, c3, ones({3}), Tensor(), Tensor(), true); });
  CHECK(has(m,
            "batch_norm: running_mean of shape [3] does not match the input's 4 channels "
            "(input of shape [2, 4])"));
  m = error_of([&] { batch_norm(x, Tensor(), Tensor(), c3, Tensor(), true); });
  CHECK(has(m, "batch_norm: weight of shape [3] does not match the input's 4 channels"));
  m = error_of([&] { batch_norm(zeros({1, 4}), Tensor(), Tensor(), Tensor(), Tensor(), true); });
  CHECK(has(m, "expected more than 1 value per channel when training, got input of shape [1, 4]"));
  m = error_of([&] { batch_norm(zeros({4}), Tensor(), Tensor(), Tensor(), Tensor(), true); });
  CHECK(has(m, "batch_norm: input must be (N, C) or (N, C, *), got [4]"));
  m = error_of([&] { batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), false); });
  CHECK(has(m, "eval mode needs running_mean and running_var"));
  m = error_of([&] { layer_norm(zeros({2, 3, 4}), {3}); });
  CHECK(has(m,
            "layer_norm: normalized_shape [3] does not match the trailing dims of the input "
            "of shape [2, 3, 4]"));
  m = error_of([&] { layer_norm(zeros({2, 4}), {4}, zeros({3})); });
  CHECK(has(m, "layer_norm: weight of shape [3] does not match normalized_shape [4]"));
  m = error_of([&] { group_norm(zeros({2, 6, 2}), 4); });
  CHECK(has(m,
            "group_norm: num_groups=4 does not divide the input's channels: input of shape "
            "[2, 6, 2] has 6"));
  m = error_of([&] { group_norm(zeros({2, 6, 2}), 3, zeros({4})); });
  CHECK(has(m, "group_norm: weight of shape [4] does not match the input's 6 channels"));
}
