// GEMM rungs 1-3 (naive, reordered, blocked) and the double-precision gemm.
//
// C = alpha * op(A) * op(B) + beta * C, row-major; see kernels/gemm.h for the contract.
// Cost of every rung: 2*m*n*k FLOPs. What differs is the bytes moved through the memory
// hierarchy, which is what these three rungs are about:
//  1. naive     i-j-k: one dot product per C element; the k loop walks a column of B with
//               stride ldb, so each multiply-add touches a new cache line of B once n*4 bytes
//               exceed a line: ~m*n*k*4 bytes from memory for large n, and nothing vectorises.
//  2. reordered i-k-j: the inner loop runs along a row of B and a row of C, both contiguous, so
//               it vectorises (16 floats per AVX-512 instruction) and uses every byte of each
//               line. Still, each row of C is re-read k times and all of B is streamed once per
//               row of A: ~m*k*n*4 bytes from L2/L3 when B does not fit in cache.
//  3. blocked   the same i-k-j loop over tiles: a kKB x kNB tile of B (256 KiB) stays in L2
//               while kMB rows of A use it, so B is streamed from memory m/kMB times instead of
//               m times (~m*n*k*4/kMB bytes); the C tile row being updated stays in L1.
//               The inner loop still loads B and C and stores C for every 16 multiply-adds,
//               so it is bound by L1 traffic, not memory: on a machine whose prefetchers and
//               L3 already feed rung 2 well, blocking gains little (see docs/benchmarks.md).
//               Rung 4 (gemm_packed.cpp) removes that bound with register blocking.
// Accumulation order is fixed (k ascending per C element), so nothing depends on threads.
#include <algorithm>
#include <cstdint>

#include "base/error.h"
#include "kernels/gemm.h"

namespace tg::kernels::cpu {

namespace detail {

// C = beta * C; with beta == 0, C is only written (it may hold NaNs, and 0 * NaN is NaN).
template <typename T>
void gemm_scale_c(int64_t m, int64_t n, T beta, T* c, int64_t ldc) {
  if (beta == T(1)) return;
  for (int64_t i = 0; i < m; ++i) {
    T* ci = c + i * ldc;
    if (beta == T(0)) {
      std::fill(ci, ci + n, T(0));
    } else {
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) ci[j] *= beta;
    }
  }
}
template void gemm_scale_c<float>(int64_t, int64_t, float, float*, int64_t);

}  // namespace detail

namespace {

// Element strides of op(A) and op(B): op(A)(i, p) = a[i * rs + p * cs].
struct Strides {
  int64_t rs, cs;
};
Strides strides(bool trans, int64_t ld) {
  return trans ? Strides{1, ld} : Strides{ld, 1};
}

// C(i, 0..n) += s * op(B)(p, 0..n): the vectorisable inner loop of rungs 2 and 3. Split on the
// stride so that the common case is a plain contiguous loop the compiler turns into FMAs.
template <typename T>
inline void axpy_row(int64_t n, T s, const T* __restrict b, int64_t bcs, T* __restrict c) {
  if (bcs == 1) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) c[j] += s * b[j];
  } else {
    for (int64_t j = 0; j < n; ++j) c[j] += s * b[j * bcs];
  }
}

// Rung 3, shared by the float rung and the double gemm. Tiles: kMB rows of C (and A) x kKB of
// k x kNB columns of C (and B). A kKB x kNB tile of B is 256 KiB in float, so it stays in the
// 1 MiB L2 while kMB rows of A walk over it; a row of the C tile (kNB * 4 = 4 KiB) stays in L1
// across the kKB updates it receives. Wide, short tiles keep the vectorised inner loop long
// (measured at n = 1024: 64 x 64 x 1024 tiles 35-39 GFLOP/s, 64 x 256 x 256 tiles 21).
// With `parallel`, row tiles are shared among threads: every C element is still summed by
// one thread, p ascending.
constexpr int64_t kMB = 64, kKB = 64, kNB = 1024;

template <typename T>
void blocked(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
             int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc, bool parallel) {
  const Strides as = strides(trans_a, lda), bs = strides(trans_b, ldb);
  const int64_t row_tiles = (m + kMB - 1) / kMB;
#pragma omp parallel for schedule(static) if (parallel && row_tiles > 1)
  for (int64_t t = 0; t < row_tiles; ++t) {
    const int64_t i0 = t * kMB, i1 = std::min(m, i0 + kMB);
    detail::gemm_scale_c(i1 - i0, n, beta, c + i0 * ldc, ldc);
    if (k == 0 || alpha == T(0)) continue;
    for (int64_t p0 = 0; p0 < k; p0 += kKB) {
      const int64_t p1 = std::min(k, p0 + kKB);
      for (int64_t j0 = 0; j0 < n; j0 += kNB) {
        const int64_t nj = std::min(n, j0 + kNB) - j0;
        for (int64_t i = i0; i < i1; ++i) {
          for (int64_t p = p0; p < p1; ++p) {
            axpy_row(nj, alpha * a[i * as.rs + p * as.cs], b + p * bs.rs + j0 * bs.cs, bs.cs,
                     c + i * ldc + j0);
          }
        }
      }
    }
  }
}

}  // namespace

void gemm_naive(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                int64_t ldc) {
  kernels::detail::gemm_check("gemm_naive", trans_a, trans_b, m, n, k, lda, ldb, ldc);
  const Strides as = strides(trans_a, lda), bs = strides(trans_b, ldb);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      float s = 0.0f;
      for (int64_t p = 0; p < k; ++p) s += a[i * as.rs + p * as.cs] * b[p * bs.rs + j * bs.cs];
      float& cij = c[i * ldc + j];
      cij = beta == 0.0f ? alpha * s : alpha * s + beta * cij;
    }
  }
}

void gemm_reordered(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                    const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                    int64_t ldc) {
  kernels::detail::gemm_check("gemm_reordered", trans_a, trans_b, m, n, k, lda, ldb, ldc);
  const Strides as = strides(trans_a, lda), bs = strides(trans_b, ldb);
  for (int64_t i = 0; i < m; ++i) {
    float* ci = c + i * ldc;
    detail::gemm_scale_c(int64_t{1}, n, beta, ci, ldc);
    if (alpha == 0.0f) continue;
    for (int64_t p = 0; p < k; ++p) {
      axpy_row(n, alpha * a[i * as.rs + p * as.cs], b + p * bs.rs, bs.cs, ci);
    }
  }
}

void gemm_blocked(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                  const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                  int64_t ldc) {
  kernels::detail::gemm_check("gemm_blocked", trans_a, trans_b, m, n, k, lda, ldb, ldc);
  blocked(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, /*parallel=*/false);
}

// Double precision: rung 3 with row tiles shared among threads once the product is big enough
// to pay for waking them (~1 MFLOP).
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
          const double* a, int64_t lda, const double* b, int64_t ldb, double beta, double* c,
          int64_t ldc) {
  kernels::detail::gemm_check("gemm<double>", trans_a, trans_b, m, n, k, lda, ldb, ldc);
  const bool parallel = double(m) * double(n) * double(k) >= 512.0 * 1024.0;
  blocked(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, parallel);
}

}  // namespace tg::kernels::cpu
