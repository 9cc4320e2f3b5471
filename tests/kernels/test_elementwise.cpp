// Elementwise kernels: every op on small hand-computed arrays, broadcasting through stride-0
// views, transposed and reversed inputs, the parallel path against a serial reference, and
// fill / copy / cast.
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <vector>

#include "base/error.h"
#include "kernels/cpu/common.h"
#include "kernels/elementwise.h"

using namespace tg::kernels;
using namespace tg::kernels::cpu;

namespace {

Strided view(std::initializer_list<int64_t> shape, std::initializer_list<int64_t> strides) {
  Strided s;
  s.ndim = static_cast<int>(shape.size());
  int d = 0;
  for (int64_t v : shape) s.shape[d++] = v;
  d = 0;
  for (int64_t v : strides) s.strides[d++] = v;
  return s;
}
Strided flat(int64_t n) {
  return view({n}, {1});
}

// The elements of a view in row-major order of its shape, by plain index arithmetic.
template <typename T>
std::vector<T> gather_view(const T* base, const Strided& s) {
  std::vector<T> out;
  int64_t idx[kMaxDims] = {};
  for (int64_t e = 0; e < s.numel(); ++e) {
    int64_t off = 0;
    for (int d = 0; d < s.ndim; ++d) off += idx[d] * s.strides[d];
    out.push_back(base[off]);
    for (int d = s.ndim - 1; d >= 0 && ++idx[d] == s.shape[d]; --d) idx[d] = 0;
  }
  return out;
}

template <typename T>
std::vector<T> run_unary(UnaryOp op, std::vector<T> x) {
  std::vector<T> y(x.size(), T(-777));
  unary(op, x.data(), flat(static_cast<int64_t>(x.size())), y.data());
  return y;
}
template <typename T>
std::vector<T> run_scalar(ScalarOp op, std::vector<T> x, T s) {
  std::vector<T> y(x.size(), T(-777));
  scalar_op(op, x.data(), flat(static_cast<int64_t>(x.size())), s, y.data());
  return y;
}
template <typename T>
std::vector<T> run_binary(BinaryOp op, std::vector<T> a, std::vector<T> b) {
  std::vector<T> y(a.size(), T(-777));
  const Strided s = flat(static_cast<int64_t>(a.size()));
  binary(op, a.data(), s, b.data(), s, y.data());
  return y;
}

template <typename T>
void check_close(const std::vector<T>& got, std::vector<double> want, double eps = 1e-6) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    CAPTURE(i);
    CHECK(double(got[i]) == doctest::Approx(want[i]).epsilon(eps));
  }
}

}  // namespace

TEST_CASE_TEMPLATE("unary neg, abs, square, reciprocal on hand values", T, float, double) {
  check_close(run_unary<T>(UnaryOp::neg, {-2, -0.5, 0, 1, 4}), {2, 0.5, 0, -1, -4});
  check_close(run_unary<T>(UnaryOp::abs, {-2, -0.5, 0, 1, 4}), {2, 0.5, 0, 1, 4});
  check_close(run_unary<T>(UnaryOp::square, {-2, -0.5, 0, 1, 4}), {4, 0.25, 0, 1, 16});
  check_close(run_unary<T>(UnaryOp::reciprocal, {-2, -0.5, 0.25, 1, 4}), {-0.5, -2, 4, 1, 0.25});
}

TEST_CASE_TEMPLATE("unary exp, log, sqrt on hand values", T, float, double) {
  check_close(run_unary<T>(UnaryOp::exp, {0, 1, 2, -1}),
              {1, 2.718281828459045, 7.38905609893065, 0.36787944117144233});
  const auto l = run_unary<T>(UnaryOp::log, {1, T(2.718281828459045), 0.5, 0});
  check_close(std::vector<T>(l.begin(), l.begin() + 3), {0, 1, -0.6931471805599453});
  CHECK(std::isinf(l[3]));
  CHECK(l[3] < 0);
  check_close(run_unary<T>(UnaryOp::sqrt, {0, 4, 2, 0.25}), {0, 2, 1.4142135623730951, 0.5});
}

TEST_CASE_TEMPLATE("unary relu, tanh, sigmoid on hand values, saturating without NaN", T, float,
                   double) {
  check_close(run_unary<T>(UnaryOp::relu, {-1, 0, 2.5, -0.001}), {0, 0, 2.5, 0});
  CHECK(std::isnan(run_unary<T>(UnaryOp::relu, {std::numeric_limits<T>::quiet_NaN()})[0]));
  check_close(run_unary<T>(UnaryOp::tanh, {0, 1, -1, 20}),
              {0, 0.7615941559557649, -0.7615941559557649, 1});
  const auto s = run_unary<T>(UnaryOp::sigmoid, {0, 2, -2, 1000, -1000});
  check_close(s, {0.5, 0.8807970779778823, 0.11920292202211755, 1, 0});
}

TEST_CASE_TEMPLATE("scalar ops on hand values", T, float, double) {
  const std::vector<T> x = {-2, 0.5, 3};
  check_close(run_scalar<T>(ScalarOp::add, x, 2), {0, 2.5, 5});
  check_close(run_scalar<T>(ScalarOp::mul, x, 2), {-4, 1, 6});
  check_close(run_scalar<T>(ScalarOp::pow, x, 2), {4, 0.25, 9});
  check_close(run_scalar<T>(ScalarOp::pow, x, 3), {-8, 0.125, 27});
  check_close(run_scalar<T>(ScalarOp::pow, {4, 0.25, 9}, T(0.5)), {2, 0.5, 3});
  check_close(run_scalar<T>(ScalarOp::rsub, x, 2), {4, 1.5, -1});
  check_close(run_scalar<T>(ScalarOp::rdiv, x, 2), {-1, 4, 2.0 / 3.0});
  check_close(run_scalar<T>(ScalarOp::max, x, 0.5), {0.5, 0.5, 3});
  check_close(run_scalar<T>(ScalarOp::min, x, 0.5), {-2, 0.5, 0.5});
}

TEST_CASE_TEMPLATE("binary arithmetic on hand values", T, float, double) {
  const std::vector<T> a = {1, -2, 3, 4}, b = {2, 2, -1, 0.5};
  check_close(run_binary<T>(BinaryOp::add, a, b), {3, 0, 2, 4.5});
  check_close(run_binary<T>(BinaryOp::sub, a, b), {-1, -4, 4, 3.5});
  check_close(run_binary<T>(BinaryOp::mul, a, b), {2, -4, -3, 2});
  check_close(run_binary<T>(BinaryOp::div, a, b), {0.5, -1, -3, 8});
  check_close(run_binary<T>(BinaryOp::max, a, b), {2, 2, 3, 4});
  check_close(run_binary<T>(BinaryOp::min, a, b), {1, -2, -1, 0.5});
}

TEST_CASE_TEMPLATE("binary comparisons give 1 or 0 in T", T, float, double) {
  const std::vector<T> a = {1, 2, 3}, b = {2, 2, 2};
  check_close(run_binary<T>(BinaryOp::eq, a, b), {0, 1, 0});
  check_close(run_binary<T>(BinaryOp::ne, a, b), {1, 0, 1});
  check_close(run_binary<T>(BinaryOp::lt, a, b), {1, 0, 0});
  check_close(run_binary<T>(BinaryOp::le, a, b), {1, 1, 0});
  check_close(run_binary<T>(BinaryOp::gt, a, b), {0, 0, 1});
  check_close(run_binary<T>(BinaryOp::ge, a, b), {0, 1, 1});
}

TEST_CASE("max and min propagate NaN, NaN compares unequal") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (auto op : {BinaryOp::max, BinaryOp::min}) {
    const auto y = run_binary<float>(op, {nan, 1, 2}, {1, nan, 3});
    CHECK(std::isnan(y[0]));
    CHECK(std::isnan(y[1]));
    CHECK_FALSE(std::isnan(y[2]));
  }
  CHECK(std::isnan(run_scalar<float>(ScalarOp::max, {nan}, 0)[0]));
  CHECK(std::isnan(run_scalar<float>(ScalarOp::min, {nan}, 0)[0]));
  CHECK(std::isnan(run_scalar<float>(ScalarOp::max, {1}, nan)[0]));
  CHECK(run_binary<float>(BinaryOp::eq, {nan}, {nan})[0] == 0);
  CHECK(run_binary<float>(BinaryOp::ne, {nan}, {nan})[0] == 1);
}

TEST_CASE("broadcasting a row and a column with stride 0 gives a matrix") {
  const std::vector<float> row = {1, 2, 3};  // shape (1, 3) seen as (2, 3)
  const std::vector<float> col = {10, 20};   // shape (2, 1) seen as (2, 3)
  const Strided rs = view({2, 3}, {0, 1}), cs = view({2, 3}, {1, 0});
  std::vector<float> y(6);
  binary(BinaryOp::add, row.data(), rs, col.data(), cs, y.data());
  CHECK(y == std::vector<float>{11, 12, 13, 21, 22, 23});
  binary(BinaryOp::sub, col.data(), cs, row.data(), rs, y.data());  // order matters
  CHECK(y == std::vector<float>{9, 8, 7, 19, 18, 17});
  // Tensor (2, 3) times a broadcast scalar (strides all 0).
  const std::vector<float> m = {1, 2, 3, 4, 5, 6}, s = {0.5f};
  binary(BinaryOp::mul, m.data(), view({2, 3}, {3, 1}), s.data(), view({2, 3}, {0, 0}), y.data());
  CHECK(y == std::vector<float>{0.5f, 1, 1.5f, 2, 2.5f, 3});
}

TEST_CASE("transposed (non-contiguous) inputs are read in the output's order") {
  // A is (3, 2) row-major; A^T is (2, 3) with strides (1, 2): [[1, 3, 5], [2, 4, 6]].
  const std::vector<double> a = {1, 2, 3, 4, 5, 6};
  const Strided at = view({2, 3}, {1, 2});
  CHECK_FALSE(at.contiguous());
  std::vector<double> y(6);
  unary(UnaryOp::neg, a.data(), at, y.data());
  CHECK(y == std::vector<double>{-1, -3, -5, -2, -4, -6});
  const std::vector<double> b = {10, 20, 30, 40, 50, 60};
  binary(BinaryOp::add, a.data(), at, b.data(), view({2, 3}, {3, 1}), y.data());
  CHECK(y == std::vector<double>{11, 23, 35, 42, 54, 66});
  scalar_op(ScalarOp::mul, a.data(), at, 2.0, y.data());
  CHECK(y == std::vector<double>{2, 6, 10, 4, 8, 12});
}

TEST_CASE("negative strides walk backwards") {
  const std::vector<float> x = {1, 2, 3, 4, 5};
  std::vector<float> y(5);
  unary(UnaryOp::square, x.data() + 4, view({5}, {-1}), y.data());
  CHECK(y == std::vector<float>{25, 16, 9, 4, 1});
  // (2, 3) flipped along both axes: start at the last element, strides (-3, -1).
  const std::vector<float> m = {1, 2, 3, 4, 5, 6};
  std::vector<float> z(6);
  copy(m.data() + 5, view({2, 3}, {-3, -1}), z.data());
  CHECK(z == std::vector<float>{6, 5, 4, 3, 2, 1});
  // Flipped rows only, plus a forward operand.
  binary(BinaryOp::sub, m.data() + 3, view({2, 3}, {-3, 1}), m.data(), view({2, 3}, {3, 1}),
         z.data());
  CHECK(z == std::vector<float>{3, 3, 3, -3, -3, -3});
}

TEST_CASE("3-d permuted and sliced views, small and above the threshold") {
  for (int64_t scale : {1, 10}) {
    // base is (A, B, C) contiguous; p is its permutation (C, A, B); q takes every other B in
    // reverse order, permuted the same way: (C, A, B/2), starting at b = B - 1.
    const int64_t A = 2 * scale, B = 6 * scale, C = 5 * scale;  // scale 10: 60,000 elements
    CAPTURE(A * B * C);
    std::vector<double> base(A * B * C);
    for (size_t i = 0; i < base.size(); ++i) base[i] = double(i);
    const Strided p = view({C, A, B}, {1, B * C, C});
    const Strided q = view({C, A, B / 2}, {1, B * C, -2 * C});
    const double* q0 = base.data() + (B - 1) * C;
    std::vector<double> y(A * B * C);
    copy(base.data(), p, y.data());
    CHECK(y == gather_view(base.data(), p));
    y.resize(C * A * (B / 2));
    copy(q0, q, y.data());
    CHECK(y == gather_view(q0, q));
    // (A, C, B): the last two axes transposed under an outer one (the tiled walk).
    const Strided t = view({A, C, B}, {B * C, 1, C});
    y.resize(A * B * C);
    copy(base.data(), t, y.data());
    CHECK(y == gather_view(base.data(), t));
    binary(BinaryOp::add, base.data(), t, base.data(), view({A, C, B}, {B * C, B, 1}), y.data());
    const auto tv = gather_view(base.data(), t);
    bool sums = true;
    for (size_t i = 0; i < y.size(); ++i) sums = sums && y[i] == tv[i] + base[i];
    CHECK(sums);
    y.resize(C * A * (B / 2));
    // q minus its contiguous copy reversed along the last axis: both operands strided.
    const std::vector<double> qc = gather_view(q0, q);
    const Strided r = view({C, A, B / 2}, {A * (B / 2), B / 2, -1});
    binary(BinaryOp::sub, q0, q, qc.data() + B / 2 - 1, r, y.data());
    const auto rv = gather_view(qc.data() + B / 2 - 1, r);
    bool ok = true;
    for (size_t i = 0; i < y.size(); ++i) ok = ok && y[i] == qc[i] - rv[i];
    CHECK(ok);
  }
}

TEST_CASE("0-d and empty inputs, mismatched shapes throw") {
  const float x = -3;
  float y = 0;
  unary(UnaryOp::abs, &x, Strided{}, &y);  // ndim 0: one element
  CHECK(y == 3);
  std::vector<float> out(1, 42);
  unary(UnaryOp::neg, &x, view({0, 4}, {4, 1}), out.data());  // nothing written
  CHECK(out[0] == 42);
  const std::vector<float> a(6, 1), b(6, 2);
  CHECK_THROWS_AS(binary(BinaryOp::add, a.data(), view({2, 3}, {3, 1}), b.data(),
                         view({3, 2}, {2, 1}), out.data()),
                  tg::Error);
}

TEST_CASE("above the parallel threshold, strided and broadcast paths match a serial reference") {
  // a: a transposed (257, 300) buffer seen as (300, 257); b: a column broadcast over 257.
  const int64_t R = 1100, C = 257;  // 282,700 elements: above the parallel threshold
  static_assert(R * C >= tg::kernels::cpu::detail::kParallelMin);
  std::vector<float> abuf(R * C), b(R);
  for (int64_t i = 0; i < R * C; ++i) abuf[i] = float((i * 37) % 1001) * 0.01f - 5.0f;
  for (int64_t i = 0; i < R; ++i) b[i] = float(i % 7) - 3.0f;
  const Strided as = view({R, C}, {1, R}), bs = view({R, C}, {1, 0});
  std::vector<float> ref(R * C);
  for (int64_t i = 0; i < R; ++i)
    for (int64_t j = 0; j < C; ++j) ref[i * C + j] = abuf[j * R + i] * b[i];
  const int saved = omp_get_max_threads();
  for (int threads : {1, 2, 3}) {
    omp_set_num_threads(threads);
    CAPTURE(threads);
    std::vector<float> y(R * C, -1);
    binary(BinaryOp::mul, abuf.data(), as, b.data(), bs, y.data());
    CHECK(y == ref);
    // One long reversed axis: the slices of every thread cut through the same run.
    std::vector<float> z(R * C, -1);
    unary(UnaryOp::neg, abuf.data() + R * C - 1, view({R * C}, {-1}), z.data());
    bool ok = true;
    for (int64_t i = 0; i < R * C; ++i) ok = ok && z[i] == -abuf[R * C - 1 - i];
    CHECK(ok);
  }
  omp_set_num_threads(saved);
  // Contiguous flat path against per-element libm calls.
  std::vector<double> x(100000), e(x.size());
  for (size_t i = 0; i < x.size(); ++i) x[i] = double(i % 2001) * 0.01 - 10.0;
  unary(UnaryOp::exp, x.data(), flat(int64_t(x.size())), e.data());
  bool ok = true;
  for (size_t i = 0; i < x.size(); ++i)
    ok = ok && std::abs(e[i] - std::exp(x[i])) <= 1e-15 * std::exp(x[i]);
  CHECK(ok);
}

TEST_CASE_TEMPLATE("relu_backward and axpy on hand values", T, float, double) {
  const std::vector<T> x = {-1, 0, 2, 3}, gy = {5, 6, 7, 8};
  std::vector<T> gx(4, -1);
  relu_backward(x.data(), gy.data(), gx.data(), 4);
  CHECK(gx == std::vector<T>{0, 0, 7, 8});  // the derivative at 0 is taken as 0
  std::vector<T> y = {1, 2, 3};
  const std::vector<T> v = {1, 1, 2};
  axpy(3, T(0.5), v.data(), y.data());
  CHECK(y == std::vector<T>{1.5, 2.5, 4});
}

TEST_CASE("fill and copy for float, int32 and uint8, contiguous and strided") {
  std::vector<int32_t> i32(5, 0);
  fill(i32.data(), 5, int32_t(-7));
  CHECK(i32 == std::vector<int32_t>(5, -7));
  std::vector<uint8_t> u8(40000, 0);  // above the threshold
  fill(u8.data(), int64_t(u8.size()), uint8_t(255));
  CHECK(u8 == std::vector<uint8_t>(40000, 255));
  std::vector<float> f(3);
  fill(f.data(), 3, 2.5f);
  CHECK(f == std::vector<float>{2.5f, 2.5f, 2.5f});

  const std::vector<int32_t> m = {1, 2, 3, 4, 5, 6};  // (3, 2) -> transposed (2, 3)
  std::vector<int32_t> t(6);
  copy(m.data(), view({2, 3}, {1, 2}), t.data());
  CHECK(t == std::vector<int32_t>{1, 3, 5, 2, 4, 6});
  const std::vector<uint8_t> u = {10, 20, 30};
  std::vector<uint8_t> r(3);
  copy(u.data() + 2, view({3}, {-1}), r.data());
  CHECK(r == std::vector<uint8_t>{30, 20, 10});
  std::vector<double> big(50000), big2(50000);
  for (size_t i = 0; i < big.size(); ++i) big[i] = double(i);
  copy(big.data(), flat(50000), big2.data());
  CHECK(big == big2);
  const std::vector<double> one = {4};
  std::vector<double> rep(3);
  copy(one.data(), view({3}, {0}), rep.data());  // broadcast copy expands
  CHECK(rep == std::vector<double>{4, 4, 4});
}

TEST_CASE("cast truncates toward zero and wraps narrow integers") {
  const std::vector<float> f = {-1.7f, -0.2f, 0.9f, 2.5f, 3.99f};
  std::vector<int32_t> i(5);
  cast(f.data(), i.data(), 5);
  CHECK(i == std::vector<int32_t>{-1, 0, 0, 2, 3});

  const std::vector<int32_t> n = {-1, 0, 300, 255};
  std::vector<uint8_t> u(4);
  cast(n.data(), u.data(), 4);
  CHECK(u == std::vector<uint8_t>{255, 0, 44, 255});

  const std::vector<float> g = {-1.0f, 255.9f, 256.0f, 7.5f};
  cast(g.data(), u.data(), 4);
  CHECK(u == std::vector<uint8_t>{255, 255, 0, 7});

  const std::vector<uint8_t> b = {0, 128, 255};
  std::vector<float> bf(3);
  cast(b.data(), bf.data(), 3);
  CHECK(bf == std::vector<float>{0, 128, 255});

  const std::vector<double> d = {1.0000000001, -2.5, 1e300};
  std::vector<float> df(3);
  cast(d.data(), df.data(), 3);
  CHECK(df[0] == 1.0f);
  CHECK(df[1] == -2.5f);
  CHECK(std::isinf(df[2]));

  const std::vector<int32_t> big = {2147483647, -2147483647 - 1};
  std::vector<double> bd(2);
  cast(big.data(), bd.data(), 2);
  CHECK(bd == std::vector<double>{2147483647.0, -2147483648.0});

  std::vector<float> same(5);
  cast(f.data(), same.data(), 5);
  CHECK(same == f);
}
