// GEMM rung 4 on the GPU: 2-D register tiling, an 8 x 8 block of C per thread.
//
// C = alpha * op(A) * op(B) + beta * C, row-major (kernels/gemm.h). A block of 256 threads
// owns a 128 x 128 tile of C and walks k in steps of 8. Each step the block stages a 128 x 8
// slice of op(A) and an 8 x 128 slice of op(B) in shared memory, A stored transposed
// (As[p][i]) so that a thread's 8 values of A for one p are consecutive. Then each thread,
// for each of the 8 values of p, loads 8 values of A and 8 of B into registers and does the
// 64 multiply-adds of their outer product into its 8 x 8 accumulators (an outer-product
// formulation: the micro-kernel of the CPU's gemm_packed.cpp, on one thread of 256).
// Cost: 2*m*n*k FLOPs. Shared loads: 16 per 64 multiply-adds, against 2 per 1 in rung 3;
// global loads: 4*(m*k*ceil(n/128) + k*n*ceil(m/128)) bytes, 4x less than rung 3.
// Expected bottlenecks: the loads are still scalar (one float per instruction, global and
// shared); thread tx reads Bs[p][8*tx .. 8*tx+7], so the 16 threads of a half warp hit 4
// distinct banks for 16 addresses (4-way bank conflicts); and the block loads its next slice
// only after all threads finished the current one (two barriers per step, nothing in flight
// during the loads). Rung 5 (gemm_vec.cu) addresses all three.
#include <cstdint>

#include "kernels/cuda/gemm_common.cuh"
#include "kernels/cuda/runtime.h"
#include "kernels/gemm.h"

namespace tg::kernels::cuda {

namespace {

constexpr int kBM = 128, kBN = 128, kBK = 8;         // block tile of C, and k step
constexpr int kTM = 8, kTN = 8;                      // per-thread tile of C
constexpr int kThreads = (kBM / kTM) * (kBN / kTN);  // 256
constexpr int kLds = 128 + 4;  // row stride of the shared tiles (see load_slice on banks)
static_assert(kBM == kBN, "one loader serves both operands");

// Stages op(X)(o0 .. o0+127, k0 .. k0+7) into s[p][o] (zeros outside the matrix), where op(X)
// is m x k (A) or n x k (op(B) seen transposed). kKContig: X stored with k contiguous,
// X(o, p) = x[o * ld + p]; otherwise o is contiguous, X(o, p) = x[p * ld + o]. Thread t loads
// elements t, t + 256, ..., numbered so that consecutive lanes read consecutive addresses
// (8 consecutive p per row in the first case, 32 consecutive o in the second). With the row
// stride of 132 floats the stores s[p][o] of a warp land in 32 different banks in both cases.
template <bool kKContig>
__device__ __forceinline__ void load_slice(float (*s)[kLds], const float* __restrict__ x,
                                           int64_t ld, int64_t o0, int64_t o_end, int64_t k0,
                                           int64_t k_end) {
#pragma unroll
  for (int r = 0; r < kBM * kBK / kThreads; ++r) {
    const int e = threadIdx.x + r * kThreads;
    const int o = kKContig ? e / kBK : e % kBM;
    const int p = kKContig ? e % kBK : e / kBM;
    const int64_t oo = o0 + o, kk = k0 + p;
    float v = 0.0f;
    if (oo < o_end && kk < k_end) v = kKContig ? x[oo * ld + kk] : x[kk * ld + oo];
    s[p][o] = v;
  }
}

template <bool kTransA, bool kTransB>
__global__ void __launch_bounds__(kThreads)
    gemm_regtile_kernel(int m, int n, int k, float alpha, const float* __restrict__ a, int64_t lda,
                        const float* __restrict__ b, int64_t ldb, float beta, float* __restrict__ c,
                        int64_t ldc, int tiles_n) {
  __shared__ float As[kBK][kLds];  // As[p][i] = op(A)(m0 + i, k0 + p)
  __shared__ float Bs[kBK][kLds];  // Bs[p][j] = op(B)(k0 + p, n0 + j)
  const int64_t m0 = int64_t(blockIdx.x / tiles_n) * kBM;
  const int64_t n0 = int64_t(blockIdx.x % tiles_n) * kBN;
  const int ty = threadIdx.x / (kBN / kTN), tx = threadIdx.x % (kBN / kTN);  // 16 x 16 threads
  float acc[kTM][kTN] = {};
  for (int64_t k0 = 0; k0 < k; k0 += kBK) {
    load_slice<!kTransA>(As, a, lda, m0, m, k0, k);  // A m x k has k contiguous unless trans
    load_slice<kTransB>(Bs, b, ldb, n0, n, k0, k);   // op(B)^T = B when trans_b: k contiguous
    __syncthreads();
#pragma unroll
    for (int p = 0; p < kBK; ++p) {
      float av[kTM], bv[kTN];
#pragma unroll
      for (int i = 0; i < kTM; ++i) av[i] = As[p][ty * kTM + i];
#pragma unroll
      for (int j = 0; j < kTN; ++j) bv[j] = Bs[p][tx * kTN + j];
#pragma unroll
      for (int i = 0; i < kTM; ++i) {
#pragma unroll
        for (int j = 0; j < kTN; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
      }
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < kTM; ++i) {
    const int64_t row = m0 + ty * kTM + i;
    if (row >= m) break;
#pragma unroll
    for (int j = 0; j < kTN; ++j) {
      const int64_t col = n0 + tx * kTN + j;
      if (col < n) gemm_detail::store_c(c + row * ldc + col, acc[i][j], alpha, beta);
    }
  }
}

}  // namespace

void gemm_regtile(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                  const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                  int64_t ldc) {
  constexpr const char* kOp = "cuda::gemm_regtile";
  gemm_detail::check(kOp, trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc);
  if (gemm_detail::trivial(m, n, k, alpha, beta, c, ldc)) return;
  const gemm_detail::TileGrid g = gemm_detail::tile_grid(kOp, m, n, kBM, kBN);
  auto kernel =
      trans_a ? (trans_b ? gemm_regtile_kernel<true, true> : gemm_regtile_kernel<true, false>)
              : (trans_b ? gemm_regtile_kernel<false, true> : gemm_regtile_kernel<false, false>);
  kernel<<<g.blocks, kThreads, 0, current_stream()>>>(int(m), int(n), int(k), alpha, a, lda, b, ldb,
                                                      beta, c, ldc, g.tiles_n);
  TG_CUDA_CHECK_LAUNCH("gemm_regtile_kernel");
}

}  // namespace tg::kernels::cuda
