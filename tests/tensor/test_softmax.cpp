// Softmax family and the fused cross-entropy, against hand values.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "tensor/creation.h"
#include "tensor/ops.h"
#include "test_util.h"

using namespace tg;

TEST_CASE("softmax rows sum to 1 and match hand values") {
  Generator g(1);
  Tensor x = randn({5, 7}, g, DType::f64);
  Tensor y = ops::softmax(x);
  Tensor sums = ops::reduce(ReduceOp::sum, y, {1}, false);
  for (double s : sums.to_vector<double>()) CHECK(s == doctest::Approx(1).epsilon(1e-12));
  Tensor h = ops::softmax(tensor({{0, std::log(2.0)}}, DType::f64));
  CHECK(h.at<double>({0, 0}) == doctest::Approx(1.0 / 3));
  CHECK(h.at<double>({0, 1}) == doctest::Approx(2.0 / 3));
  Tensor l = ops::log_softmax(tensor({{0, std::log(2.0)}}, DType::f64));
  CHECK(l.at<double>({0, 0}) == doctest::Approx(std::log(1.0 / 3)));
  // Along the last dim of a 3-d, strided input.
  Tensor y3 = ops::softmax(x.view({5, 7, 1}).expand({5, 7, 3}).transpose(1, 2));
  CHECK(y3.shape() == Shape{5, 3, 7});
  CHECK(max_abs_diff(y3.select(1, 2), y) < 1e-15);
}

TEST_CASE("softmax_backward and log_softmax_backward follow their formulas") {
  Tensor y = ops::softmax(tensor({{0, std::log(2.0)}}, DType::f64));  // [1/3, 2/3]
  Tensor gy = tensor({{1, 0}}, DType::f64);
  // gx = y * (gy - sum(gy * y)) = [1/3 * (1 - 1/3), 2/3 * (0 - 1/3)]
  Tensor gx = ops::softmax_backward(y, gy);
  CHECK(gx.at<double>({0, 0}) == doctest::Approx(2.0 / 9));
  CHECK(gx.at<double>({0, 1}) == doctest::Approx(-2.0 / 9));
  // gx = gy - exp(y) * sum(gy), y = log-softmax
  Tensor ly = ops::log_softmax(tensor({{0, std::log(2.0)}}, DType::f64));
  Tensor lgx = ops::log_softmax_backward(ly, gy);
  CHECK(lgx.at<double>({0, 0}) == doctest::Approx(1 - 1.0 / 3));
  CHECK(lgx.at<double>({0, 1}) == doctest::Approx(-2.0 / 3));
  CHECK_THROWS_AS(ops::softmax_backward(y, tensor({{1, 0, 0}}, DType::f64)), Error);
}

TEST_CASE("cross_entropy: mean loss and probabilities against hand values") {
  Tensor logits = tensor({{0, 0}, {0, std::log(3.0)}}, DType::f64);
  Tensor labels = from_vector<int32_t>({0, 1});
  auto [loss, probs] = ops::cross_entropy(logits, labels);
  CHECK(loss.dim() == 0);
  // Row 0: log 2. Row 1: log(1 + 3) - log 3.
  CHECK(loss.item<double>() == doctest::Approx((std::log(2.0) + std::log(4.0 / 3)) / 2));
  CHECK(probs.at<double>({1, 1}) == doctest::Approx(0.75));
  Tensor g = ops::cross_entropy_backward(probs, labels, 0.5);
  std::vector<double> gv = g.to_vector<double>();
  CHECK(gv[0] == doctest::Approx(-0.25));
  CHECK(gv[1] == doctest::Approx(0.25));
  CHECK(gv[2] == doctest::Approx(0.125));
  CHECK(gv[3] == doctest::Approx(-0.125));
}

TEST_CASE("cross_entropy checks its labels") {
  Tensor logits = zeros({2, 3});
  std::string msg = test::error_of([&] { ops::cross_entropy(logits, zeros({2})); });
  CHECK(test::has(msg, "cross_entropy"));
  CHECK(test::has(msg, "int32"));
  CHECK_THROWS_AS(ops::cross_entropy(logits, from_vector<int32_t>({0, 1, 2})), Error);
  CHECK_THROWS_AS(ops::cross_entropy(zeros({6}), from_vector<int32_t>({0})), Error);
  msg = test::error_of([&] { ops::cross_entropy(logits, from_vector<int32_t>({0, 3})); });
  CHECK(test::has(msg, "3"));
}
