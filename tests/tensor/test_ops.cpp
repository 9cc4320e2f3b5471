// Elementwise ops: broadcasting rules and errors, binary/unary/scalar math against hand
// values, relu_backward and axpy_.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "tensor/creation.h"
#include "tensor/ops.h"
#include "test_util.h"

using namespace tg;
using F = std::vector<float>;

TEST_CASE("broadcast_shapes follows NumPy's rules") {
  CHECK(broadcast_shapes("add", {2, 3}, {3}) == Shape{2, 3});
  CHECK(broadcast_shapes("add", {2, 1}, {1, 3}) == Shape{2, 3});
  CHECK(broadcast_shapes("add", {4, 1, 5}, {3, 1}) == Shape{4, 3, 5});
  CHECK(broadcast_shapes("add", {}, {2, 2}) == Shape{2, 2});
  CHECK(broadcast_shapes("add", {0, 1}, {1, 4}) == Shape{0, 4});
  std::string msg = test::error_of([] { broadcast_shapes("add", {2, 3}, {4}); });
  CHECK(msg == "add: shapes [2, 3] and [4] cannot be broadcast");
}

TEST_CASE("binary ops broadcast both inputs against hand values") {
  Tensor a = tensor({{1, 2, 3}, {4, 5, 6}});
  Tensor b = tensor({10, 20, 30});
  CHECK(ops::binary(BinaryOp::add, a, b).to_vector<float>() == F{11, 22, 33, 14, 25, 36});
  CHECK(ops::binary(BinaryOp::sub, b, a).to_vector<float>() == F{9, 18, 27, 6, 15, 24});
  Tensor col = from_vector<float>({1, 2}, {2, 1}), row = tensor({{1, 2, 3}});
  Tensor p = ops::binary(BinaryOp::mul, col, row);
  CHECK(p.shape() == Shape{2, 3});
  CHECK(p.is_contiguous());
  CHECK(p.to_vector<float>() == F{1, 2, 3, 2, 4, 6});
  CHECK(ops::binary(BinaryOp::div, a, scalar_tensor(2)).to_vector<float>() ==
        F{0.5, 1, 1.5, 2, 2.5, 3});
  CHECK(ops::binary(BinaryOp::gt, a, tensor({2, 2, 7})).to_vector<float>() == F{0, 0, 0, 1, 1, 0});
  CHECK(ops::binary(BinaryOp::max, a.t(), tensor({3, 3})).to_vector<float>() ==
        F{3, 4, 3, 5, 3, 6});  // strided input
}

TEST_CASE("binary refuses mixed dtypes and bad shapes, naming both") {
  Tensor a = zeros({2, 3}), d = zeros({2, 3}, DType::f64);
  std::string msg = test::error_of([&] { ops::binary(BinaryOp::add, a, d); });
  CHECK(test::has(msg, "add"));
  CHECK(test::has(msg, "float32"));
  CHECK(test::has(msg, "float64"));
  msg = test::error_of([&] { ops::binary(BinaryOp::mul, a, zeros({4})); });
  CHECK(msg == "mul: shapes [2, 3] and [4] cannot be broadcast");
  CHECK(test::has(test::error_of([&] {
                    ops::binary(BinaryOp::add, zeros({2}, DType::i32), zeros({2}, DType::i32));
                  }),
                  "floating"));
}

TEST_CASE("unary and scalar ops") {
  Tensor x = tensor({-1, 0, 2}, DType::f64);
  CHECK(ops::unary(UnaryOp::relu, x).to_vector<double>() == std::vector<double>{0, 0, 2});
  CHECK(ops::unary(UnaryOp::neg, x).to_vector<double>() == std::vector<double>{1, 0, -2});
  std::vector<double> e = ops::unary(UnaryOp::exp, x).to_vector<double>();
  CHECK(e[0] == doctest::Approx(std::exp(-1.0)));
  CHECK(e[2] == doctest::Approx(std::exp(2.0)));
  CHECK(ops::scalar(ScalarOp::mul, x, 3).to_vector<double>() == std::vector<double>{-3, 0, 6});
  CHECK(ops::scalar(ScalarOp::rsub, x, 1).to_vector<double>() == std::vector<double>{2, 1, -1});
  CHECK(ops::scalar(ScalarOp::pow, x, 2).to_vector<double>() == std::vector<double>{1, 0, 4});
  Tensor t = arange(6).view({2, 3}).t();  // strided input, contiguous output
  Tensor s = ops::scalar(ScalarOp::add, t, 1);
  CHECK(s.is_contiguous());
  CHECK(s.to_vector<float>() == F{1, 4, 2, 5, 3, 6});
}

TEST_CASE("relu_backward passes gy where x > 0 only") {
  Tensor x = tensor({-1, 0, 2, 3}), gy = tensor({5, 6, 7, 8});
  CHECK(ops::relu_backward(x, gy).to_vector<float>() == F{0, 0, 7, 8});
  CHECK(test::has(test::error_of([&] { ops::relu_backward(x, zeros({3})); }), "relu_backward"));
}

TEST_CASE("axpy_ accumulates into a contiguous y") {
  Tensor y = tensor({{1, 2}, {3, 4}});
  ops::axpy_(y, 2, tensor({{1, 1}, {0, -1}}));
  CHECK(y.to_vector<float>() == F{3, 4, 3, 2});
  ops::axpy_(y, 1, tensor({{1, 2}, {3, 4}}).t());  // x may be strided
  CHECK(y.to_vector<float>() == F{4, 7, 5, 6});
  Tensor yt = y.t();
  CHECK(test::has(test::error_of([&] { ops::axpy_(yt, 1, y); }), "contiguous"));
  Tensor yd = zeros({2, 2}, DType::f64);
  CHECK(test::has(test::error_of([&] { ops::axpy_(yd, 1, y); }), "axpy_"));
}
