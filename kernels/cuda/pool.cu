// Max, average and adaptive average pooling on the GPU, forward and backward (the twins of
// kernels/cpu/pool.cpp; kernels/pool.h has the contract).
//
// Forward: one thread per output element walks its window in row-major order, clipped to the
// input, exactly as the CPU does (max keeps the first strict maximum, a NaN wins at once;
// average sums in that order and divides by PyTorch's divisor), so the forward results equal
// the CPU's bit for bit.
// Backward: a gather, one thread per input element, instead of the CPU's scatter: the thread
// visits every output window that covers its element in output order (rows, then columns,
// ascending) and adds that output's share (max: its gradient when the output's index is this
// element; average: gy / divisor, the CPU's very quotient). Those are the CPU's additions into
// that element, in the CPU's order, so the gradients match bit for bit too; no atomics, so they
// do not change from run to run.
// Cost: planes*oh*ow*kh*kw compares or adds forward, about as many backward; the input and the
// output are each read or written once (plus the int32 indices of max).
#include <climits>
#include <cstdint>
#include <limits>

#include "base/error.h"
#include "kernels/cuda/device.cuh"
#include "kernels/cuda/runtime.h"
#include "kernels/pool.h"

namespace tg::kernels::cuda {

namespace {

constexpr int kThreads = 256;

// PyTorch's average window of output o in one dim (kernels/cpu/pool.cpp: avg_span).
struct Span {
  int64_t start, end, padded;
};
__device__ inline Span avg_span(int64_t o, int64_t stride, int64_t pad, int64_t kernel,
                                int64_t in) {
  const int64_t start = o * stride - pad;
  const int64_t end = start + kernel < in + pad ? start + kernel : in + pad;
  return {start > 0 ? start : 0, end < in ? end : in, end - start};
}

__device__ inline int64_t adaptive_start(int64_t o, int64_t in, int64_t out) {
  return (o * in) / out;
}
__device__ inline int64_t adaptive_end(int64_t o, int64_t in, int64_t out) {
  return ((o + 1) * in + out - 1) / out;
}

// The outputs [lo, hi] of one dim whose window (o*stride - pad + a*dil, a < kernel) may cover
// input position r, for the pools with a fixed kernel; callers still check each one.
struct Range {
  int64_t lo, hi;
};
__device__ inline Range covering(int64_t r, int64_t stride, int64_t pad, int64_t kernel,
                                 int64_t dil, int64_t out) {
  const int64_t top = r + pad;                          // o*stride <= r + pad
  const int64_t bottom = r + pad - dil * (kernel - 1);  // o*stride >= this
  int64_t lo = bottom <= 0 ? 0 : (bottom + stride - 1) / stride;
  int64_t hi = top / stride;
  if (hi > out - 1) hi = out - 1;
  return {lo, hi};
}

template <typename T>
__device__ inline bool is_nan(T v) {
  return v != v;
}

template <typename T>
__global__ void max_pool_kernel(const T* __restrict__ x, Pool2dShape s, T* __restrict__ y,
                                int32_t* __restrict__ idx) {
  TG_GRID_STRIDE(e, s.planes * s.oh * s.ow) {
    const int64_t j = e % s.ow, i = (e / s.ow) % s.oh, p = e / (s.ow * s.oh);
    const T* xp = x + p * s.h * s.w;
    T best = -std::numeric_limits<T>::infinity();
    int64_t at = -1;
    bool done = false;
    for (int64_t a = 0; a < s.kh && !done; ++a) {
      const int64_t r = i * s.sh - s.ph + a * s.dh;
      if (r < 0 || r >= s.h) continue;
      for (int64_t b = 0; b < s.kw; ++b) {
        const int64_t c = j * s.sw - s.pw + b * s.dw;
        if (c < 0 || c >= s.w) continue;
        const T v = xp[r * s.w + c];
        if (at < 0 || v > best || is_nan(v)) {
          best = v;
          at = r * s.w + c;
          if (is_nan(v)) {  // NaN propagates: the first one wins
            done = true;
            break;
          }
        }
      }
    }
    y[e] = best;
    idx[e] = static_cast<int32_t>(at);
  }
}

template <typename T>
__global__ void max_pool_backward_kernel(const T* __restrict__ gy, const int32_t* __restrict__ idx,
                                         Pool2dShape s, T* __restrict__ gx) {
  TG_GRID_STRIDE(e, s.planes * s.h * s.w) {
    const int64_t c = e % s.w, r = (e / s.w) % s.h, p = e / (s.w * s.h);
    const int64_t here = r * s.w + c, base = p * s.oh * s.ow;
    const Range ri = covering(r, s.sh, s.ph, s.kh, s.dh, s.oh);
    const Range rj = covering(c, s.sw, s.pw, s.kw, s.dw, s.ow);
    T acc = T(0);
    for (int64_t i = ri.lo; i <= ri.hi; ++i)
      for (int64_t j = rj.lo; j <= rj.hi; ++j)
        if (idx[base + i * s.ow + j] == here) acc += gy[base + i * s.ow + j];
    gx[e] = acc;
  }
}

template <typename T>
__global__ void avg_pool_kernel(const T* __restrict__ x, Pool2dShape s, bool count_include_pad,
                                T* __restrict__ y) {
  TG_GRID_STRIDE(e, s.planes * s.oh * s.ow) {
    const int64_t j = e % s.ow, i = (e / s.ow) % s.oh, p = e / (s.ow * s.oh);
    const T* xp = x + p * s.h * s.w;
    const Span rs = avg_span(i, s.sh, s.ph, s.kh, s.h), cs = avg_span(j, s.sw, s.pw, s.kw, s.w);
    T sum = T(0);
    for (int64_t r = rs.start; r < rs.end; ++r)
      for (int64_t c = cs.start; c < cs.end; ++c) sum += xp[r * s.w + c];
    const int64_t n =
        count_include_pad ? rs.padded * cs.padded : (rs.end - rs.start) * (cs.end - cs.start);
    y[e] = n > 0 ? sum / static_cast<T>(n) : T(0);
  }
}

template <typename T>
__global__ void avg_pool_backward_kernel(const T* __restrict__ gy, Pool2dShape s,
                                         bool count_include_pad, T* __restrict__ gx) {
  TG_GRID_STRIDE(e, s.planes * s.h * s.w) {
    const int64_t c = e % s.w, r = (e / s.w) % s.h, p = e / (s.w * s.h);
    const T* g = gy + p * s.oh * s.ow;
    const Range ri = covering(r, s.sh, s.ph, s.kh, 1, s.oh);
    const Range rj = covering(c, s.sw, s.pw, s.kw, 1, s.ow);
    T acc = T(0);
    for (int64_t i = ri.lo; i <= ri.hi; ++i) {
      const Span rs = avg_span(i, s.sh, s.ph, s.kh, s.h);
      if (r < rs.start || r >= rs.end) continue;
      for (int64_t j = rj.lo; j <= rj.hi; ++j) {
        const Span cs = avg_span(j, s.sw, s.pw, s.kw, s.w);
        if (c < cs.start || c >= cs.end) continue;
        const int64_t n =
            count_include_pad ? rs.padded * cs.padded : (rs.end - rs.start) * (cs.end - cs.start);
        if (n <= 0) continue;
        acc += g[i * s.ow + j] / static_cast<T>(n);
      }
    }
    gx[e] = acc;
  }
}

template <typename T>
__global__ void adaptive_avg_pool_kernel(const T* __restrict__ x, Pool2dShape s,
                                         T* __restrict__ y) {
  TG_GRID_STRIDE(e, s.planes * s.oh * s.ow) {
    const int64_t j = e % s.ow, i = (e / s.ow) % s.oh, p = e / (s.ow * s.oh);
    const T* xp = x + p * s.h * s.w;
    const int64_t r0 = adaptive_start(i, s.h, s.oh), r1 = adaptive_end(i, s.h, s.oh);
    const int64_t c0 = adaptive_start(j, s.w, s.ow), c1 = adaptive_end(j, s.w, s.ow);
    T sum = T(0);
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = c0; c < c1; ++c) sum += xp[r * s.w + c];
    y[e] = sum / static_cast<T>((r1 - r0) * (c1 - c0));
  }
}

template <typename T>
__global__ void adaptive_avg_pool_backward_kernel(const T* __restrict__ gy, Pool2dShape s,
                                                  T* __restrict__ gx) {
  TG_GRID_STRIDE(e, s.planes * s.h * s.w) {
    const int64_t c = e % s.w, r = (e / s.w) % s.h, p = e / (s.w * s.h);
    const T* g = gy + p * s.oh * s.ow;
    // Outputs i with start(i) <= r < end(i): i in [floor(r*oh/h), floor(((r+1)*oh - 1)/h)].
    const int64_t i0 = (r * s.oh) / s.h, i1 = ((r + 1) * s.oh - 1) / s.h;
    const int64_t j0 = (c * s.ow) / s.w, j1 = ((c + 1) * s.ow - 1) / s.w;
    T acc = T(0);
    for (int64_t i = i0; i <= i1 && i < s.oh; ++i) {
      const int64_t r0 = adaptive_start(i, s.h, s.oh), r1 = adaptive_end(i, s.h, s.oh);
      if (r < r0 || r >= r1) continue;
      for (int64_t j = j0; j <= j1 && j < s.ow; ++j) {
        const int64_t c0 = adaptive_start(j, s.w, s.ow), c1 = adaptive_end(j, s.w, s.ow);
        if (c < c0 || c >= c1) continue;
        acc += g[i * s.ow + j] / static_cast<T>((r1 - r0) * (c1 - c0));
      }
    }
    gx[e] = acc;
  }
}

}  // namespace

template <typename T>
void max_pool2d(const T* x, const Pool2dShape& s, T* y, int32_t* idx) {
  const int64_t n = s.planes * s.oh * s.ow;
  if (n == 0) return;
  max_pool_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, current_stream()>>>(x, s, y, idx);
  TG_CUDA_CHECK_LAUNCH("max_pool_kernel");
}

template <typename T>
void max_pool2d_backward(const T* gy, const int32_t* idx, const Pool2dShape& s, T* gx) {
  const int64_t n = s.planes * s.h * s.w;
  if (n == 0) return;
  max_pool_backward_kernel<T>
      <<<blocks_for(n, kThreads), kThreads, 0, current_stream()>>>(gy, idx, s, gx);
  TG_CUDA_CHECK_LAUNCH("max_pool_backward_kernel");
}

template <typename T>
void avg_pool2d(const T* x, const Pool2dShape& s, bool count_include_pad, T* y) {
  const int64_t n = s.planes * s.oh * s.ow;
  if (n == 0) return;
  avg_pool_kernel<T>
      <<<blocks_for(n, kThreads), kThreads, 0, current_stream()>>>(x, s, count_include_pad, y);
  TG_CUDA_CHECK_LAUNCH("avg_pool_kernel");
}

template <typename T>
void avg_pool2d_backward(const T* gy, const Pool2dShape& s, bool count_include_pad, T* gx) {
  const int64_t n = s.planes * s.h * s.w;
  if (n == 0) return;
  avg_pool_backward_kernel<T>
      <<<blocks_for(n, kThreads), kThreads, 0, current_stream()>>>(gy, s, count_include_pad, gx);
  TG_CUDA_CHECK_LAUNCH("avg_pool_backward_kernel");
}

template <typename T>
void adaptive_avg_pool2d(const T* x, const Pool2dShape& s, T* y) {
  const int64_t n = s.planes * s.oh * s.ow;
  if (n == 0) return;
  adaptive_avg_pool_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, current_stream()>>>(x, s, y);
  TG_CUDA_CHECK_LAUNCH("adaptive_avg_pool_kernel");
}

template <typename T>
void adaptive_avg_pool2d_backward(const T* gy, const Pool2dShape& s, T* gx) {
  const int64_t n = s.planes * s.h * s.w;
  if (n == 0) return;
  adaptive_avg_pool_backward_kernel<T>
      <<<blocks_for(n, kThreads), kThreads, 0, current_stream()>>>(gy, s, gx);
  TG_CUDA_CHECK_LAUNCH("adaptive_avg_pool_backward_kernel");
}

#define TG_POOL_CUDA(T)                                                                   \
  template void max_pool2d<T>(const T*, const Pool2dShape&, T*, int32_t*);                \
  template void max_pool2d_backward<T>(const T*, const int32_t*, const Pool2dShape&, T*); \
  template void avg_pool2d<T>(const T*, const Pool2dShape&, bool, T*);                    \
  template void avg_pool2d_backward<T>(const T*, const Pool2dShape&, bool, T*);           \
  template void adaptive_avg_pool2d<T>(const T*, const Pool2dShape&, T*);                 \
  template void adaptive_avg_pool2d_backward<T>(const T*, const Pool2dShape&, T*);
TG_POOL_CUDA(float)
TG_POOL_CUDA(double)
#undef TG_POOL_CUDA

}  // namespace tg::kernels::cuda
