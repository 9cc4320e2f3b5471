// Helpers shared by the CPU kernels (internal, not installed API): the size above which a loop
// is worth an OpenMP team, a flat elementwise loop, a reusable scratch buffer, the fixed-order
// tree reduction that sums, maxima and the cross-entropy mean are built on, and the convs'
// zero-padded plane copies.
//
// tree_reduce costs n-1 applications of f and reads n elements once. Its order of operations
// depends only on n, never on the thread count or alignment, so its result is reproducible;
// for sums its rounding error grows like O(log n) ulps instead of the O(n) of a running sum.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace tg::kernels::cpu::detail {

// Below this many elements a loop stays on the calling thread. In a training loop the other
// threads have gone to sleep between steps, and waking them costs far more than the few
// microseconds a back-to-back microbenchmark shows: with 32768 here, the course MLP (784-50-10,
// batch 64) ran an epoch slower on two threads than on one (0.19-0.29 s against 0.14 s);
// with 262144 (and gemm_packed's own threshold raised likewise) two threads take 0.12-0.15 s
// and the wide MLP's epoch drops from 0.92-1.07 s to 0.77-0.92 s (bench_train, 2-core EPYC,
// 2026-11-25, docs/benchmarks.md). A 1 MiB float loop streams in tens of microseconds.
inline constexpr int64_t kParallelMin = 262144;

// f(i) for i in [0, n), spread over the OpenMP threads (schedule static) when parallel is
// true, else on the calling thread. Unlike "#pragma omp parallel for if (cond)", the serial
// case never enters OpenMP: an if(false) region still makes a team of one (a GOMP_parallel
// call per loop), and the small steps of a training loop run many such loops.
template <typename F>
inline void parallel_for(int64_t n, bool parallel, F&& f) {
  if (parallel) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) f(i);
  } else {
    for (int64_t i = 0; i < n; ++i) f(i);
  }
}

// f(i) for i in [0, n): vectorised, and spread over the OpenMP threads for large n.
template <typename F>
inline void parallel_flat(int64_t n, F&& f) {
  if (n >= kParallelMin) {
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; ++i) f(i);
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) f(i);
  }
}

// A buffer of at least n elements owned by the calling thread and reused across calls, so a
// kernel called every training step allocates only on its first (largest) call. Tag keeps
// apart two buffers of one type needed at the same time (a resize would move the other).
template <typename T, int Tag = 0>
T* scratch(int64_t n) {
  thread_local std::vector<T> buf;
  if (static_cast<int64_t>(buf.size()) < n) buf.resize(static_cast<std::size_t>(n));
  return buf.data();
}

// Interleaved accumulators of one leaf block: acc[k] takes x[k], x[k+16], ... . Sixteen
// independent chains fill an AVX-512 float register (two of them for doubles) and keep the
// adds pipelined; the chains are combined in a fixed tree, so the result does not depend on
// how the compiler vectorised the loop.
inline constexpr int kLanes = 16;
inline constexpr int64_t kLeaf = 256;

// f-reduction of x[0..n), n >= 1, f associative-in-spirit (+, NaN-propagating max/min):
// leaves of at most kLeaf elements, longer ranges split in two halves recursively (pairwise).
template <typename T, typename F>
T tree_reduce(const T* x, int64_t n, F f) {
  if (n < kLanes) {
    T s = x[0];
    for (int64_t i = 1; i < n; ++i) s = f(s, x[i]);
    return s;
  }
  if (n <= kLeaf) {
    T acc[kLanes];
    for (int k = 0; k < kLanes; ++k) acc[k] = x[k];
    int64_t i = kLanes;
    for (; i + kLanes <= n; i += kLanes) {
#pragma omp simd
      for (int k = 0; k < kLanes; ++k) acc[k] = f(acc[k], x[i + k]);
    }
    for (int k = 0; i + k < n; ++k) acc[k] = f(acc[k], x[i + k]);
    for (int w = kLanes / 2; w >= 1; w /= 2)
      for (int k = 0; k < w; ++k) acc[k] = f(acc[k], acc[k + w]);
    return acc[0];
  }
  // Split on a multiple of kLanes so the left half's leaves stay full.
  const int64_t h = (n / 2) / kLanes * kLanes;
  return f(tree_reduce(x, h, f), tree_reduce(x + h, n - h, f));
}

template <typename T>
T tree_sum(const T* x, int64_t n) {
  if (n == 0) return T(0);
  return tree_reduce(x, n, [](T a, T b) { return a + b; });
}

// nb images of ch channels (rows x cols planes, row-major; image b's first plane at
// src + b*image_stride) into zero-padded planes, one after another: plane (b, c) at
// pad + (b*ch + c)*plane, its row i at row top + i and column left, rows wp apart (the convs'
// padded copies of an input or a gradient).
template <typename T>
void pad_planes(const T* src, int64_t image_stride, int64_t nb, int64_t ch, int64_t rows,
                int64_t cols, int64_t wp, int64_t plane, int64_t top, int64_t left, T* pad) {
  std::fill(pad, pad + nb * ch * plane, T(0));
  for (int64_t b = 0; b < nb; ++b)
    for (int64_t c = 0; c < ch; ++c) {
      const T* sp = src + b * image_stride + c * rows * cols;
      T* dp = pad + (b * ch + c) * plane + top * wp + left;
      for (int64_t i = 0; i < rows; ++i) std::copy(sp + i * cols, sp + (i + 1) * cols, dp + i * wp);
    }
}

// max/min that propagate NaN (as torch.max/torch.maximum do): a NaN on either side wins.
// Written with | rather than || so that the compiler sees no branch and vectorises it.
template <typename T>
inline T nan_max(T a, T b) {
  return ((a > b) | (a != a)) ? a : b;
}
template <typename T>
inline T nan_min(T a, T b) {
  return ((a < b) | (a != a)) ? a : b;
}

}  // namespace tg::kernels::cpu::detail
