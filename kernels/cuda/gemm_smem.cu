// GEMM rung 3 on the GPU: shared-memory tiling, one element of C per thread.
//
// C = alpha * op(A) * op(B) + beta * C, row-major (kernels/gemm.h). A block of 32 x 32
// threads owns a 32 x 32 tile of C and walks k in steps of 32: the block copies a 32 x 32
// tile of op(A) and one of op(B) into shared memory (one element per thread, coalesced),
// waits for all threads, and then each thread does 32 multiply-adds reading only shared
// memory. Every element loaded from global memory is used 32 times.
// Cost: 2*m*n*k FLOPs. Global loads: 4*(m*k*ceil(n/32) + k*n*ceil(m/32)) bytes, 32x less than
// rungs 1-2. The bottleneck moves to shared memory: each multiply-add still needs two shared
// loads (As[ty][p] is a broadcast, Bs[p][tx] a full 128-byte row), so the FMA units wait on the
// load pipe. Rung 4 (gemm_regtile.cu) makes each thread compute 64 elements from registers.
// Transposes: each tile is read along its stored rows (so lanes always read consecutive
// addresses) and, for a transposed operand, written into shared memory transposed; the row
// stride of 33 floats keeps those column writes in 32 different banks.
#include <cstdint>

#include "kernels/cuda/gemm_common.cuh"
#include "kernels/cuda/runtime.h"
#include "kernels/gemm.h"

namespace tg::kernels::cuda {

namespace {

constexpr int kTile = 32;                // C tile, k step, and block side
constexpr int kThreads = kTile * kTile;  // 1024

template <bool kTransA, bool kTransB>
__global__ void __launch_bounds__(kThreads)
    gemm_smem_kernel(int m, int n, int k, float alpha, const float* __restrict__ a, int64_t lda,
                     const float* __restrict__ b, int64_t ldb, float beta, float* __restrict__ c,
                     int64_t ldc, int tiles_n) {
  __shared__ float As[kTile][kTile + 1];  // As[r][p] = op(A)(i0 + r, k0 + p)
  __shared__ float Bs[kTile][kTile + 1];  // Bs[p][s] = op(B)(k0 + p, j0 + s)
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t i0 = int64_t(blockIdx.x / tiles_n) * kTile;
  const int64_t j0 = int64_t(blockIdx.x % tiles_n) * kTile;
  float s = 0.0f;
  for (int64_t k0 = 0; k0 < k; k0 += kTile) {
    // Zeros outside the matrices: they add nothing to the sums of the elements we store.
    if constexpr (!kTransA) {  // A is m x k: consecutive lanes (tx) along p
      As[ty][tx] = (i0 + ty < m && k0 + tx < k) ? a[(i0 + ty) * lda + k0 + tx] : 0.0f;
    } else {  // A is k x m: consecutive lanes along i
      As[tx][ty] = (i0 + tx < m && k0 + ty < k) ? a[(k0 + ty) * lda + i0 + tx] : 0.0f;
    }
    if constexpr (!kTransB) {  // B is k x n: lanes along j
      Bs[ty][tx] = (k0 + ty < k && j0 + tx < n) ? b[(k0 + ty) * ldb + j0 + tx] : 0.0f;
    } else {  // B is n x k: lanes along p
      Bs[tx][ty] = (k0 + tx < k && j0 + ty < n) ? b[(j0 + ty) * ldb + k0 + tx] : 0.0f;
    }
    __syncthreads();  // the tiles are complete
#pragma unroll
    for (int p = 0; p < kTile; ++p) s += As[ty][p] * Bs[p][tx];
    __syncthreads();  // everyone is done reading before the next tiles overwrite them
  }
  const int64_t i = i0 + ty, j = j0 + tx;
  if (i < m && j < n) gemm_detail::store_c(c + i * ldc + j, s, alpha, beta);
}

}  // namespace

void gemm_smem(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
               const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
               int64_t ldc) {
  constexpr const char* kOp = "cuda::gemm_smem";
  gemm_detail::check(kOp, trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc);
  if (gemm_detail::trivial(m, n, k, alpha, beta, c, ldc)) return;
  const gemm_detail::TileGrid g = gemm_detail::tile_grid(kOp, m, n, kTile, kTile);
  auto kernel = trans_a
                    ? (trans_b ? gemm_smem_kernel<true, true> : gemm_smem_kernel<true, false>)
                    : (trans_b ? gemm_smem_kernel<false, true> : gemm_smem_kernel<false, false>);
  kernel<<<g.blocks, dim3(kTile, kTile), 0, current_stream()>>>(
      int(m), int(n), int(k), alpha, a, lda, b, ldb, beta, c, ldc, g.tiles_n);
  TG_CUDA_CHECK_LAUNCH("gemm_smem_kernel");
}

}  // namespace tg::kernels::cuda
