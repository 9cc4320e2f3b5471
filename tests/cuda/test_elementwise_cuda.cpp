// CUDA elementwise kernels (kernels/cuda/elementwise.cu) against their CPU twins: every unary,
// scalar and binary op on awkward flat sizes, then on layouts that reach each launch path after
// the host collapses the axes (contiguous; broadcast scalar and reversed vector: 1 axis; bias
// add, column broadcast, transposed: 2 axes; 3-d broadcast and a 4-d permutation: the n-d walk;
// size-1 axes with junk strides; a 0-d tensor), NaN rules by hand, relu backward, axpy, fill,
// copy and every cast pair, empty inputs, in-place use and the host-side shape checks.
#include <cuda_runtime.h>  // cudaMalloc(T**, size_t), used by DeviceBuffer
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <iostream>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "base/error.h"
#include "cuda/cuda_test_util.h"
#include "kernels/elementwise.h"

using tg::kernels::BinaryOp;
using tg::kernels::ScalarOp;
using tg::kernels::Strided;
using tg::kernels::UnaryOp;
using tg::test::DeviceBuffer;
namespace cpu = tg::kernels::cpu;
namespace gpu = tg::kernels::cuda;

namespace {

const int64_t kSizes[] = {1, 7, 33, 1023, 100003};

const UnaryOp kUnary[] = {UnaryOp::neg,    UnaryOp::exp,       UnaryOp::log,  UnaryOp::relu,
                          UnaryOp::sqrt,   UnaryOp::abs,       UnaryOp::tanh, UnaryOp::sigmoid,
                          UnaryOp::square, UnaryOp::reciprocal};
const ScalarOp kScalar[] = {ScalarOp::add,  ScalarOp::mul, ScalarOp::pow, ScalarOp::rsub,
                            ScalarOp::rdiv, ScalarOp::max, ScalarOp::min};
const BinaryOp kBinary[] = {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div,
                            BinaryOp::max, BinaryOp::min, BinaryOp::eq,  BinaryOp::ne,
                            BinaryOp::lt,  BinaryOp::le,  BinaryOp::gt,  BinaryOp::ge};

// float: libdevice and glibc differ by a few ulps in exp/log/tanh/pow; double: the same in ulps.
template <typename T>
double rtol() {
  return sizeof(T) == 4 ? 1e-5 : 1e-12;
}
template <typename T>
double atol() {
  return sizeof(T) == 4 ? 1e-6 : 1e-14;
}

// Like close_to, but equal values (infinities included) always match.
template <typename T>
bool matches(const std::vector<T>& got, const std::vector<T>& want, double rt = rtol<T>(),
             double at = atol<T>()) {
  if (got.size() != want.size()) {
    std::cout << "size " << got.size() << " vs " << want.size() << std::endl;
    return false;
  }
  for (size_t i = 0; i < got.size(); ++i) {
    const double x = double(got[i]), y = double(want[i]);
    if (x == y || (std::isnan(x) && std::isnan(y))) continue;
    if (!(std::fabs(x - y) <= at + rt * std::fabs(y))) {
      std::cout << "element " << i << ": got " << x << ", want " << y << std::endl;
      return false;
    }
  }
  return true;
}

// A view: its Strided in the output's shape, the offset of element 0 in its storage, and the
// storage size (negative strides put element 0 at the end).
struct View {
  Strided s;
  int64_t offset = 0, storage = 1;
};

View view(std::vector<int64_t> shape, std::vector<int64_t> strides) {
  View v;
  v.s.ndim = static_cast<int>(shape.size());
  int64_t lo = 0, hi = 0;
  for (int d = 0; d < v.s.ndim; ++d) {
    v.s.shape[d] = shape[d];
    v.s.strides[d] = strides[d];
    if (shape[d] == 0) continue;
    (strides[d] < 0 ? lo : hi) += (shape[d] - 1) * strides[d];
  }
  v.offset = -lo;
  v.storage = hi - lo + 1;
  return v;
}

View contiguous(std::vector<int64_t> shape) {
  std::vector<int64_t> st(shape.size());
  int64_t s = 1;
  for (size_t d = shape.size(); d-- > 0;) {
    st[d] = s;
    s *= shape[d];
  }
  return view(shape, st);
}

// Layouts of two inputs in one shape, chosen to reach every launch path.
struct Case {
  std::string name;
  View a, b;
};

std::vector<Case> cases() {
  const int64_t R = 33, C = 7;
  return {
      {"contiguous", contiguous({R, C}), contiguous({R, C})},
      {"bias add: b broadcast over rows", contiguous({R, C}), view({R, C}, {0, 1})},
      {"column broadcast", contiguous({R, C}), view({R, C}, {1, 0})},
      {"scalar broadcast", contiguous({R, C}), view({R, C}, {0, 0})},
      {"a transposed", view({R, C}, {1, R}), contiguous({R, C})},
      {"both reversed", view({R, C}, {-C, -1}), view({R, C}, {-C, 1})},
      {"reversed vector", view({1023}, {-1}), view({1023}, {2})},
      {"3-d broadcast over the middle", contiguous({4, 5, 6}), view({4, 5, 6}, {6, 0, 1})},
      {"4-d permutation", view({2, 3, 4, 5}, {1, 40, 10, 2}), view({2, 3, 4, 5}, {0, 5, 0, 1})},
      {"size-1 axes with junk strides", view({1, 7, 1, 3}, {999, 3, -5, 1}),
       view({1, 7, 1, 3}, {7, 0, 4, 1})},
      {"0-d", view({}, {}), view({}, {})},
      {"large bias add", contiguous({1000, 333}), view({1000, 333}, {0, 1})},
      {"large transposed", view({1000, 333}, {1, 1000}), view({1000, 333}, {1, 0})},
  };
}

// Values in [-2, 2] on a grid of 1/8, so that comparisons meet equal values.
template <typename T>
std::vector<T> grid_values(int64_t n, uint32_t seed) {
  std::vector<T> v = tg::test::uniform<T>(static_cast<size_t>(n), seed, -2, 2);
  for (auto& x : v) x = static_cast<T>(std::round(double(x) * 8) / 8);
  return v;
}

template <typename T>
std::vector<T> gpu_unary(UnaryOp op, const std::vector<T>& x, const View& v) {
  DeviceBuffer<T> dx(x), dy(std::vector<T>(static_cast<size_t>(v.s.numel()), T(-777)));
  tg::test::wait_uploads();
  gpu::unary(op, dx.data() + v.offset, v.s, dy.data());
  return dy.download();
}
template <typename T>
std::vector<T> cpu_unary(UnaryOp op, const std::vector<T>& x, const View& v) {
  std::vector<T> y(static_cast<size_t>(v.s.numel()), T(-777));
  cpu::unary(op, x.data() + v.offset, v.s, y.data());
  return y;
}

template <typename T>
std::vector<T> gpu_scalar(ScalarOp op, const std::vector<T>& x, const View& v, T s) {
  DeviceBuffer<T> dx(x), dy(std::vector<T>(static_cast<size_t>(v.s.numel()), T(-777)));
  tg::test::wait_uploads();
  gpu::scalar_op(op, dx.data() + v.offset, v.s, s, dy.data());
  return dy.download();
}
template <typename T>
std::vector<T> cpu_scalar(ScalarOp op, const std::vector<T>& x, const View& v, T s) {
  std::vector<T> y(static_cast<size_t>(v.s.numel()), T(-777));
  cpu::scalar_op(op, x.data() + v.offset, v.s, s, y.data());
  return y;
}

template <typename T>
std::vector<T> gpu_binary(BinaryOp op, const std::vector<T>& a, const View& va,
                          const std::vector<T>& b, const View& vb) {
  DeviceBuffer<T> da(a), db(b), dy(std::vector<T>(static_cast<size_t>(va.s.numel()), T(-777)));
  tg::test::wait_uploads();
  gpu::binary(op, da.data() + va.offset, va.s, db.data() + vb.offset, vb.s, dy.data());
  return dy.download();
}
template <typename T>
std::vector<T> cpu_binary(BinaryOp op, const std::vector<T>& a, const View& va,
                          const std::vector<T>& b, const View& vb) {
  std::vector<T> y(static_cast<size_t>(va.s.numel()), T(-777));
  cpu::binary(op, a.data() + va.offset, va.s, b.data() + vb.offset, vb.s, y.data());
  return y;
}

template <typename T>
std::vector<T> gpu_copy(const std::vector<T>& x, const View& v) {
  DeviceBuffer<T> dx(x), dy(std::vector<T>(static_cast<size_t>(v.s.numel()), T(77)));
  tg::test::wait_uploads();
  gpu::copy(dx.data() + v.offset, v.s, dy.data());
  return dy.download();
}

Strided flat(int64_t n) {
  return contiguous({n}).s;
}

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

TEST_CASE_TEMPLATE("cuda unary ops match the CPU on flat sizes", T, float, double) {
  TG_SKIP_WITHOUT_CUDA();
  for (int64_t n : kSizes) {
    // [-3, 3]: log and sqrt of negatives give NaN on both sides, which must agree too.
    const std::vector<T> x = tg::test::uniform<T>(static_cast<size_t>(n), 11, -3, 3);
    const View v = contiguous({n});
    for (UnaryOp op : kUnary) {
      CAPTURE(n);
      CAPTURE(static_cast<int>(op));
      CHECK(matches(gpu_unary(op, x, v), cpu_unary(op, x, v)));
    }
  }
}

TEST_CASE_TEMPLATE("cuda unary ops match the CPU on strided layouts", T, float, double) {
  TG_SKIP_WITHOUT_CUDA();
  for (const Case& c : cases()) {
    for (const View* v : {&c.a, &c.b}) {
      const std::vector<T> x = tg::test::uniform<T>(static_cast<size_t>(v->storage), 5, 0.1, 3);
      for (UnaryOp op : kUnary) {
        CAPTURE(c.name);
        CAPTURE(static_cast<int>(op));
        CHECK(matches(gpu_unary(op, x, *v), cpu_unary(op, x, *v)));
      }
    }
  }
}

TEST_CASE_TEMPLATE("cuda scalar ops match the CPU", T, float, double) {
  TG_SKIP_WITHOUT_CUDA();
  // pow with 2 (the v * v path), 1.5 and -0.5 (libdevice pow; NaN for negative bases).
  const T scalars[] = {T(0.75), T(-1.25), T(2), T(1.5), T(-0.5)};
  for (int64_t n : kSizes) {
    const std::vector<T> x = grid_values<T>(n, 3);
    for (ScalarOp op : kScalar) {
      for (T s : scalars) {
        CAPTURE(n);
        CAPTURE(static_cast<int>(op));
        CAPTURE(s);
        const View v = contiguous({n});
        CHECK(matches(gpu_scalar(op, x, v, s), cpu_scalar(op, x, v, s)));
      }
    }
  }
  for (const Case& c : cases()) {
    const std::vector<T> x = grid_values<T>(c.a.storage, 9);
    for (ScalarOp op : kScalar) {
      CAPTURE(c.name);
      CAPTURE(static_cast<int>(op));
      CHECK(matches(gpu_scalar(op, x, c.a, T(1.5)), cpu_scalar(op, x, c.a, T(1.5))));
    }
  }
}

TEST_CASE_TEMPLATE("cuda binary ops match the CPU on flat sizes", T, float, double) {
  TG_SKIP_WITHOUT_CUDA();
  for (int64_t n : kSizes) {
    const std::vector<T> a = grid_values<T>(n, 1), b = grid_values<T>(n, 2);
    const View v = contiguous({n});
    for (BinaryOp op : kBinary) {
      CAPTURE(n);
      CAPTURE(static_cast<int>(op));
      CHECK(matches(gpu_binary(op, a, v, b, v), cpu_binary(op, a, v, b, v)));
    }
  }
}

TEST_CASE_TEMPLATE("cuda binary ops match the CPU on broadcast and strided layouts", T, float,
                   double) {
  TG_SKIP_WITHOUT_CUDA();
  for (const Case& c : cases()) {
    const std::vector<T> a = grid_values<T>(c.a.storage, 7), b = grid_values<T>(c.b.storage, 8);
    for (BinaryOp op : kBinary) {
      CAPTURE(c.name);
      CAPTURE(static_cast<int>(op));
      CHECK(matches(gpu_binary(op, a, c.a, b, c.b), cpu_binary(op, a, c.a, b, c.b)));
      // And with the roles swapped (the broadcast or strided input first).
      CHECK(matches(gpu_binary(op, b, c.b, a, c.a), cpu_binary(op, b, c.b, a, c.a)));
    }
  }
}

TEST_CASE("cuda binary bias add by hand") {
  TG_SKIP_WITHOUT_CUDA();
  // (2, 3) + row (3,) broadcast over rows, and + column (2, 1) broadcast over columns.
  const std::vector<float> a = {1, 2, 3, 4, 5, 6}, row = {10, 20, 30}, col = {100, 200};
  const View va = contiguous({2, 3});
  CHECK(gpu_binary(BinaryOp::add, a, va, row, view({2, 3}, {0, 1})) ==
        std::vector<float>{11, 22, 33, 14, 25, 36});
  CHECK(gpu_binary(BinaryOp::add, a, va, col, view({2, 3}, {1, 0})) ==
        std::vector<float>{101, 102, 103, 204, 205, 206});
  // a transposed: a^T is (3, 2) with strides (1, 3).
  CHECK(gpu_binary(BinaryOp::sub, a, view({3, 2}, {1, 3}), col, view({3, 2}, {0, 1})) ==
        std::vector<float>{-99, -196, -98, -195, -97, -194});
}

TEST_CASE("cuda NaN rules: max and min propagate NaN, relu keeps it, comparisons give 1 or 0") {
  TG_SKIP_WITHOUT_CUDA();
  const float nan = static_cast<float>(kNaN);
  const std::vector<float> a = {nan, 1, nan, -2, 3}, b = {0, nan, nan, 5, 3};
  const View v = contiguous({5});
  const auto mx = gpu_binary(BinaryOp::max, a, v, b, v);
  const auto mn = gpu_binary(BinaryOp::min, a, v, b, v);
  for (int i = 0; i < 3; ++i) {
    CHECK(std::isnan(mx[i]));
    CHECK(std::isnan(mn[i]));
  }
  CHECK(mx[3] == 5.f);
  CHECK(mn[3] == -2.f);
  CHECK(mx[4] == 3.f);
  CHECK(gpu_binary(BinaryOp::eq, a, v, b, v) == std::vector<float>{0, 0, 0, 0, 1});
  CHECK(gpu_binary(BinaryOp::ne, a, v, b, v) == std::vector<float>{1, 1, 1, 1, 0});
  CHECK(gpu_binary(BinaryOp::le, a, v, b, v) == std::vector<float>{0, 0, 0, 1, 1});
  const auto smax = gpu_scalar(ScalarOp::max, a, v, 0.5f);
  CHECK(std::isnan(smax[0]));
  CHECK(smax[1] == 1.f);
  CHECK(smax[3] == 0.5f);
  const auto r = gpu_unary(UnaryOp::relu, std::vector<float>{nan, -1, 0, 2}, contiguous({4}));
  CHECK(std::isnan(r[0]));
  CHECK(r[1] == 0.f);
  CHECK(r[2] == 0.f);
  CHECK(r[3] == 2.f);
  // sigmoid saturates without NaN at both ends.
  const auto s = gpu_unary(UnaryOp::sigmoid, std::vector<float>{-1000, 1000}, contiguous({2}));
  CHECK(s == std::vector<float>{0, 1});
}

TEST_CASE("cuda elementwise ops work in place") {
  TG_SKIP_WITHOUT_CUDA();
  const int64_t R = 100, C = 33;
  const std::vector<float> a = grid_values<float>(R * C, 4), b = grid_values<float>(C, 6);
  const View va = contiguous({R, C}), vb = view({R, C}, {0, 1});
  DeviceBuffer<float> da(a), db(b);
  tg::test::wait_uploads();
  gpu::binary(BinaryOp::add, da.data(), va.s, db.data(), vb.s, da.data());  // a += bias
  gpu::unary(UnaryOp::relu, da.data(), va.s, da.data());
  const auto want = cpu_unary(UnaryOp::relu, cpu_binary(BinaryOp::add, a, va, b, vb), va);
  CHECK(matches(da.download(), want));
}

TEST_CASE("cuda elementwise ops leave the output alone for empty inputs") {
  TG_SKIP_WITHOUT_CUDA();
  DeviceBuffer<float> x(std::vector<float>{1, 2, 3}), y(std::vector<float>{7, 7, 7});
  tg::test::wait_uploads();
  const Strided empty = view({4, 0, 3}, {0, 3, 1}).s;
  gpu::unary(UnaryOp::exp, x.data(), empty, y.data());
  gpu::scalar_op(ScalarOp::add, x.data(), empty, 1.f, y.data());
  gpu::binary(BinaryOp::add, x.data(), empty, x.data(), empty, y.data());
  gpu::copy(x.data(), empty, y.data());
  gpu::relu_backward(x.data(), x.data(), y.data(), 0);
  gpu::axpy(0, 2.f, x.data(), y.data());
  gpu::fill(y.data(), 0, 5.f);
  gpu::cast(x.data(), y.data(), 0);
  CHECK(y.download() == std::vector<float>{7, 7, 7});
}

TEST_CASE("cuda elementwise host checks reject bad shapes") {
  TG_SKIP_WITHOUT_CUDA();
  DeviceBuffer<float> x(16), y(16);
  const Strided a = contiguous({4, 4}).s, b = contiguous({4, 2}).s, c = contiguous({16}).s;
  CHECK_THROWS_WITH_AS(gpu::binary(BinaryOp::add, x.data(), a, x.data(), b, y.data()),
                       doctest::Contains("binary: size 4 vs 2 at dim 1"), tg::Error);
  CHECK_THROWS_WITH_AS(gpu::binary(BinaryOp::add, x.data(), a, x.data(), c, y.data()),
                       doctest::Contains("binary: inputs have 2 and 1 dims"), tg::Error);
  Strided bad = a;
  bad.shape[0] = -1;
  CHECK_THROWS_WITH_AS(gpu::unary(UnaryOp::neg, x.data(), bad, y.data()),
                       doctest::Contains("unary: negative size"), tg::Error);
  bad.ndim = 9;
  CHECK_THROWS_AS(gpu::copy(x.data(), bad, y.data()), tg::Error);
  CHECK_THROWS_WITH_AS(gpu::fill(y.data(), -1, 0.f), doctest::Contains("fill"), tg::Error);
  CHECK_THROWS_WITH_AS(gpu::axpy(-3, 1.f, x.data(), y.data()), doctest::Contains("axpy"),
                       tg::Error);
  gpu::synchronize();
}

TEST_CASE_TEMPLATE("cuda relu_backward and axpy match the CPU", T, float, double) {
  TG_SKIP_WITHOUT_CUDA();
  for (int64_t n : kSizes) {
    CAPTURE(n);
    const std::vector<T> x = grid_values<T>(n, 21);  // exact zeros included: gradient 0 there
    const std::vector<T> gy = tg::test::uniform<T>(static_cast<size_t>(n), 22);
    const std::vector<T> y0 = tg::test::uniform<T>(static_cast<size_t>(n), 23);
    std::vector<T> want(static_cast<size_t>(n), T(-777));
    cpu::relu_backward(x.data(), gy.data(), want.data(), n);
    DeviceBuffer<T> dx(x), dgy(gy), dgx(std::vector<T>(static_cast<size_t>(n), T(-777)));
    DeviceBuffer<T> dy(y0);
    tg::test::wait_uploads();
    gpu::relu_backward(dx.data(), dgy.data(), dgx.data(), n);
    CHECK(matches(dgx.download(), want));

    std::vector<T> y = y0;
    cpu::axpy(n, T(-0.375), gy.data(), y.data());
    gpu::axpy(n, T(-0.375), dgy.data(), dy.data());
    CHECK(matches(dy.download(), y));
  }
}

TEST_CASE_TEMPLATE("cuda fill and copy handle every dtype", T, float, double, int32_t, uint8_t) {
  TG_SKIP_WITHOUT_CUDA();
  for (int64_t n : kSizes) {
    CAPTURE(n);
    DeviceBuffer<T> d(static_cast<size_t>(n));
    gpu::fill(d.data(), n, T(42));
    CHECK(d.download() == std::vector<T>(static_cast<size_t>(n), T(42)));
    // A contiguous copy (cudaMemcpyAsync) and a reversed one (the 1-axis walk).
    std::vector<T> x(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) x[i] = static_cast<T>(i % 97);
    const View fwd = contiguous({n}), rev = view({n}, {-1});
    std::vector<T> want_rev(x.rbegin(), x.rend());
    CHECK(gpu_copy(x, fwd) == x);
    CHECK(gpu_copy(x, rev) == want_rev);
  }
  for (const Case& c : cases()) {
    for (const View* v : {&c.a, &c.b}) {
      CAPTURE(c.name);
      std::vector<T> x(static_cast<size_t>(v->storage));
      for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<T>(i % 101);
      std::vector<T> want(static_cast<size_t>(v->s.numel()));
      cpu::copy(x.data() + v->offset, v->s, want.data());
      CHECK(gpu_copy(x, *v) == want);
    }
  }
}

namespace {

template <typename S, typename D>
void check_cast() {
  for (int64_t n : kSizes) {
    CAPTURE(n);
    // Float sources in [-300, 300] with fractions: truncation toward zero, and the modular wrap
    // of negative and large values into uint8 (through int64, as on the CPU).
    std::vector<S> x(static_cast<size_t>(n));
    const auto u = tg::test::uniform<double>(static_cast<size_t>(n), 31, -300, 300);
    for (int64_t i = 0; i < n; ++i) {
      if constexpr (std::is_same_v<S, uint8_t>)
        x[i] = static_cast<S>(static_cast<int>(u[i] + 300) % 256);
      else
        x[i] = static_cast<S>(u[i]);
    }
    std::vector<D> want(static_cast<size_t>(n));
    cpu::cast(x.data(), want.data(), n);
    DeviceBuffer<S> dx(x);
    DeviceBuffer<D> dy(static_cast<size_t>(n));
    tg::test::wait_uploads();
    gpu::cast(dx.data(), dy.data(), n);
    CHECK(dy.download() == want);
  }
}

template <typename S>
void check_cast_from() {
  check_cast<S, float>();
  check_cast<S, double>();
  check_cast<S, int32_t>();
  check_cast<S, uint8_t>();
}

}  // namespace

TEST_CASE_TEMPLATE("cuda cast matches the CPU for every dtype pair", S, float, double, int32_t,
                   uint8_t) {
  TG_SKIP_WITHOUT_CUDA();
  check_cast_from<S>();
}

TEST_CASE("cuda cast truncates toward zero and wraps into uint8 by hand") {
  TG_SKIP_WITHOUT_CUDA();
  const std::vector<float> x = {2.9f, -2.9f, -1.0f, 255.5f, 256.0f, 0.5f};
  DeviceBuffer<float> dx(x);
  DeviceBuffer<int32_t> di(x.size());
  DeviceBuffer<uint8_t> du(x.size());
  tg::test::wait_uploads();
  gpu::cast(dx.data(), di.data(), static_cast<int64_t>(x.size()));
  gpu::cast(dx.data(), du.data(), static_cast<int64_t>(x.size()));
  CHECK(di.download() == std::vector<int32_t>{2, -2, -1, 255, 256, 0});
  CHECK(du.download() == std::vector<uint8_t>{2, 254, 255, 255, 0, 0});
}
