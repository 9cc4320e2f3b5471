// GEMM rung 1 on the GPU: naive, one thread per element of C.
//
// C = alpha * op(A) * op(B) + beta * C, row-major (kernels/gemm.h). Each thread runs the whole
// k loop for its C(i, j): s += op(A)(i, p) * op(B)(p, j), then the alpha/beta epilogue.
// Cost: 2*m*n*k FLOPs. Threads are laid out the "wrong" way on purpose: threadIdx.x, the index
// that runs along a warp, picks the *row* i. So in step p the 32 threads of a warp read
// op(A)(i..i+31, p), which for A stored m x k are 32 addresses lda floats apart: 32 memory
// transactions for 32 useful floats (B(p, j) is one address, a broadcast), and the C stores
// are strided the same way. Every operand element is fetched from L2/L1 once per use:
// ~2*m*n*k*4 bytes of load traffic instead of the 4*(m*k + k*n) the product needs. Rung 2
// (gemm_coalesced.cu) changes only the thread layout.
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
    gemm_naive_kernel(int m, int n, int k, float alpha, const float* __restrict__ a, int64_t lda,
                      const float* __restrict__ b, int64_t ldb, float beta, float* __restrict__ c,
                      int64_t ldc, int tiles_n) {
  const int64_t i = int64_t(blockIdx.x / tiles_n) * kTile + threadIdx.x;  // along the warp
  const int64_t j = int64_t(blockIdx.x % tiles_n) * kTile + threadIdx.y;
  if (i >= m || j >= n) return;
  float s = 0.0f;
  for (int p = 0; p < k; ++p) {
    s += gemm_detail::op_at<kTransA>(a, lda, i, p) * gemm_detail::op_at<kTransB>(b, ldb, p, j);
  }
  gemm_detail::store_c(c + i * ldc + j, s, alpha, beta);
}

}  // namespace

void gemm_naive(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                int64_t ldc) {
  constexpr const char* kOp = "cuda::gemm_naive";
  gemm_detail::check(kOp, trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc);
  if (gemm_detail::trivial(m, n, k, alpha, beta, c, ldc)) return;
  const gemm_detail::TileGrid g = gemm_detail::tile_grid(kOp, m, n, kTile, kTile);
  auto kernel = trans_a
                    ? (trans_b ? gemm_naive_kernel<true, true> : gemm_naive_kernel<true, false>)
                    : (trans_b ? gemm_naive_kernel<false, true> : gemm_naive_kernel<false, false>);
  kernel<<<g.blocks, dim3(kTile, kTile), 0, current_stream()>>>(
      int(m), int(n), int(k), alpha, a, lda, b, ldb, beta, c, ldc, g.tiles_n);
  TG_CUDA_CHECK_LAUNCH("gemm_naive_kernel");
}

}  // namespace tg::kernels::cuda
