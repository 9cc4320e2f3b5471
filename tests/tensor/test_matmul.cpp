// matmul: hand values for every transpose flag, views passed without a copy, n-d inputs and
// the errors. A = [[1,2,3],[4,5,6]], B = [[7,8],[9,10],[11,12]], A @ B = [[58,64],[139,154]].
#include <doctest/doctest.h>

#include <vector>

#include "tensor/creation.h"
#include "tensor/ops.h"
#include "test_util.h"

using namespace tg;
using F = std::vector<float>;

namespace {
const F kC{58, 64, 139, 154};
Tensor A(DType d = DType::f32) {
  return tensor({{1, 2, 3}, {4, 5, 6}}, d);
}
Tensor B(DType d = DType::f32) {
  return tensor({{7, 8}, {9, 10}, {11, 12}}, d);
}
Tensor At() {
  return tensor({{1, 4}, {2, 5}, {3, 6}});
}
Tensor Bt() {
  return tensor({{7, 9, 11}, {8, 10, 12}});
}
}  // namespace

TEST_CASE("matmul 2x3 @ 3x2 against hand values, float and double") {
  Tensor c = ops::matmul(A(), B());
  CHECK(c.shape() == Shape{2, 2});
  CHECK(c.to_vector<float>() == kC);
  Tensor d = ops::matmul(A(DType::f64), B(DType::f64));
  CHECK(d.dtype() == DType::f64);
  CHECK(d.to_vector<double>() == std::vector<double>{58, 64, 139, 154});
}

TEST_CASE("matmul with each transpose flag") {
  CHECK(ops::matmul(At(), B(), true, false).to_vector<float>() == kC);
  CHECK(ops::matmul(A(), Bt(), false, true).to_vector<float>() == kC);
  CHECK(ops::matmul(At(), Bt(), true, true).to_vector<float>() == kC);
  CHECK(ops::matmul(B(), A(), true, true).to_vector<float>() == F{58, 139, 64, 154});  // C^T
}

TEST_CASE("a transposed or sliced view goes to the GEMM without a copy") {
  Tensor at = At(), bt = Bt();
  Tensor a_view = at.t(), b_view = bt.t();  // strides (1, 2) and (1, 3): transposes
  CHECK_FALSE(a_view.is_contiguous());
  size_t before = cpu_allocation_count();
  Tensor c = ops::matmul(a_view, b_view);
  CHECK(cpu_allocation_count() - before == 1);  // the output only
  CHECK(c.to_vector<float>() == kC);
  // Columns 1..3 of a wider matrix: rows 5 apart, passed with ld = 5.
  Tensor wide = tensor({{0, 1, 2, 3, 0}, {0, 4, 5, 6, 0}});
  Tensor a_cols = wide.narrow(1, 1, 3), b = B();
  before = cpu_allocation_count();
  Tensor c2 = ops::matmul(a_cols, b);
  CHECK(cpu_allocation_count() - before == 1);
  CHECK(c2.to_vector<float>() == kC);
  // A layout the GEMM cannot take (every other column) is copied and still right.
  Tensor sparse = tensor({{1, 0, 2, 0, 3}, {4, 0, 5, 0, 6}}).slice(1, 0, 5, 2);
  CHECK(ops::matmul(sparse, B()).to_vector<float>() == kC);
}

TEST_CASE("an n-d left operand is flattened into rows") {
  Tensor a = arange(12).view({2, 2, 3});
  Tensor c = ops::matmul(a, B());
  CHECK(c.shape() == Shape{2, 2, 2});
  // Rows [0,1,2], [3,4,5], [6,7,8], [9,10,11] times B.
  CHECK(c.to_vector<float>() == F{31, 34, 112, 124, 193, 214, 274, 304});
}

TEST_CASE("matmul errors name the op, both shapes and the flags") {
  std::string msg = test::error_of([] { ops::matmul(A(), zeros({4, 5})); });
  CHECK(test::has(msg, "matmul"));
  CHECK(test::has(msg, "[2, 3]"));
  CHECK(test::has(msg, "[4, 5]"));
  CHECK(test::has(msg, "trans_a=false"));
  msg = test::error_of([] { ops::matmul(A(), B(), false, true); });
  CHECK(test::has(msg, "trans_b=true"));
  msg = test::error_of([] { ops::matmul(A(), B(DType::f64)); });
  CHECK(test::has(msg, "float32"));
  CHECK(test::has(msg, "float64"));
  CHECK_THROWS_AS(ops::matmul(zeros({3}), B()), Error);
  CHECK_THROWS_AS(ops::matmul(zeros({2, 2, 3}), B(), true, false), Error);
}

TEST_CASE("matmul with an empty inner dimension gives zeros") {
  Tensor c = ops::matmul(zeros({2, 0}), zeros({0, 3}));
  CHECK(c.shape() == Shape{2, 3});
  CHECK(c.to_vector<float>() == F(6, 0.0f));
}
