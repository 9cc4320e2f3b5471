// What every CUDA GEMM (kernels/cuda/gemm_*.cu) shares: the host-side argument checks, the
// trivial cases that need no product (m or n == 0: nothing; k == 0 or alpha == 0: C = beta*C),
// the 1-D grid of C tiles, operand access with the transpose flag, and the alpha/beta epilogue.
//
// Contract (kernels/gemm.h): row-major C = alpha * op(A) * op(B) + beta * C, where op(A) is
// m x k (A stored m x k with lda >= k, or k x m with lda >= m when trans_a), op(B) is k x n,
// C is m x n with ldc >= n. beta == 0 writes C without reading it (it may hold NaNs).
#pragma once

#include <climits>
#include <cstdint>

#include "base/error.h"
#include "kernels/cuda/runtime.h"
#include "kernels/gemm.h"

namespace tg::kernels::cuda::gemm_detail {

// The CPU gemm's checks (kernels::detail::gemm_check, kernels/gemm.h), plus what the device
// kernels need: sizes that fit in int (the kernels index tiles with int; leading dimensions and
// element offsets stay int64) and device pointers where they will be read.
inline void check(const char* op, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                  const void* a, int64_t lda, const void* b, int64_t ldb, const void* c,
                  int64_t ldc) {
  kernels::detail::gemm_check(op, trans_a, trans_b, m, n, k, lda, ldb, ldc);
  TG_CHECK(m <= INT_MAX && n <= INT_MAX && k <= INT_MAX, op,
           "sizes beyond 2^31-1 are not supported on the GPU: m=", m, " n=", n, " k=", k);
  if (m > 0 && n > 0) {
    TG_CHECK(c != nullptr, op, "C is null for a ", m, " x ", n, " result");
    TG_CHECK(k == 0 || (a != nullptr && b != nullptr), op, "A or B is null with k=", k);
  }
}

// C = beta * C on the current stream (beta == 0 writes zeros without reading C; beta == 1
// launches nothing). Defined in gemm_cublas.cu.
void scale_c(int64_t m, int64_t n, float beta, float* c, int64_t ldc);
void scale_c(int64_t m, int64_t n, double beta, double* c, int64_t ldc);

// Handles the cases with no product to compute; returns true when the call is done. With
// alpha == 0, as in BLAS, A and B are not read.
template <typename T>
bool trivial(int64_t m, int64_t n, int64_t k, T alpha, T beta, T* c, int64_t ldc) {
  if (m == 0 || n == 0) return true;
  if (k == 0 || alpha == T(0)) {
    scale_c(m, n, beta, c, ldc);
    return true;
  }
  return false;
}

// A 1-D grid over the bm x bn tiles of C, tile (i, j) = block i * tiles_n + j: consecutive
// blocks walk along a row of tiles, so blocks running together share the same rows of A.
// A 1-D grid has room for 2^31-1 blocks, where gridDim.y would stop at 65535.
struct TileGrid {
  int tiles_n;
  unsigned blocks;
};
inline TileGrid tile_grid(const char* op, int64_t m, int64_t n, int bm, int bn) {
  const int64_t tm = (m + bm - 1) / bm, tn = (n + bn - 1) / bn;
  TG_CHECK(tm * tn <= INT_MAX, op, "too many ", bm, " x ", bn, " tiles for one grid: m=", m,
           " n=", n);
  return {static_cast<int>(tn), static_cast<unsigned>(tm * tn)};
}

// op(X)(r, c) for X stored row-major with leading dimension ld: X itself, or X^T when kTrans.
template <bool kTrans>
__device__ __forceinline__ float op_at(const float* __restrict__ x, int64_t ld, int64_t r,
                                       int64_t c) {
  return kTrans ? x[c * ld + r] : x[r * ld + c];
}

// The epilogue of one C element: alpha * acc + beta * C, C never read when beta == 0 (so a
// NaN there is overwritten, not propagated, as in BLAS).
__device__ __forceinline__ void store_c(float* __restrict__ c, float acc, float alpha, float beta) {
  *c = beta == 0.0f ? alpha * acc : fmaf(beta, *c, alpha * acc);
}

}  // namespace tg::kernels::cuda::gemm_detail
