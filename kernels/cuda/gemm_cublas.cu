// The library's GEMM on the GPU: cuBLAS, float and double, plus the C = beta*C kernel that
// every CUDA GEMM uses when there is no product (k == 0 or alpha == 0).
//
// cuBLAS is column-major; ours is row-major. A row-major m x n matrix with leading dimension
// ld is, byte for byte, a column-major n x m matrix with the same ld: its transpose. So
//   C = alpha op(A) op(B) + beta C   (row-major)
// is computed as
//   C^T = alpha op(B)^T op(A)^T + beta C^T   (column-major),
// a call with the operands swapped (B first), m and n swapped, and each operand's own
// transpose flag: B stored k x n row-major is op(B)^T as cuBLAS sees it when trans_b is false
// (CUBLAS_OP_N), and needs CUBLAS_OP_T when B is stored n x k. No data moves.
//
// Cost: 2*m*n*k FLOPs; at least 4*(m*k + k*n + 2*m*n) bytes (8* for double) from device
// memory. Float32 uses full-precision FMA units unless set_allow_tf32(true), which cublas_handle()
// turns into CUBLAS_TF32_TENSOR_OP_MATH (tensor cores, operands rounded to 10 mantissa bits).
// scale_c: m*n multiplies, 4*m*n bytes read and written (written only when beta == 0).
#include <climits>
#include <cstdint>

#include "kernels/cuda/cublas_api.h"
#include "kernels/cuda/device.cuh"
#include "kernels/cuda/gemm_common.cuh"
#include "kernels/cuda/runtime.h"
#include "kernels/gemm.h"

namespace tg::kernels::cuda {

namespace gemm_detail {

namespace {

// One thread per element of C, grid-stride over the m*n elements of the (possibly padded)
// matrix. The division by n is the price of padding; this kernel only runs when k == 0 or
// alpha == 0, never in the hot path.
template <typename T>
__global__ void scale_c_kernel(int64_t m, int64_t n, T beta, T* __restrict__ c, int64_t ldc) {
  TG_GRID_STRIDE(e, m * n) {
    T* ce = c + (e / n) * ldc + e % n;
    *ce = beta == T(0) ? T(0) : beta * *ce;
  }
}

template <typename T>
void scale_c_impl(int64_t m, int64_t n, T beta, T* c, int64_t ldc) {
  if (m == 0 || n == 0 || beta == T(1)) return;
  constexpr int kThreads = 256;
  scale_c_kernel<T>
      <<<blocks_for(m * n, kThreads), kThreads, 0, current_stream()>>>(m, n, beta, c, ldc);
  TG_CUDA_CHECK_LAUNCH("gemm scale_c_kernel");
}

}  // namespace

void scale_c(int64_t m, int64_t n, float beta, float* c, int64_t ldc) {
  scale_c_impl(m, n, beta, c, ldc);
}
void scale_c(int64_t m, int64_t n, double beta, double* c, int64_t ldc) {
  scale_c_impl(m, n, beta, c, ldc);
}

}  // namespace gemm_detail

namespace {

// cuBLAS takes int sizes and leading dimensions. Its other demand, leading dimensions >= 1, is
// met once trivial() has returned false: m, n, k >= 1 and check() bounds each ld below by one of
// them (the same bounds cuBLAS checks, read through the swap).
void check_cublas_ld(const char* op, int64_t lda, int64_t ldb, int64_t ldc) {
  TG_CHECK(lda <= INT_MAX && ldb <= INT_MAX && ldc <= INT_MAX, op,
           "leading dimensions beyond 2^31-1 are not supported by cuBLAS: lda=", lda, " ldb=", ldb,
           " ldc=", ldc);
}

cublasOperation_t op_of(bool trans) {
  return trans ? CUBLAS_OP_T : CUBLAS_OP_N;
}

}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  constexpr const char* kOp = "cuda::gemm";
  gemm_detail::check(kOp, trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc);
  check_cublas_ld(kOp, lda, ldb, ldc);
  if (gemm_detail::trivial(m, n, k, alpha, beta, c, ldc)) return;
  TG_CUBLAS_CHECK(cublas().sgemm(cublas_handle(), op_of(trans_b), op_of(trans_a),
                                 static_cast<int>(n), static_cast<int>(m), static_cast<int>(k),
                                 &alpha, b, static_cast<int>(ldb), a, static_cast<int>(lda), &beta,
                                 c, static_cast<int>(ldc)));
}

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
          const double* a, int64_t lda, const double* b, int64_t ldb, double beta, double* c,
          int64_t ldc) {
  constexpr const char* kOp = "cuda::gemm<double>";
  gemm_detail::check(kOp, trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc);
  check_cublas_ld(kOp, lda, ldb, ldc);
  if (gemm_detail::trivial(m, n, k, alpha, beta, c, ldc)) return;
  TG_CUBLAS_CHECK(cublas().dgemm(cublas_handle(), op_of(trans_b), op_of(trans_a),
                                 static_cast<int>(n), static_cast<int>(m), static_cast<int>(k),
                                 &alpha, b, static_cast<int>(ldb), a, static_cast<int>(lda), &beta,
                                 c, static_cast<int>(ldc)));
}

}  // namespace tg::kernels::cuda
