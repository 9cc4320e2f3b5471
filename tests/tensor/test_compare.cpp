// allclose, equal and max_abs_diff semantics.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "tensor/creation.h"
#include "tensor/ops.h"

using namespace tg;

TEST_CASE("allclose uses atol + rtol * |b|, never matches NaN, and needs shape and dtype") {
  Tensor a = tensor({1, 100}, DType::f64);
  CHECK(allclose(a, tensor({1 + 1e-9, 100 + 1e-4}, DType::f64)));
  CHECK_FALSE(allclose(a, tensor({1, 100.01}, DType::f64)));
  CHECK(allclose(a, tensor({1, 100.01}, DType::f64), 1e-3));
  CHECK(allclose(a, tensor({1.5, 100}, DType::f64), 0, 0.5));
  CHECK_FALSE(allclose(a, tensor({1.5, 100}, DType::f64), 0, 0.49));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  CHECK_FALSE(allclose(tensor({nan}, DType::f64), tensor({nan}, DType::f64)));
  const double inf = std::numeric_limits<double>::infinity();
  CHECK(allclose(tensor({inf}, DType::f64), tensor({inf}, DType::f64)));
  CHECK_FALSE(allclose(a, a.view({2, 1})));                                       // shapes differ
  CHECK_FALSE(allclose(a, a.to(DType::f32)));                                     // dtypes differ
  CHECK(allclose(arange(6).view({2, 3}).t(), tensor({{0, 3}, {1, 4}, {2, 5}})));  // layout
}

TEST_CASE("equal: same shape, dtype and values") {
  Tensor a = tensor({{1, 2}, {3, 4}});
  CHECK(equal(a, a.clone()));
  CHECK_FALSE(equal(a, tensor({{1, 2}, {3, 5}})));
  CHECK_FALSE(equal(a, a.view({4})));
  CHECK_FALSE(equal(a, a.to(DType::f64)));
  const float nan = std::numeric_limits<float>::quiet_NaN();
  CHECK_FALSE(equal(tensor({nan}), tensor({nan})));
}

TEST_CASE("max_abs_diff broadcasts and reports the largest difference") {
  CHECK(max_abs_diff(tensor({1, 5, -3}), tensor({1, 2, 0})) == 3);
  CHECK(max_abs_diff(tensor({{1, 2}, {3, 4}}), tensor({1, 1})) == 3);
  CHECK(max_abs_diff(tensor({1, 2}), tensor({1, 2}, DType::f64)) == 0);
  CHECK(std::isnan(max_abs_diff(tensor({1, NAN}), tensor({1, 2}))));
  CHECK_THROWS_AS(max_abs_diff(zeros({2, 3}), zeros({4})), Error);
}
