// Unary, scalar and broadcasting binary elementwise kernels, relu backward, axpy, fill, copy and
// cast on the GPU: the CUDA twins of kernels/cpu/elementwise.cpp, same semantics (NaN-propagating
// max/min, comparisons give 1 or 0, relu'(0) = 0, float-to-int casts truncate toward zero).
//
// Algorithm: the output is contiguous, each input a Strided view in the output's shape (stride 0
// on a broadcast axis, possibly negative). On the host the layout is first collapsed: size-1
// axes are dropped and neighbouring axes that every input walks as one (outer stride == inner
// stride * inner size) are merged, exactly as the CPU walk does. Most layouts then have one or
// two axes, and each shape gets its own grid-stride kernel, one thread per output element:
//   - 1 axis, every stride 1 (all inputs contiguous): out[i] = f(a[i], b[i]);
//   - 1 axis, other strides (a broadcast scalar, a reversed vector): a[i * sa];
//   - 2 axes (bias add: b broadcast over rows; a transposed matrix): one division per element,
//     in 32 bits when the output has fewer than 2^31 elements;
//   - 3 to 8 axes: the full index walk from the flat output index, in 64 bits.
// The layout travels by value as a kernel argument (at most 200 bytes), so nothing is copied to
// the device before a launch and a CUDA Graph captures the launch as it is. The op is a template
// functor chosen by a host switch, so each kernel body is one inlined expression.
// Cost: numel ops (exp, log, tanh, pow: a libdevice call each), (inputs + 1) * numel * sizeof(T)
// bytes. fill, cast: a flat kernel, no FLOPs, n elements written (and read). copy of a
// contiguous source is one cudaMemcpyAsync (device to device).
#include <cstdint>
#include <limits>
#include <type_traits>

#include "base/error.h"
#include "kernels/cuda/device.cuh"
#include "kernels/cuda/runtime.h"
#include "kernels/elementwise.h"

namespace tg::kernels::cuda {

namespace {

constexpr int kThreads = 256;

// The collapsed layout: N inputs' strides in a shape of ndim axes (ndim >= 1).
template <int N>
struct Layout {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t st[N][kMaxDims] = {};
};

template <typename T, int N>
struct Inputs {
  const T* p[N];
};

// shape: the output shape (its strides are ignored); in[k]: input k's strides in that shape.
template <int N>
Layout<N> collapse(const Strided& shape, const Strided* const (&in)[N]) {
  Layout<N> l;
  for (int d = 0; d < shape.ndim; ++d) {
    const int64_t n = shape.shape[d];
    if (n == 1) continue;
    bool merge = l.ndim > 0;
    for (int k = 0; k < N && merge; ++k) merge = l.st[k][l.ndim - 1] == in[k]->strides[d] * n;
    if (merge) {
      l.shape[l.ndim - 1] *= n;
      for (int k = 0; k < N; ++k) l.st[k][l.ndim - 1] = in[k]->strides[d];
    } else {
      l.shape[l.ndim] = n;
      for (int k = 0; k < N; ++k) l.st[k][l.ndim] = in[k]->strides[d];
      ++l.ndim;
    }
  }
  if (l.ndim == 0) {  // every axis had size 1: one element, strides 0
    l.ndim = 1;
    l.shape[0] = 1;
  }
  return l;
}

template <typename T, typename F>
__device__ __forceinline__ T eval(const F& f, const Inputs<T, 1>& in, const int64_t* off) {
  return f(in.p[0][off[0]]);
}
template <typename T, typename F>
__device__ __forceinline__ T eval(const F& f, const Inputs<T, 2>& in, const int64_t* off) {
  return f(in.p[0][off[0]], in.p[1][off[1]]);
}

// No __restrict__ on the kernels' pointers: in-place use (out == an input, gx == gy, y == x) is
// legitimate, and every thread reads its elements before writing them.
template <typename T, int N, typename F>
__global__ void map_contiguous(Inputs<T, N> in, T* out, int64_t n, F f) {
  TG_GRID_STRIDE(i, n) {
    int64_t off[N];
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] = i;
    out[i] = eval(f, in, off);
  }
}

template <typename T, int N, typename F>
__global__ void map_1d(Inputs<T, N> in, Layout<N> l, T* out, int64_t n, F f) {
  TG_GRID_STRIDE(i, n) {
    int64_t off[N];
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] = i * l.st[k][0];
    out[i] = eval(f, in, off);
  }
}

// Idx: the type of the row/column division, uint32_t when n < 2^31 (several times cheaper than
// a 64-bit division), else int64_t. Offsets are always 64-bit: a view's strides may be large.
template <typename T, int N, typename Idx, typename F>
__global__ void map_2d(Inputs<T, N> in, Layout<N> l, T* out, int64_t n, F f) {
  const Idx cols = static_cast<Idx>(l.shape[1]);
  TG_GRID_STRIDE(i, n) {
    const Idx e = static_cast<Idx>(i);
    const Idx r = e / cols, c = e - r * cols;
    int64_t off[N];
#pragma unroll
    for (int k = 0; k < N; ++k)
      off[k] = static_cast<int64_t>(r) * l.st[k][0] + static_cast<int64_t>(c) * l.st[k][1];
    out[i] = eval(f, in, off);
  }
}

template <typename T, int N, typename F>
__global__ void map_nd(Inputs<T, N> in, Layout<N> l, T* out, int64_t n, F f) {
  TG_GRID_STRIDE(i, n) {
    int64_t off[N] = {};
    int64_t rem = i;
    // Unrolled over the fixed maximum (axes past ndim skipped) so that the layout is read from
    // the kernel's parameter bank at constant offsets rather than copied to local memory.
#pragma unroll
    for (int j = 0; j < kMaxDims; ++j) {
      const int d = kMaxDims - 1 - j;
      if (d >= l.ndim) continue;
      const int64_t q = rem / l.shape[d], id = rem - q * l.shape[d];
      rem = q;
#pragma unroll
      for (int k = 0; k < N; ++k) off[k] += id * l.st[k][d];
    }
    out[i] = eval(f, in, off);
  }
}

// out (contiguous, in shape's shape) = f(inputs), every input walked in that shape.
template <typename T, int N, typename F>
void launch_map(const Strided& shape, const Strided* const (&ss)[N], const T* const (&ptrs)[N],
                T* out, F f) {
  const int64_t n = shape.numel();
  if (n == 0) return;
  const Layout<N> l = collapse<N>(shape, ss);
  Inputs<T, N> in;
  for (int k = 0; k < N; ++k) in.p[k] = ptrs[k];
  cudaStream_t stream = current_stream();
  const unsigned blocks = blocks_for(n, kThreads);
  bool unit = l.ndim == 1;
  for (int k = 0; k < N; ++k) unit = unit && l.st[k][0] == 1;
  if (unit) {
    map_contiguous<<<blocks, kThreads, 0, stream>>>(in, out, n, f);
    TG_CUDA_CHECK_LAUNCH("map_contiguous");
  } else if (l.ndim == 1) {
    map_1d<<<blocks, kThreads, 0, stream>>>(in, l, out, n, f);
    TG_CUDA_CHECK_LAUNCH("map_1d");
  } else if (l.ndim == 2 && n <= std::numeric_limits<int32_t>::max()) {
    map_2d<T, N, uint32_t><<<blocks, kThreads, 0, stream>>>(in, l, out, n, f);
    TG_CUDA_CHECK_LAUNCH("map_2d");
  } else if (l.ndim == 2) {
    map_2d<T, N, int64_t><<<blocks, kThreads, 0, stream>>>(in, l, out, n, f);
    TG_CUDA_CHECK_LAUNCH("map_2d");
  } else {
    map_nd<<<blocks, kThreads, 0, stream>>>(in, l, out, n, f);
    TG_CUDA_CHECK_LAUNCH("map_nd");
  }
}

// The libdevice function of the argument's precision (expf for float, exp for double).
template <typename T>
__device__ __forceinline__ T dexp(T v) {
  if constexpr (std::is_same_v<T, float>)
    return expf(v);
  else
    return exp(v);
}
template <typename T>
__device__ __forceinline__ T dlog(T v) {
  if constexpr (std::is_same_v<T, float>)
    return logf(v);
  else
    return log(v);
}
template <typename T>
__device__ __forceinline__ T dsqrt(T v) {
  if constexpr (std::is_same_v<T, float>)
    return sqrtf(v);
  else
    return sqrt(v);
}
template <typename T>
__device__ __forceinline__ T dtanh(T v) {
  if constexpr (std::is_same_v<T, float>)
    return tanhf(v);
  else
    return tanh(v);
}
template <typename T>
__device__ __forceinline__ T dabs(T v) {
  if constexpr (std::is_same_v<T, float>)
    return fabsf(v);
  else
    return fabs(v);
}
template <typename T>
__device__ __forceinline__ T dpow(T v, T s) {
  if constexpr (std::is_same_v<T, float>)
    return powf(v, s);
  else
    return pow(v, s);
}

// max/min that propagate NaN from either side, as the CPU's nan_max/nan_min (and torch.maximum).
template <typename T>
__device__ __forceinline__ T nan_max(T a, T b) {
  return ((a > b) | (a != a)) ? a : b;
}
template <typename T>
__device__ __forceinline__ T nan_min(T a, T b) {
  return ((a < b) | (a != a)) ? a : b;
}

template <typename T, UnaryOp Op>
struct UnaryF {
  __device__ T operator()(T v) const {
    if constexpr (Op == UnaryOp::neg)
      return -v;
    else if constexpr (Op == UnaryOp::exp)
      return dexp(v);
    else if constexpr (Op == UnaryOp::log)
      return dlog(v);
    else if constexpr (Op == UnaryOp::relu)
      return v < T(0) ? T(0) : v;  // relu(NaN) = NaN
    else if constexpr (Op == UnaryOp::sqrt)
      return dsqrt(v);
    else if constexpr (Op == UnaryOp::abs)
      return dabs(v);
    else if constexpr (Op == UnaryOp::tanh)
      return dtanh(v);
    else if constexpr (Op == UnaryOp::sigmoid)
      return T(1) / (T(1) + dexp(-v));  // no NaN at ends
    else if constexpr (Op == UnaryOp::square)
      return v * v;
    else
      return T(1) / v;  // reciprocal
  }
};

template <typename T, ScalarOp Op>
struct ScalarF {
  T s;
  __device__ T operator()(T v) const {
    if constexpr (Op == ScalarOp::add)
      return v + s;
    else if constexpr (Op == ScalarOp::mul)
      return v * s;
    else if constexpr (Op == ScalarOp::pow)
      return dpow(v, s);
    else if constexpr (Op == ScalarOp::rsub)
      return s - v;
    else if constexpr (Op == ScalarOp::rdiv)
      return s / v;
    else if constexpr (Op == ScalarOp::max)
      return nan_max(v, s);
    else
      return nan_min(v, s);
  }
};

template <typename T, BinaryOp Op>
struct BinaryF {
  __device__ T operator()(T u, T v) const {
    if constexpr (Op == BinaryOp::add)
      return u + v;
    else if constexpr (Op == BinaryOp::sub)
      return u - v;
    else if constexpr (Op == BinaryOp::mul)
      return u * v;
    else if constexpr (Op == BinaryOp::div)
      return u / v;
    else if constexpr (Op == BinaryOp::max)
      return nan_max(u, v);
    else if constexpr (Op == BinaryOp::min)
      return nan_min(u, v);
    else if constexpr (Op == BinaryOp::eq)
      return u == v ? T(1) : T(0);
    else if constexpr (Op == BinaryOp::ne)
      return u != v ? T(1) : T(0);
    else if constexpr (Op == BinaryOp::lt)
      return u < v ? T(1) : T(0);
    else if constexpr (Op == BinaryOp::le)
      return u <= v ? T(1) : T(0);
    else if constexpr (Op == BinaryOp::gt)
      return u > v ? T(1) : T(0);
    else
      return u >= v ? T(1) : T(0);  // ge
  }
};

template <typename T>
struct Identity {
  __device__ T operator()(T v) const { return v; }
};

template <typename T>
__global__ void relu_backward_kernel(const T* x, const T* gy, T* gx, int64_t n) {
  TG_GRID_STRIDE(i, n) gx[i] = x[i] > T(0) ? gy[i] : T(0);
}

template <typename T>
__global__ void axpy_kernel(int64_t n, T alpha, const T* x, T* y) {
  TG_GRID_STRIDE(i, n) y[i] += alpha * x[i];
}

template <typename T>
__global__ void fill_kernel(T* __restrict__ dst, int64_t n, T value) {
  TG_GRID_STRIDE(i, n) dst[i] = value;
}

// As the CPU's convert: float to a narrow integer through int64_t (truncation toward zero, then
// a modular wrap, so -1.0f -> uint8 gives 255); NaN and |x| >= 2^63 are unspecified.
template <typename S, typename D>
__device__ __forceinline__ D convert(S v) {
  if constexpr (std::is_floating_point_v<S> && std::is_integral_v<D> && sizeof(D) < 8)
    return static_cast<D>(static_cast<int64_t>(v));
  else
    return static_cast<D>(v);
}

template <typename S, typename D>
__global__ void cast_kernel(const S* __restrict__ src, D* __restrict__ dst, int64_t n) {
  TG_GRID_STRIDE(i, n) dst[i] = convert<S, D>(src[i]);
}

}  // namespace

template <typename T>
void unary(UnaryOp op, const T* x, const Strided& xs, T* out) {
  const char* name = "unary";
  kernels::detail::strided_check(name, xs);
  const Strided* ss[1] = {&xs};
  const T* ps[1] = {x};
  auto run = [&](auto f) { launch_map<T, 1>(xs, ss, ps, out, f); };
  switch (op) {
    case UnaryOp::neg:
      return run(UnaryF<T, UnaryOp::neg>{});
    case UnaryOp::exp:
      return run(UnaryF<T, UnaryOp::exp>{});
    case UnaryOp::log:
      return run(UnaryF<T, UnaryOp::log>{});
    case UnaryOp::relu:
      return run(UnaryF<T, UnaryOp::relu>{});
    case UnaryOp::sqrt:
      return run(UnaryF<T, UnaryOp::sqrt>{});
    case UnaryOp::abs:
      return run(UnaryF<T, UnaryOp::abs>{});
    case UnaryOp::tanh:
      return run(UnaryF<T, UnaryOp::tanh>{});
    case UnaryOp::sigmoid:
      return run(UnaryF<T, UnaryOp::sigmoid>{});
    case UnaryOp::square:
      return run(UnaryF<T, UnaryOp::square>{});
    case UnaryOp::reciprocal:
      return run(UnaryF<T, UnaryOp::reciprocal>{});
  }
  TG_FAIL(name, "unknown UnaryOp ", static_cast<int>(op));
}

template <typename T>
void scalar_op(ScalarOp op, const T* x, const Strided& xs, T s, T* out) {
  const char* name = "scalar_op";
  kernels::detail::strided_check(name, xs);
  const Strided* ss[1] = {&xs};
  const T* ps[1] = {x};
  auto run = [&](auto f) { launch_map<T, 1>(xs, ss, ps, out, f); };
  switch (op) {
    case ScalarOp::add:
      return run(ScalarF<T, ScalarOp::add>{s});
    case ScalarOp::mul:
      return run(ScalarF<T, ScalarOp::mul>{s});
    case ScalarOp::pow:
      // x^2 (squared errors) as v * v: exact, no libdevice call, and what the CPU computes.
      if (s == T(2)) return run(UnaryF<T, UnaryOp::square>{});
      return run(ScalarF<T, ScalarOp::pow>{s});
    case ScalarOp::rsub:
      return run(ScalarF<T, ScalarOp::rsub>{s});
    case ScalarOp::rdiv:
      return run(ScalarF<T, ScalarOp::rdiv>{s});
    case ScalarOp::max:
      return run(ScalarF<T, ScalarOp::max>{s});
    case ScalarOp::min:
      return run(ScalarF<T, ScalarOp::min>{s});
  }
  TG_FAIL(name, "unknown ScalarOp ", static_cast<int>(op));
}

template <typename T>
void binary(BinaryOp op, const T* a, const Strided& as, const T* b, const Strided& bs, T* out) {
  const char* name = "binary";
  kernels::detail::binary_check(name, as, bs);
  const Strided* ss[2] = {&as, &bs};
  const T* ps[2] = {a, b};
  auto run = [&](auto f) { launch_map<T, 2>(as, ss, ps, out, f); };
  switch (op) {
    case BinaryOp::add:
      return run(BinaryF<T, BinaryOp::add>{});
    case BinaryOp::sub:
      return run(BinaryF<T, BinaryOp::sub>{});
    case BinaryOp::mul:
      return run(BinaryF<T, BinaryOp::mul>{});
    case BinaryOp::div:
      return run(BinaryF<T, BinaryOp::div>{});
    case BinaryOp::max:
      return run(BinaryF<T, BinaryOp::max>{});
    case BinaryOp::min:
      return run(BinaryF<T, BinaryOp::min>{});
    case BinaryOp::eq:
      return run(BinaryF<T, BinaryOp::eq>{});
    case BinaryOp::ne:
      return run(BinaryF<T, BinaryOp::ne>{});
    case BinaryOp::lt:
      return run(BinaryF<T, BinaryOp::lt>{});
    case BinaryOp::le:
      return run(BinaryF<T, BinaryOp::le>{});
    case BinaryOp::gt:
      return run(BinaryF<T, BinaryOp::gt>{});
    case BinaryOp::ge:
      return run(BinaryF<T, BinaryOp::ge>{});
  }
  TG_FAIL(name, "unknown BinaryOp ", static_cast<int>(op));
}

template <typename T>
void relu_backward(const T* x, const T* gy, T* gx, int64_t n) {
  TG_CHECK(n >= 0, "relu_backward", "negative size ", n);
  if (n == 0) return;
  relu_backward_kernel<<<blocks_for(n, kThreads), kThreads, 0, current_stream()>>>(x, gy, gx, n);
  TG_CUDA_CHECK_LAUNCH("relu_backward_kernel");
}

template <typename T>
void axpy(int64_t n, T alpha, const T* x, T* y) {
  TG_CHECK(n >= 0, "axpy", "negative size ", n);
  if (n == 0) return;
  axpy_kernel<<<blocks_for(n, kThreads), kThreads, 0, current_stream()>>>(n, alpha, x, y);
  TG_CUDA_CHECK_LAUNCH("axpy_kernel");
}

template <typename T>
void fill(T* dst, int64_t n, T value) {
  TG_CHECK(n >= 0, "fill", "negative size ", n);
  if (n == 0) return;
  fill_kernel<<<blocks_for(n, kThreads), kThreads, 0, current_stream()>>>(dst, n, value);
  TG_CUDA_CHECK_LAUNCH("fill_kernel");
}

template <typename T>
void copy(const T* src, const Strided& ss, T* dst) {
  kernels::detail::strided_check("copy", ss);
  const int64_t n = ss.numel();
  if (n == 0) return;
  if (ss.contiguous()) {
    TG_CUDA_CHECK(cudaMemcpyAsync(dst, src, static_cast<size_t>(n) * sizeof(T),
                                  cudaMemcpyDeviceToDevice, current_stream()));
    return;
  }
  const Strided* sp[1] = {&ss};
  const T* ps[1] = {src};
  launch_map<T, 1>(ss, sp, ps, dst, Identity<T>{});
}

template <typename S, typename D>
void cast(const S* src, D* dst, int64_t n) {
  TG_CHECK(n >= 0, "cast", "negative size ", n);
  if (n == 0) return;
  if constexpr (std::is_same_v<S, D>) {
    TG_CUDA_CHECK(cudaMemcpyAsync(dst, src, static_cast<size_t>(n) * sizeof(S),
                                  cudaMemcpyDeviceToDevice, current_stream()));
  } else {
    cast_kernel<<<blocks_for(n, kThreads), kThreads, 0, current_stream()>>>(src, dst, n);
    TG_CUDA_CHECK_LAUNCH("cast_kernel");
  }
}

TG_ELEMENTWISE_INSTANTIATE()

}  // namespace tg::kernels::cuda
