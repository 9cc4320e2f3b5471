// GEMM rungs 4 (packed, one thread) and 5 (gemm: packed + OpenMP), the library's float GEMM.
//
// Algorithm (Goto / BLIS): five loops around a register-blocked micro-kernel.
//   for jc in n step kNC:
//     for pc in k step kKC:               pack op(B)(pc.., jc..) into kNR-wide slivers
//       for ic in m step kMC:             pack op(A)(ic.., pc..) into kMR-tall slivers (L2)
//         for jr in nc step kNR:          one B sliver (kKC x kNR) is reused by
//           for ir in mc step kMR:        every A sliver of the block:
//             micro-kernel: the kMR x kNR tile of C += A sliver * B sliver, the tile kept in
//             registers for the whole kKC loop (AVX-512: 14 x 32 = 28 zmm accumulators).
// Cost: 2*m*n*k FLOPs. Bytes: A is packed (read + written) ceil(n/kNC) times, B once; C is
// read and written ceil(k/kKC) times; from cache the micro-kernel reads kMR + kNR floats per
// kMR*kNR multiply-adds (46 floats per 448), which is what makes it compute bound.
//
// Why packing: the micro-kernel then reads both operands with unit stride from aligned,
// contiguous memory whatever the transposes and leading dimensions, edges are zero padded so
// one kernel serves every tile, and the panels live in the cache level they were sized for.
//
// Threads (rung 5): C is cut into one stripe per thread (rows, or columns when C is wide) and
// each stripe is a whole single-threaded GEMM with private panels: no barriers, no shared
// cache lines. Products under ~1M multiply-adds stay on the calling thread, with no OpenMP
// region at all.
//
// Determinism: kKC is a constant, so each C element is the same sum of the same kKC-long
// partial products (each one added in ascending k inside the micro-kernel, in registers)
// whatever the thread count or the split of C among threads; threads only decide *who*
// computes a tile. Hence gemm == gemm_packed bit for bit, for any OMP_NUM_THREADS.
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <new>

#include "kernels/gemm.h"

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

namespace tg::kernels::cpu {

namespace detail {  // defined in gemm_ladder.cpp
template <typename T>
void gemm_scale_c(int64_t m, int64_t n, T beta, T* c, int64_t ldc);
}  // namespace detail

namespace {

// Register tile kMR x kNR: accumulators must fit in the vector registers with room for the
// B vectors and one broadcast of A. AVX-512: 14 x 2 zmm accumulators + 2 B + 1 A = 31 of 32.
#if defined(__AVX512F__)
constexpr int64_t kMR = 14, kNR = 32;
#elif defined(__AVX2__) && defined(__FMA__)
constexpr int64_t kMR = 6, kNR = 16;  // 12 ymm accumulators + 2 B + 1 A of 16
#else
constexpr int64_t kMR = 4, kNR = 16;
#endif
// Cache blocking. kKC is fixed: it sets the summation order, so it must not depend on
// anything but the build. kMC x kKC A block: 112 x 512 x 4 = 224 KiB, a quarter of the 1 MiB
// L2; A sliver 28 KiB in the 48 KiB L1. kKC x kNC B panel: 2 MiB, in L3, read one 64 KiB
// sliver at a time. On this Zen machine every kKC from 192 to 768 measured within 3% (the
// kernel needs only 184 bytes per 14 cycles, which L2 delivers easily); 512 was marginally
// the best, and a long kKC halves the passes over C compared with 256.
constexpr int64_t kKC = 512, kMC = 8 * kMR, kNC = 1024;
// Below this many multiply-adds one thread does the product. Back to back, with the team
// awake, 128^3 (2M) is 1.5x faster on two threads; but in a training loop the team sleeps
// between steps, and the course MLP's 64x784x50 products (2.5M) made the epoch slower on two
// threads than on one. 4M keeps those on one thread (kernels/cpu/common.h: kParallelMin).
constexpr double kParallelMin = 4.0 * 1024.0 * 1024.0;

struct Strides {
  int64_t rs, cs;  // op(X)(i, j) = x[i * rs + j * cs]
};

// A 64-byte aligned scratch buffer that only grows: no allocation once warm.
class Scratch {
 public:
  ~Scratch() { std::free(data_); }
  float* get(int64_t n) {
    if (n > size_) {
      std::free(data_);
      const size_t bytes = (size_t(n) * sizeof(float) + 63) / 64 * 64;
      data_ = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (data_ == nullptr) throw std::bad_alloc();
      size_ = n;
    }
    return data_;
  }

 private:
  float* data_ = nullptr;
  int64_t size_ = 0;
};
thread_local Scratch tls_a, tls_b;

#if defined(__AVX512F__)
// In-register 16 x 16 transpose: on return r[q] holds element q of every input vector, in
// order. 64 shuffles for 256 floats; packing that needs a transpose (row-major A, transposed B)
// would otherwise take one scalar store per float. (The maskz forms with an all-ones mask are
// the same instructions; GCC 12 warns about the undefined operand of the unmasked ones.)
inline void transpose16(__m512 r[16]) {
  constexpr __mmask16 all = 0xFFFF;
  const auto lo = [](__m512 x, __m512 y) {
    return _mm512_castpd_ps(
        _mm512_maskz_unpacklo_pd(0xFF, _mm512_castps_pd(x), _mm512_castps_pd(y)));
  };
  const auto hi = [](__m512 x, __m512 y) {
    return _mm512_castpd_ps(
        _mm512_maskz_unpackhi_pd(0xFF, _mm512_castps_pd(x), _mm512_castps_pd(y)));
  };
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {  // pairs of inputs interleaved within 128-bit lanes
    t[i] = _mm512_maskz_unpacklo_ps(all, r[i], r[i + 1]);
    t[i + 1] = _mm512_maskz_unpackhi_ps(all, r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {  // r[i + j], lane L: inputs i..i+3, element 4L + j
    r[i] = lo(t[i], t[i + 2]);
    r[i + 1] = hi(t[i], t[i + 2]);
    r[i + 2] = lo(t[i + 1], t[i + 3]);
    r[i + 3] = hi(t[i + 1], t[i + 3]);
  }
  for (int j = 0; j < 4; ++j) {  // gather lane L of r[j], r[4+j], r[8+j], r[12+j]
    const __m512 x0 = _mm512_maskz_shuffle_f32x4(all, r[j], r[4 + j], 0x44);
    const __m512 x1 = _mm512_maskz_shuffle_f32x4(all, r[j], r[4 + j], 0xEE);
    const __m512 y0 = _mm512_maskz_shuffle_f32x4(all, r[8 + j], r[12 + j], 0x44);
    const __m512 y1 = _mm512_maskz_shuffle_f32x4(all, r[8 + j], r[12 + j], 0xEE);
    t[j] = _mm512_maskz_shuffle_f32x4(all, x0, y0, 0x88);
    t[4 + j] = _mm512_maskz_shuffle_f32x4(all, x0, y0, 0xDD);
    t[8 + j] = _mm512_maskz_shuffle_f32x4(all, x1, y1, 0x88);
    t[12 + j] = _mm512_maskz_shuffle_f32x4(all, x1, y1, 0xDD);
  }
  for (int i = 0; i < 16; ++i) r[i] = t[i];
}

// Transposes `rows` (<= 16) runs of x, ld apart, 16 floats at a time, into runs of `lanes`
// floats, dld apart: dst[q * dld + i] = x[i * ld + q] for i < rows, 0 for rows <= i < lanes.
// Returns how many of the n floats of each run it did (n rounded down to 16); the caller
// finishes the rest.
inline int64_t transpose_runs(const float* x, int64_t ld, int64_t rows, int64_t n, float* dst,
                              int64_t dld, int64_t lanes) {
  const __mmask16 keep = __mmask16((1u << lanes) - 1);
  int64_t q = 0;
  for (; q + 16 <= n; q += 16) {
    __m512 r[16];
    for (int i = 0; i < 16; ++i)
      r[i] = i < rows ? _mm512_loadu_ps(x + i * ld + q) : _mm512_setzero_ps();
    transpose16(r);
    for (int i = 0; i < 16; ++i) _mm512_mask_storeu_ps(dst + (q + i) * dld, keep, r[i]);
  }
  return q;
}
#endif

// A block (mc x kc, starting at a) -> slivers of kMR rows; sliver s holds, for each p, the
// kMR values op(A)(s*kMR + 0..kMR-1, p) side by side. Rows past mc are zero.
void pack_a(const float* a, Strides as, int64_t mc, int64_t kc, float* __restrict dst) {
  for (int64_t i0 = 0; i0 < mc; i0 += kMR, dst += kMR * kc) {
    const int64_t mr = std::min(kMR, mc - i0);
    if (as.cs == 1) {  // rows of A contiguous in k: a transpose
      int64_t p0 = 0;
#if defined(__AVX512F__)
      p0 = transpose_runs(a + i0 * as.rs, as.rs, mr, kc, dst, kMR, kMR);
#endif
      for (int64_t r = 0; r < mr; ++r) {
        const float* src = a + (i0 + r) * as.rs;
        for (int64_t p = p0; p < kc; ++p) dst[p * kMR + r] = src[p];
      }
      for (int64_t r = mr; r < kMR; ++r)
        for (int64_t p = p0; p < kc; ++p) dst[p * kMR + r] = 0.0f;
    } else if (mr == kMR) {  // transposed A: the kMR values for one p are contiguous
      for (int64_t p = 0; p < kc; ++p) {
        const float* src = a + p * as.cs + i0;
        for (int64_t r = 0; r < kMR; ++r) dst[p * kMR + r] = src[r];
      }
    } else {
      for (int64_t p = 0; p < kc; ++p) {
        const float* src = a + p * as.cs + i0;
        for (int64_t r = 0; r < kMR; ++r) dst[p * kMR + r] = r < mr ? src[r] : 0.0f;
      }
    }
  }
}

// B panel (kc x nc, starting at b) -> slivers of NR columns, sliver s holding for each p the
// NR values op(B)(p, s*NR + 0..NR-1). Columns past nc are zero.
template <int64_t NR>
void pack_b(const float* b, Strides bs, int64_t kc, int64_t nc, float* __restrict dst) {
  for (int64_t s = 0; s * NR < nc; ++s) {
    const int64_t j0 = s * NR, nr = std::min(NR, nc - j0);
    float* d = dst + s * NR * kc;
    if (bs.cs == 1) {  // rows of B contiguous in n: one vector copy per p
      for (int64_t p = 0; p < kc; ++p) {
        const float* src = b + p * bs.rs + j0;
#pragma omp simd
        for (int64_t j = 0; j < NR; ++j) d[p * NR + j] = j < nr ? src[j] : 0.0f;
      }
    } else {  // transposed B: columns contiguous in k, a transpose
      int64_t p0 = 0;
#if defined(__AVX512F__)
      for (int64_t h = 0; h < NR; h += 16) {  // 16 columns at a time, zeros past nr
        const int64_t cols = std::clamp<int64_t>(nr - h, 0, 16);
        p0 = transpose_runs(b + (j0 + h) * bs.cs, bs.cs, cols, kc, d + h, NR, 16);
      }
#endif
      for (int64_t j = 0; j < nr; ++j) {
        const float* src = b + (j0 + j) * bs.cs;
        for (int64_t p = p0; p < kc; ++p) d[p * NR + j] = src[p];
      }
      for (int64_t j = nr; j < NR; ++j)
        for (int64_t p = p0; p < kc; ++p) d[p * NR + j] = 0.0f;
    }
  }
}

// C tile (mr x nr <= kMR x NR) = alpha * (A sliver * B sliver) + beta * C; beta == 0: C is
// not read. The full kMR x NR product is computed on the zero-padded slivers.
#if defined(__AVX512F__)
template <int64_t NR>
inline void micro_kernel(int64_t kc, const float* __restrict pa, const float* __restrict pb,
                         float* c, int64_t ldc, int64_t mr, int64_t nr, float alpha, float beta) {
  constexpr int NV = NR / 16;  // zmm vectors per row of the tile
  __m512 acc[kMR][NV];
#pragma GCC unroll 14
  for (int r = 0; r < kMR; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int64_t p = 0; p < kc; ++p, pa += kMR, pb += NR) {
    __m512 bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_load_ps(pb + 16 * v);
#pragma GCC unroll 14
    for (int r = 0; r < kMR; ++r) {
      const __m512 ar = _mm512_set1_ps(pa[r]);
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(ar, bv[v], acc[r][v]);
    }
  }
  __mmask16 mask[NV];  // columns of the tile inside C
  for (int v = 0; v < NV; ++v) {
    const int64_t cols = std::clamp<int64_t>(nr - 16 * v, 0, 16);
    mask[v] = __mmask16((1u << cols) - 1);
  }
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 14
  for (int r = 0; r < kMR; ++r) {
    if (r >= mr) break;
    float* cr = c + r * ldc;
    for (int v = 0; v < NV; ++v) {
      __m512 x = _mm512_mul_ps(va, acc[r][v]);
      if (beta != 0.0f) x = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mask[v], cr + 16 * v), x);
      _mm512_mask_storeu_ps(cr + 16 * v, mask[v], x);
    }
  }
}
#else
// Portable kernel: the compiler vectorises the NR loop (AVX2: 6 x 2 ymm accumulators).
template <int64_t NR>
inline void micro_kernel(int64_t kc, const float* __restrict pa, const float* __restrict pb,
                         float* c, int64_t ldc, int64_t mr, int64_t nr, float alpha, float beta) {
  float acc[kMR][NR] = {};
  for (int64_t p = 0; p < kc; ++p, pa += kMR, pb += NR) {
    for (int64_t r = 0; r < kMR; ++r) {
      const float ar = pa[r];
#pragma omp simd
      for (int64_t j = 0; j < NR; ++j) acc[r][j] += ar * pb[j];
    }
  }
  for (int64_t r = 0; r < mr; ++r) {
    float* cr = c + r * ldc;
    for (int64_t j = 0; j < nr; ++j)
      cr[j] = beta == 0.0f ? alpha * acc[r][j] : alpha * acc[r][j] + beta * cr[j];
  }
}
#endif

// Everything below the jc/pc loops: pack A blocks of rows [i0, i1) one at a time and multiply
// each with every packed B sliver of the current panel, into C.
template <int64_t NR>
void block(const float* a, Strides as, const float* pb, int64_t kc, int64_t nc, int64_t i0,
           int64_t i1, float alpha, float beta, float* c, int64_t ldc, float* pa) {
  for (int64_t ic = i0; ic < i1; ic += kMC) {
    const int64_t mc = std::min(kMC, i1 - ic);
    pack_a(a + ic * as.rs, as, mc, kc, pa);
    for (int64_t s = 0; s * NR < nc; ++s) {
      const int64_t jr = s * NR, nr = std::min(NR, nc - jr);
      for (int64_t ir = 0; ir < mc; ir += kMR) {
        micro_kernel<NR>(kc, pa + ir * kc, pb + s * NR * kc, c + (ic + ir) * ldc + jr, ldc,
                         std::min(kMR, mc - ir), nr, alpha, beta);
      }
    }
  }
}

// One GEMM's operands; op(X)(i, j) = x[i * rs + j * cs].
struct Job {
  int64_t m, n, k;
  float alpha, beta;
  const float* a;
  Strides as;
  const float* b;
  Strides bs;
  float* c;
  int64_t ldc;
};

// The whole algorithm on the sub-problem C[i0:i1, j0:j1], with this thread's own buffers.
// NR: the B sliver width, kNR, or kNR / 2 when n is that small (half the wasted work on the
// n = 10 products of a classifier's last layer).
template <int64_t NR>
void run(const Job& x, int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
  float* pa = tls_a.get(kMC * kKC);
  float* pb = tls_b.get(kKC * std::min(kNC, (j1 - j0 + NR - 1) / NR * NR));
  for (int64_t jc = j0; jc < j1; jc += kNC) {
    const int64_t nc = std::min(kNC, j1 - jc);
    for (int64_t pc = 0; pc < x.k; pc += kKC) {
      const int64_t kc = std::min(kKC, x.k - pc);
      pack_b<NR>(x.b + pc * x.bs.rs + jc * x.bs.cs, x.bs, kc, nc, pb);
      block<NR>(x.a + pc * x.as.cs, x.as, pb, kc, nc, i0, i1, x.alpha, pc == 0 ? x.beta : 1.0f,
                x.c + jc, x.ldc, pa);
    }
  }
}

// Threads share nothing: C is cut into nt stripes, each computed start to finish by one
// thread with its own packed panels, so there is no barrier at all. The price is that every
// thread packs the whole of the operand that is not split; cutting the longer side of C makes
// that the smaller one (cutting rows repacks B: (nt-1)*k*n extra floats).
template <int64_t NR>
void run_threads(const Job& x, int nt) {
  const int64_t row_slivers = (x.m + kMR - 1) / kMR, col_slivers = (x.n + NR - 1) / NR;
  const bool by_rows = x.m >= x.n ? row_slivers >= nt || row_slivers >= col_slivers
                                  : col_slivers < nt && row_slivers > col_slivers;
  const int64_t slivers = by_rows ? row_slivers : col_slivers;
  nt = int(std::min<int64_t>(nt, slivers));
  if (nt == 1)
    return run<NR>(x, 0, x.m, 0, x.n);  // no OpenMP region: a team of one costs microseconds
  std::exception_ptr error;  // an exception must not escape a parallel region (terminate)
#pragma omp parallel num_threads(nt)
  {
    const int64_t t = omp_get_thread_num(), team = omp_get_num_threads();
    // Even split in whole slivers: stripes differ by at most one sliver.
    const int64_t s0 = slivers * t / team, s1 = slivers * (t + 1) / team;
    try {  // (only a failed allocation of this thread's packing buffers can throw)
      if (by_rows) {
        run<NR>(x, std::min(x.m, s0 * kMR), std::min(x.m, s1 * kMR), 0, x.n);
      } else {
        run<NR>(x, 0, x.m, std::min(x.n, s0 * NR), std::min(x.n, s1 * NR));
      }
    } catch (...) {
#pragma omp critical(tg_gemm_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

void packed(const char* op, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
            float alpha, const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
            float* c, int64_t ldc, bool threaded) {
  kernels::detail::gemm_check(op, trans_a, trans_b, m, n, k, lda, ldb, ldc);
  if (m == 0 || n == 0) return;
  if (k == 0 || alpha == 0.0f) return detail::gemm_scale_c(m, n, beta, c, ldc);
  const Strides as = trans_a ? Strides{1, lda} : Strides{lda, 1};
  const Strides bs = trans_b ? Strides{1, ldb} : Strides{ldb, 1};
  const Job job{m, n, k, alpha, beta, a, as, b, bs, c, ldc};
  int nt = 1;
  if (threaded && double(m) * double(n) * double(k) >= kParallelMin) nt = omp_get_max_threads();
  if (n <= kNR / 2) return run_threads<kNR / 2>(job, nt);
  run_threads<kNR>(job, nt);
}

}  // namespace

void gemm_packed(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                 const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                 int64_t ldc) {
  packed("gemm_packed", trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, false);
}

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  packed("gemm", trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, true);
}

}  // namespace tg::kernels::cpu
