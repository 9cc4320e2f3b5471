// GEMM rung 2 on the GPU: coalesced, one thread per element of C.
//
// C = alpha * op(A) * op(B) + beta * C, row-major (kernels/gemm.h). The same work as rung 1
// (gemm_naive.cu), one thread per C(i, j) running the whole k loop, with the thread layout
// turned around: threadIdx.x, the index along a warp, now picks the *column* j. In step p the
// 32 threads of a warp read op(B)(p, j..j+31), for B stored k x n 128 contiguous bytes (one
// transaction instead of 32), read op(A)(i, p) as one broadcast address, and store 128
// contiguous bytes of C.
// Cost: 2*m*n*k FLOPs; load traffic is still ~2*m*n*k*4 bytes from L1/L2 (every element is
// fetched again for every use), but in full cache lines. What remains is the bottleneck of
// rungs 1-2 alike: two loads per multiply-add. Rung 3 (gemm_smem.cu) reuses each loaded
// element 32 times from shared memory.
// With a transposed operand the roles swap (op(B) = B^T is read down a column of B): this rung
// is about the non-transposed case, and handles the others correctly, not fast.
#include <cstdint>

#include "kernels/cuda/gemm_common.cuh"
#include "kernels/cuda/runtime.h"
#include "kernels/gemm.h"

namespace tg::kernels::cuda {

namespace {

constexpr int kTile = 32;  // a block is a 32 x 32 tile of C, one thread per element
constexpr int kThreads = kTile * kTile;

template <bool kTransA, bool kTransB>
__global__ void __launch_bounds__(kThreads)
    gemm_coalesced_kernel(int m, int n, int k, float alpha, const float* __restrict__ a,
                          int64_t lda, const float* __restrict__ b, int64_t ldb, float beta,
                          float* __restrict__ c, int64_t ldc, int tiles_n) {
  const int64_t i = int64_t(blockIdx.x / tiles_n) * kTile + threadIdx.y;
  const int64_t j = int64_t(blockIdx.x % tiles_n) * kTile + threadIdx.x;  // along the warp
  if (i >= m || j >= n) return;
  float s = 0.0f;
  for (int p = 0; p < k; ++p) {
    s += gemm_detail::op_at<kTransA>(a, lda, i, p) * gemm_detail::op_at<kTransB>(b, ldb, p, j);
  }
  gemm_detail::store_c(c + i * ldc + j, s, alpha, beta);
}

}  // namespace

void gemm_coalesced(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                    const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                    int64_t ldc) {
  constexpr const char* kOp = "cuda::gemm_coalesced";
  gemm_detail::check(kOp, trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc);
  if (gemm_detail::trivial(m, n, k, alpha, beta, c, ldc)) return;
  const gemm_detail::TileGrid g = gemm_detail::tile_grid(kOp, m, n, kTile, kTile);
  auto kernel =
      trans_a
          ? (trans_b ? gemm_coalesced_kernel<true, true> : gemm_coalesced_kernel<true, false>)
          : (trans_b ? gemm_coalesced_kernel<false, true> : gemm_coalesced_kernel<false, false>);
  kernel<<<g.blocks, dim3(kTile, kTile), 0, current_stream()>>>(
      int(m), int(n), int(k), alpha, a, lda, b, ldb, beta, c, ldc, g.tiles_n);
  TG_CUDA_CHECK_LAUNCH("gemm_coalesced_kernel");
}

}  // namespace tg::kernels::cuda
