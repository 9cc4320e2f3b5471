// GEMM rung 5 on the GPU: rung 4 with 16-byte loads, a warp-tiled thread layout and double
// buffering.
//
// C = alpha * op(A) * op(B) + beta * C, row-major (kernels/gemm.h). As in rung 4
// (gemm_regtile.cu), a block of 256 threads owns a 128 x 128 tile of C, walks k in steps of
// 8 with A stored transposed in shared memory (As[p][i]), and each thread accumulates 64
// elements of C in registers. What changes:
//  - Global loads are float4: each thread fetches one 16-byte piece of op(A)'s 128 x 8 slice
//    and one of op(B)'s, instead of 4 + 4 scalars. A piece that would be misaligned (base
//    pointer not 16-byte aligned, or leading dimension not a multiple of 4) or would cross the
//    edge of the matrix is loaded as 4 bounds-checked scalars instead.
//  - Double buffering: two shared buffers per operand. While the block multiplies slice t
//    from one buffer, the loads of slice t+1 are already in flight into registers, and go to
//    the other buffer afterwards: the memory latency hides behind 512 multiply-adds per
//    thread, and one barrier per step suffices (rung 4: two, with nothing in flight).
//  - Warp tiling: a thread's 8 x 8 block of C is four 4 x 4 pieces, 16 rows and 32 columns
//    apart, and the 32 threads of a warp (4 x 8) cover a 32 x 64 tile of C. For each p a
//    thread reads its 8 values of A and 8 of B as four float4 shared loads; in each group of
//    8 threads served together, the B loads are 8 consecutive float4 (all 32 banks, no
//    conflict) and the A loads one broadcast address. C is written as float4 too.
// Cost: 2*m*n*k FLOPs. Global loads: 4*(m*k*ceil(n/128) + k*n*ceil(m/128)) bytes (as rung 4),
// C read (beta != 0) and written once. Per thread and step: 2 global float4 loads, 32 shared
// float4 loads for 512 FMAs, one barrier. Registers: 64 accumulators + 16 operands + 8 for the
// next slice; __launch_bounds__(256, 2) caps them at 128 so that two blocks share an SM.
// Expected bottleneck: FMA issue and shared-memory bandwidth (1 LDS.128 per 16 FFMA); cuBLAS
// gets further with larger per-thread tiles and deeper pipelines (cp.async).
#include <cstdint>

#include "kernels/cuda/gemm_common.cuh"
#include "kernels/cuda/runtime.h"
#include "kernels/gemm.h"

namespace tg::kernels::cuda {

namespace {

constexpr int kBM = 128, kBN = 128, kBK = 8;  // block tile of C, and k step
constexpr int kThreads = 256;                 // 8 warps: 4 along m x 2 along n
constexpr int kWarpM = 32, kWarpN = 64;       // warp tile; lanes 4 (m) x 8 (n)
constexpr int kLds = 128 + 4;                 // shared row stride in floats (see SliceLoader)
static_assert(kBM == kBN, "one loader serves both operands");
static_assert(kBM * kBK == 4 * kThreads, "one float4 per thread per operand and step");
static_assert((kBM / kWarpM) * (kBN / kWarpN) * 32 == kThreads, "warps cover the block tile");

using Slice = float[kBK][kLds];  // one shared buffer: [p][o]

// Loads this thread's float4 piece of op(X)(o0 .. o0+127, k0 .. k0+7) and stores it in a
// shared buffer s[p][o]. op(X) is op(A) (o = i, m x k) or op(B) seen transposed (o = j, n x k).
// kKContig: X stored with k contiguous, X(o, p) = x[o * ld + p]: thread t takes row o = t / 2,
//   p = 4 * (t % 2) .. +3 (a warp reads 16 rows x 32 bytes) and scatters the four values down
//   a column of s; with the row stride of 132 floats the 32 lanes' stores hit 32 banks.
// Otherwise o is contiguous, X(o, p) = x[p * ld + o]: thread t takes p = t / 32,
//   o = 4 * (t % 32) .. +3 (a warp reads 512 contiguous bytes) and stores one float4.
// Pieces start at multiples of 4 elements, so with vec (16-byte aligned base, ld % 4 == 0)
// every in-bounds piece is a legal float4 load.
template <bool kKContig>
struct SliceLoader {
  const float* __restrict__ ptr;  // this thread's piece of the next slice
  int o_rem;                      // elements of X left from this thread's first outer index
  int k_rem;                      // elements of k left from this thread's first p
  int soff;                       // offset of the piece in a shared buffer: p * kLds + ol

  __device__ SliceLoader(const float* __restrict__ x, int64_t ld, int64_t o0, int o_end, int k) {
    const int t = threadIdx.x;
    const int ol = kKContig ? t / 2 : 4 * (t % 32);
    const int p = kKContig ? 4 * (t % 2) : t / 32;
    const int64_t o = o0 + ol;
    o_rem = static_cast<int>(o_end - o);  // in [-127, o_end]: o0 < o_end
    k_rem = k - p;
    soff = p * kLds + ol;
    // Rows past the matrix are never read: their pointer stays at x.
    ptr = kKContig ? x + (o_rem > 0 ? o * ld + p : 0) : x + p * ld + o;
  }

  // The piece of the next slice, zeros outside the matrix; then moves on by one slice (ld:
  // X's leading dimension).
  __device__ __forceinline__ float4 load_and_advance(int64_t ld, bool vec) {
    const float* __restrict__ q = ptr;
    const int kr = k_rem;
    ptr += kKContig ? int64_t{kBK} : kBK * ld;
    k_rem -= kBK;
    float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    if constexpr (kKContig) {
      if (o_rem <= 0) return v;
      if (vec && kr >= 4) return __ldg(reinterpret_cast<const float4*>(q));
      if (kr > 0) v.x = __ldg(q);
      if (kr > 1) v.y = __ldg(q + 1);
      if (kr > 2) v.z = __ldg(q + 2);
      if (kr > 3) v.w = __ldg(q + 3);
    } else {
      if (kr <= 0) return v;
      if (vec && o_rem >= 4) return __ldg(reinterpret_cast<const float4*>(q));
      if (o_rem > 0) v.x = __ldg(q);
      if (o_rem > 1) v.y = __ldg(q + 1);
      if (o_rem > 2) v.z = __ldg(q + 2);
      if (o_rem > 3) v.w = __ldg(q + 3);
    }
    return v;
  }

  __device__ __forceinline__ void store(Slice& s, float4 v) const {
    float* d = &s[0][0] + soff;
    if constexpr (kKContig) {
      d[0] = v.x;
      d[kLds] = v.y;
      d[2 * kLds] = v.z;
      d[3 * kLds] = v.w;
    } else {
      *reinterpret_cast<float4*>(d) = v;
    }
  }
};

// Writes 4 consecutive elements of a row of C (alpha * acc + beta * C, C unread when
// beta == 0): one float4 when allowed and inside the matrix, else bounds-checked scalars.
__device__ __forceinline__ void store_c4(float* __restrict__ crow, int64_t col, int64_t n,
                                         float4 acc, float alpha, float beta, bool vec) {
  if (vec && col + 3 < n) {
    float4* p = reinterpret_cast<float4*>(crow + col);
    float4 r = make_float4(alpha * acc.x, alpha * acc.y, alpha * acc.z, alpha * acc.w);
    if (beta != 0.0f) {
      const float4 old = *p;
      r.x = fmaf(beta, old.x, r.x);
      r.y = fmaf(beta, old.y, r.y);
      r.z = fmaf(beta, old.z, r.z);
      r.w = fmaf(beta, old.w, r.w);
    }
    *p = r;
    return;
  }
  const float v[4] = {acc.x, acc.y, acc.z, acc.w};
#pragma unroll
  for (int q = 0; q < 4; ++q) {
    if (col + q < n) gemm_detail::store_c(crow + col + q, v[q], alpha, beta);
  }
}

template <bool kTransA, bool kTransB>
__global__ void __launch_bounds__(kThreads, 2)
    gemm_vec_kernel(int m, int n, int k, float alpha, const float* __restrict__ a, int64_t lda,
                    const float* __restrict__ b, int64_t ldb, float beta, float* __restrict__ c,
                    int64_t ldc, int tiles_n, bool vec_a, bool vec_b, bool vec_c) {
  __shared__ __align__(16) Slice As[2];  // As[buf][p][i] = op(A)(m0 + i, k0 + p)
  __shared__ __align__(16) Slice Bs[2];  // Bs[buf][p][j] = op(B)(k0 + p, n0 + j)
  const int64_t m0 = int64_t(blockIdx.x / tiles_n) * kBM;
  const int64_t n0 = int64_t(blockIdx.x % tiles_n) * kBN;
  // A m x k has k contiguous unless transposed; op(B) seen transposed (n x k) has k contiguous
  // when B is stored n x k, i.e. when trans_b.
  SliceLoader<!kTransA> load_a(a, lda, m0, m, k);
  SliceLoader<kTransB> load_b(b, ldb, n0, n, k);

  // This thread's rows of the tile: ar + {0..3} and ar + 16 + {0..3}; columns: bc + {0..3}
  // and bc + 32 + {0..3}.
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int ar = (warp / (kBN / kWarpN)) * kWarpM + (lane / 8) * 4;
  const int bc = (warp % (kBN / kWarpN)) * kWarpN + (lane % 8) * 4;

  float acc[8][8] = {};
  float4 next_a = load_a.load_and_advance(lda, vec_a);
  float4 next_b = load_b.load_and_advance(ldb, vec_b);
  load_a.store(As[0], next_a);
  load_b.store(Bs[0], next_b);
  __syncthreads();

  // k_left = k - k0 > 0 elements of k from this step's slice on (int arithmetic that cannot
  // overflow, unlike k0 + kBK for k near 2^31).
  for (int k_left = k, buf = 0; k_left > 0; k_left -= kBK, buf ^= 1) {
    const bool more = k_left > kBK;
    if (more) {  // in flight while we multiply
      next_a = load_a.load_and_advance(lda, vec_a);
      next_b = load_b.load_and_advance(ldb, vec_b);
    }
    const Slice& as = As[buf];
    const Slice& bs = Bs[buf];
#pragma unroll
    for (int p = 0; p < kBK; ++p) {
      const float4 a0 = *reinterpret_cast<const float4*>(&as[p][ar]);
      const float4 a1 = *reinterpret_cast<const float4*>(&as[p][ar + 16]);
      const float4 b0 = *reinterpret_cast<const float4*>(&bs[p][bc]);
      const float4 b1 = *reinterpret_cast<const float4*>(&bs[p][bc + 32]);
      const float av[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
      const float bv[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
      for (int i = 0; i < 8; ++i) {
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
      }
    }
    if (more) {
      // The other buffer was last read in the previous step, before its closing barrier.
      load_a.store(As[buf ^ 1], next_a);
      load_b.store(Bs[buf ^ 1], next_b);
    }
    // Slice t+1 is complete, and nobody reads slice t again before it is overwritten (in
    // step t+1, after this barrier).
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int64_t row = m0 + ar + (i / 4) * 16 + i % 4;
    if (row >= m) continue;
    float* crow = c + row * ldc;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const float4 v =
          make_float4(acc[i][4 * h], acc[i][4 * h + 1], acc[i][4 * h + 2], acc[i][4 * h + 3]);
      store_c4(crow, n0 + bc + 32 * h, n, v, alpha, beta, vec_c);
    }
  }
}

bool aligned16(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

}  // namespace

void gemm_vec(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
              const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
              int64_t ldc) {
  constexpr const char* kOp = "cuda::gemm_vec";
  gemm_detail::check(kOp, trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc);
  if (gemm_detail::trivial(m, n, k, alpha, beta, c, ldc)) return;
  const gemm_detail::TileGrid g = gemm_detail::tile_grid(kOp, m, n, kBM, kBN);
  // float4 accesses need 16-byte alignment of every piece: an aligned base and rows that
  // start on multiples of 4 floats. Otherwise the kernel takes its scalar paths.
  const bool vec_a = aligned16(a) && lda % 4 == 0;
  const bool vec_b = aligned16(b) && ldb % 4 == 0;
  const bool vec_c = aligned16(c) && ldc % 4 == 0;
  auto kernel = trans_a ? (trans_b ? gemm_vec_kernel<true, true> : gemm_vec_kernel<true, false>)
                        : (trans_b ? gemm_vec_kernel<false, true> : gemm_vec_kernel<false, false>);
  kernel<<<g.blocks, kThreads, 0, current_stream()>>>(int(m), int(n), int(k), alpha, a, lda, b, ldb,
                                                      beta, c, ldc, g.tiles_n, vec_a, vec_b, vec_c);
  TG_CUDA_CHECK_LAUNCH("gemm_vec_kernel");
}

}  // namespace tg::kernels::cuda
