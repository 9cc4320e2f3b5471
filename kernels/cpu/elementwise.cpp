// Unary, scalar and broadcasting binary elementwise kernels on the CPU.
//
// Algorithm: the op is chosen once, outside the loop (a switch that instantiates one loop per
// op), so the loop body is a single inlined expression the compiler can vectorise. Contiguous
// inputs take a flat loop (OpenMP + SIMD above kParallelMin elements); any other layout
// (transposed, reversed, broadcast with stride 0) goes through the strided walk, which merges
// axes first so that common cases (tensor + broadcast scalar, row + column) end up as long
// unit-stride or stride-0 runs. The output is always contiguous in the inputs' shape.
// Cost: numel ops (exp/log/tanh: a libm call each), (inputs + 1) * numel * sizeof(T) bytes.
//
// fill and cast are flat loops; copy of a contiguous source is memcpy (one slice per thread
// when large), any other layout the strided walk. Cost: no FLOPs, n elements read and written.
#include <cmath>
#include <cstring>
#include <type_traits>

#include "kernels/cpu/common.h"
#include "kernels/cpu/strided_walk.h"
#include "kernels/elementwise.h"

namespace tg::kernels::cpu {

namespace {

using detail::nan_max;
using detail::nan_min;

template <typename T, typename F>
void map1(const char* op, const T* x, const Strided& xs, T* out, F f) {
  kernels::detail::strided_check(op, xs);
  const int64_t n = xs.numel();
  if (n == 0) return;
  if (xs.contiguous()) {
    detail::parallel_flat(n, [&](int64_t i) { out[i] = f(x[i]); });
    return;
  }
  const Strided* in[1] = {&xs};
  const auto w = detail::make_walk<1>(xs, in);
  const int64_t s = w.step(0);
  detail::walk(w, n, [&](int64_t o, const int64_t* off, int64_t cnt) {
    const T* p = x + off[0];
    T* q = out + o;
    if (s == 1) {
      for (int64_t k = 0; k < cnt; ++k) q[k] = f(p[k]);
    } else {
      for (int64_t k = 0; k < cnt; ++k) q[k] = f(p[k * s]);
    }
  });
}

template <typename T, typename F>
void map2(const char* op, const T* a, const Strided& as, const T* b, const Strided& bs, T* out,
          F f) {
  kernels::detail::binary_check(op, as, bs);
  const int64_t n = as.numel();
  if (n == 0) return;
  if (as.contiguous() && bs.contiguous()) {
    detail::parallel_flat(n, [&](int64_t i) { out[i] = f(a[i], b[i]); });
    return;
  }
  const Strided* in[2] = {&as, &bs};
  const auto w = detail::make_walk<2>(as, in);
  const int64_t sa = w.step(0), sb = w.step(1);
  // The stride patterns of broadcasting get their own loops (unit/zero strides vectorise).
  detail::walk(w, n, [&](int64_t o, const int64_t* off, int64_t cnt) {
    const T* p = a + off[0];
    const T* r = b + off[1];
    T* q = out + o;
    if (sa == 1 && sb == 1) {
      for (int64_t k = 0; k < cnt; ++k) q[k] = f(p[k], r[k]);
    } else if (sa == 1 && sb == 0) {
      const T v = r[0];
      for (int64_t k = 0; k < cnt; ++k) q[k] = f(p[k], v);
    } else if (sa == 0 && sb == 1) {
      const T v = p[0];
      for (int64_t k = 0; k < cnt; ++k) q[k] = f(v, r[k]);
    } else {
      for (int64_t k = 0; k < cnt; ++k) q[k] = f(p[k * sa], r[k * sb]);
    }
  });
}

}  // namespace

template <typename T>
void unary(UnaryOp op, const T* x, const Strided& xs, T* out) {
  const char* name = "unary";
  auto run = [&](auto f) { map1(name, x, xs, out, f); };
  switch (op) {
    case UnaryOp::neg:
      return run([](T v) { return -v; });
    case UnaryOp::exp:
      return run([](T v) { return std::exp(v); });
    case UnaryOp::log:
      return run([](T v) { return std::log(v); });
    // v < 0 rather than v > 0 so that relu(NaN) stays NaN, as in PyTorch.
    case UnaryOp::relu:
      return run([](T v) { return v < T(0) ? T(0) : v; });
    case UnaryOp::sqrt:
      return run([](T v) { return std::sqrt(v); });
    case UnaryOp::abs:
      return run([](T v) { return std::abs(v); });
    case UnaryOp::tanh:
      return run([](T v) { return std::tanh(v); });
    // exp(-v) overflows to inf for v < -88 (float), giving 1/inf = 0: no NaN at either end.
    case UnaryOp::sigmoid:
      return run([](T v) { return T(1) / (T(1) + std::exp(-v)); });
    case UnaryOp::square:
      return run([](T v) { return v * v; });
    case UnaryOp::reciprocal:
      return run([](T v) { return T(1) / v; });
  }
  TG_FAIL(name, "unknown UnaryOp ", static_cast<int>(op));
}

template <typename T>
void scalar_op(ScalarOp op, const T* x, const Strided& xs, T s, T* out) {
  const char* name = "scalar_op";
  auto run = [&](auto f) { map1(name, x, xs, out, f); };
  switch (op) {
    case ScalarOp::add:
      return run([s](T v) { return v + s; });
    case ScalarOp::mul:
      return run([s](T v) { return v * s; });
    case ScalarOp::pow:
      // x^2 is the common case (squared errors); v * v is exact and avoids a libm call.
      if (s == T(2)) return run([](T v) { return v * v; });
      return run([s](T v) { return std::pow(v, s); });
    case ScalarOp::rsub:
      return run([s](T v) { return s - v; });
    case ScalarOp::rdiv:
      return run([s](T v) { return s / v; });
    case ScalarOp::max:
      return run([s](T v) { return nan_max(v, s); });
    case ScalarOp::min:
      return run([s](T v) { return nan_min(v, s); });
  }
  TG_FAIL(name, "unknown ScalarOp ", static_cast<int>(op));
}

template <typename T>
void binary(BinaryOp op, const T* a, const Strided& as, const T* b, const Strided& bs, T* out) {
  const char* name = "binary";
  auto run = [&](auto f) { map2(name, a, as, b, bs, out, f); };
  switch (op) {
    case BinaryOp::add:
      return run([](T u, T v) { return u + v; });
    case BinaryOp::sub:
      return run([](T u, T v) { return u - v; });
    case BinaryOp::mul:
      return run([](T u, T v) { return u * v; });
    case BinaryOp::div:
      return run([](T u, T v) { return u / v; });
    case BinaryOp::max:
      return run([](T u, T v) { return nan_max(u, v); });
    case BinaryOp::min:
      return run([](T u, T v) { return nan_min(u, v); });
    case BinaryOp::eq:
      return run([](T u, T v) { return u == v ? T(1) : T(0); });
    case BinaryOp::ne:
      return run([](T u, T v) { return u != v ? T(1) : T(0); });
    case BinaryOp::lt:
      return run([](T u, T v) { return u < v ? T(1) : T(0); });
    case BinaryOp::le:
      return run([](T u, T v) { return u <= v ? T(1) : T(0); });
    case BinaryOp::gt:
      return run([](T u, T v) { return u > v ? T(1) : T(0); });
    case BinaryOp::ge:
      return run([](T u, T v) { return u >= v ? T(1) : T(0); });
  }
  TG_FAIL(name, "unknown BinaryOp ", static_cast<int>(op));
}

template <typename T>
void relu_backward(const T* x, const T* gy, T* gx, int64_t n) {
  TG_CHECK(n >= 0, "relu_backward", "negative size ", n);
  detail::parallel_flat(n, [&](int64_t i) { gx[i] = x[i] > T(0) ? gy[i] : T(0); });
}

template <typename T>
void axpy(int64_t n, T alpha, const T* x, T* y) {
  TG_CHECK(n >= 0, "axpy", "negative size ", n);
  detail::parallel_flat(n, [&](int64_t i) { y[i] += alpha * x[i]; });
}

template <typename T>
void fill(T* dst, int64_t n, T value) {
  TG_CHECK(n >= 0, "fill", "negative size ", n);
  detail::parallel_flat(n, [&](int64_t i) { dst[i] = value; });
}

template <typename T>
void copy(const T* src, const Strided& ss, T* dst) {
  kernels::detail::strided_check("copy", ss);
  const int64_t n = ss.numel();
  if (n == 0) return;
  if (ss.contiguous()) {
    if (n < detail::kParallelMin) {
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(T));
      return;
    }
    // One memcpy per thread: a single one would use one core's bandwidth only.
#pragma omp parallel
    {
      const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
      const int64_t b = n * t / nt, e = n * (t + 1) / nt;
      std::memcpy(dst + b, src + b, static_cast<size_t>(e - b) * sizeof(T));
    }
    return;
  }
  const Strided* in[1] = {&ss};
  const auto w = detail::make_walk<1>(ss, in);
  const int64_t s = w.step(0);
  detail::walk(w, n, [&](int64_t o, const int64_t* off, int64_t cnt) {
    const T* p = src + off[0];
    T* q = dst + o;
    if (s == 1) {
      std::memcpy(q, p, static_cast<size_t>(cnt) * sizeof(T));
    } else {
      for (int64_t k = 0; k < cnt; ++k) q[k] = p[k * s];
    }
  });
}

namespace {
// Float to a narrow integer goes through int64_t: truncation toward zero as a C++ cast does,
// and then a defined modular wrap (C++20) instead of undefined behaviour for out-of-range
// values such as -1.0f -> uint8 (255, as PyTorch gives on x86). NaN and |x| >= 2^63 remain
// unspecified, as in C++ and PyTorch.
template <typename S, typename D>
inline D convert(S v) {
  if constexpr (std::is_floating_point_v<S> && std::is_integral_v<D> && sizeof(D) < 8)
    return static_cast<D>(static_cast<int64_t>(v));
  else
    return static_cast<D>(v);
}
}  // namespace

template <typename S, typename D>
void cast(const S* src, D* dst, int64_t n) {
  TG_CHECK(n >= 0, "cast", "negative size ", n);
  if constexpr (std::is_same_v<S, D>) {
    copy(src, Strided{1, {n}, {1}}, dst);
  } else {
    detail::parallel_flat(n, [&](int64_t i) { dst[i] = convert<S, D>(src[i]); });
  }
}

TG_ELEMENTWISE_INSTANTIATE()

}  // namespace tg::kernels::cpu
