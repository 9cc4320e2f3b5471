// GEMM on the CPU: C = alpha * op(A) * op(B) + beta * C, all matrices row-major.
//
// op(A) is m x k: A is stored as m x k (leading dimension lda >= k) when trans_a is false, and
// as k x m (lda >= m) when it is true; likewise op(B) is k x n. C is m x n with ldc >= n.
// beta == 0 means C is written, never read (it may hold NaNs).
// Cost: 2*m*n*k FLOPs; at least 4*(m*k + k*n + 2*m*n) bytes moved.
//
// The ladder, slowest first, all with the same signature so tests and bench/ treat them alike.
// Every rung is exact up to float rounding; none depends on the thread count (each C element
// is summed by one thread in a fixed k order), so results are bit-identical for any
// OMP_NUM_THREADS.
#pragma once

#include <cstdint>

namespace tg::kernels::cpu {

using GemmFn = void (*)(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                        const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
                        float* c, int64_t ldc);

// 1. Naive i-j-k triple loop with a dot product per element (strided walk down B).
void gemm_naive(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                int64_t ldc);
// 2. i-k-j order: the inner loop streams a row of B and a row of C, so it vectorises.
void gemm_reordered(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                    const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                    int64_t ldc);
// 3. Cache-blocked i-k-j: tiles of A, B and C sized for L1/L2.
void gemm_blocked(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                  const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                  int64_t ldc);
// 4. Packed panels of A and B and a register-blocked micro-kernel (single thread).
void gemm_packed(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                 const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                 int64_t ldc);
// 5. The library's GEMM: rung 4 parallelised with OpenMP over tiles of C.
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
          const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
          int64_t ldc);

// Double precision, used by gradcheck and the reference tests: cache-blocked, OpenMP over rows.
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
          const double* a, int64_t lda, const double* b, int64_t ldb, double beta, double* c,
          int64_t ldc);

}  // namespace tg::kernels::cpu
