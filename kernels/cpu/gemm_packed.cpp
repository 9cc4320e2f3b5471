// GEMM rungs 4 (packed, one thread) and 5 (gemm: packed + OpenMP), the library's float GEMM.
//
// Algorithm (Goto / BLIS): five loops around a register-blocked micro-kernel.
//   for jc in n step kNC:                 B panel (kKC x kNC, shared by all threads)
//     for pc in k step kKC:               pack op(B)(pc.., jc..) into kNR-wide slivers
//       for ic in m step mc (threads):    pack op(A)(ic.., pc..) into kMR-tall slivers (per
//         for jr in nc step kNR:            thread, stays in L2); the B sliver (kKC x kNR,
//           for ir in mc step kMR:          32 KiB) stays in L1 while every A sliver of the
//             micro-kernel: kMR x kNR        block streams past it
//             tile of C += A sliver * B sliver, kept in registers for the whole kKC loop.
// Cost: 2*m*n*k FLOPs. Bytes: A is packed (read + written) ceil(n/kNC) times, B once; C is
// read and written ceil(k/kKC) times; from L2 the micro-kernel reads kMR + kNR floats per
// kMR*kNR multiply-adds (14 x 32: 46 floats per 448 FMAs), which is what makes it compute bound.
//
// Why packing: the micro-kernel then reads both operands with unit stride from aligned,
// contiguous memory whatever the transposes and leading dimensions, edges are zero padded so
// one kernel serves every tile, and the panels live in the cache level they were sized for.
//
// Determinism: kKC is a constant, so each C element is the same sum of the same kKC-long
// partial products (each one added in ascending k inside the micro-kernel, in registers)
// whatever the thread count or the split of C among threads; threads only decide *who*
// computes a tile. Hence gemm == gemm_packed bit for bit, for any OMP_NUM_THREADS.
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <new>

#include "kernels/gemm.h"

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

namespace tg::kernels::cpu {

namespace detail {  // defined in gemm_ladder.cpp
void gemm_check(const char* op, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                int64_t lda, int64_t ldb, int64_t ldc);
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
// kKC: B sliver kKC*kNR*4 = 32 KiB of the 48 KiB L1 (AVX-512). Fixed: it sets the summation
// order. kMC: A block kMC*kKC*4 up to ~260 KiB of the 1 MiB L2. kNC: B panel 1 MiB (L2/L3).
constexpr int64_t kKC = 256, kMC = 18 * kMR, kNC = 1024;
// Below this many multiply-adds one thread finishes before a team would have started.
constexpr double kParallelMin = 64.0 * 64.0 * 64.0;

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
// One full sliver of row-major A, 16 columns at a time: 14 rows of 16 floats are transposed in
// registers (64 shuffles) into 16 runs of 14, each one masked store. Scalar packing would
// need a store per float. Returns the number of columns packed (kc rounded down to 16).
int64_t pack_a_sliver_avx512(const float* a, int64_t lda, int64_t kc, float* __restrict dst) {
  static_assert(kMR <= 16);
  const __mmask16 rows = __mmask16((1u << kMR) - 1);
  const auto lo = [](__m512 x, __m512 y) {
    return _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(x), _mm512_castps_pd(y)));
  };
  const auto hi = [](__m512 x, __m512 y) {
    return _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(x), _mm512_castps_pd(y)));
  };
  int64_t p = 0;
  for (; p + 16 <= kc; p += 16) {
    __m512 r[16], t[16];
    for (int i = 0; i < 16; ++i) r[i] = i < kMR ? _mm512_loadu_ps(a + i * lda + p) : _mm512_setzero_ps();
    for (int i = 0; i < 16; i += 2) {  // pairs of rows interleaved within 128-bit lanes
      t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
      t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {  // r[i + j], lane L: rows i..i+3 of column 4L + j
      r[i] = lo(t[i], t[i + 2]);
      r[i + 1] = hi(t[i], t[i + 2]);
      r[i + 2] = lo(t[i + 1], t[i + 3]);
      r[i + 3] = hi(t[i + 1], t[i + 3]);
    }
    for (int j = 0; j < 4; ++j) {  // gather lane L of r[j], r[4+j], r[8+j], r[12+j]
      const __m512 x0 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x44);
      const __m512 x1 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xEE);
      const __m512 y0 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x44);
      const __m512 y1 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xEE);
      t[j] = _mm512_shuffle_f32x4(x0, y0, 0x88);
      t[4 + j] = _mm512_shuffle_f32x4(x0, y0, 0xDD);
      t[8 + j] = _mm512_shuffle_f32x4(x1, y1, 0x88);
      t[12 + j] = _mm512_shuffle_f32x4(x1, y1, 0xDD);
    }
    for (int q = 0; q < 16; ++q) _mm512_mask_storeu_ps(dst + (p + q) * kMR, rows, t[q]);
  }
  return p;
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
      if (mr == kMR) p0 = pack_a_sliver_avx512(a + i0 * as.rs, as.rs, kc, dst);
#endif
      for (int64_t r = 0; r < mr; ++r) {
        const float* src = a + (i0 + r) * as.rs;
        for (int64_t p = p0; p < kc; ++p) dst[p * kMR + r] = src[p];
      }
      for (int64_t r = mr; r < kMR; ++r)
        for (int64_t p = p0; p < kc; ++p) dst[p * kMR + r] = 0.0f;
    } else {  // transposed A: the kMR values for one p are contiguous
      for (int64_t p = 0; p < kc; ++p) {
        const float* src = a + p * as.cs + i0;
        for (int64_t r = 0; r < kMR; ++r) dst[p * kMR + r] = r < mr ? src[r] : 0.0f;
      }
    }
  }
}

// B panel (kc x nc, starting at b) -> slivers of kNR columns, sliver s holding for each p the
// kNR values op(B)(p, s*kNR + 0..kNR-1). Columns past nc are zero. Slivers [s0, s1) only.
void pack_b(const float* b, Strides bs, int64_t kc, int64_t nc, int64_t s0, int64_t s1,
            float* __restrict dst) {
  for (int64_t s = s0; s < s1; ++s) {
    const int64_t j0 = s * kNR, nr = std::min(kNR, nc - j0);
    float* d = dst + s * kNR * kc;
    if (bs.cs == 1) {  // rows of B contiguous in n: one vector copy per p
      for (int64_t p = 0; p < kc; ++p) {
        const float* src = b + p * bs.rs + j0;
#pragma omp simd
        for (int64_t j = 0; j < kNR; ++j) d[p * kNR + j] = j < nr ? src[j] : 0.0f;
      }
    } else {  // transposed B: columns contiguous in k
      for (int64_t j = 0; j < nr; ++j) {
        const float* src = b + (j0 + j) * bs.cs;
        for (int64_t p = 0; p < kc; ++p) d[p * kNR + j] = src[p];
      }
      for (int64_t j = nr; j < kNR; ++j)
        for (int64_t p = 0; p < kc; ++p) d[p * kNR + j] = 0.0f;
    }
  }
}

// C tile (mr x nr <= kMR x kNR) = alpha * (A sliver * B sliver) + beta * C; beta == 0: C is
// not read. The full kMR x kNR product is computed on the zero-padded slivers.
#if defined(__AVX512F__)
inline void micro_kernel(int64_t kc, const float* __restrict pa, const float* __restrict pb,
                         float* c, int64_t ldc, int64_t mr, int64_t nr, float alpha, float beta) {
  __m512 c0[kMR], c1[kMR];
#pragma GCC unroll 14
  for (int r = 0; r < kMR; ++r) c0[r] = c1[r] = _mm512_setzero_ps();
  for (int64_t p = 0; p < kc; ++p, pa += kMR, pb += kNR) {
    const __m512 b0 = _mm512_load_ps(pb), b1 = _mm512_load_ps(pb + 16);
#pragma GCC unroll 14
    for (int r = 0; r < kMR; ++r) {
      const __m512 ar = _mm512_set1_ps(pa[r]);
      c0[r] = _mm512_fmadd_ps(ar, b0, c0[r]);
      c1[r] = _mm512_fmadd_ps(ar, b1, c1[r]);
    }
  }
  const __mmask16 m0 = nr >= 16 ? 0xFFFF : __mmask16((1u << nr) - 1);
  const __mmask16 m1 = nr >= 32 ? 0xFFFF : nr <= 16 ? 0 : __mmask16((1u << (nr - 16)) - 1);
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 14
  for (int r = 0; r < kMR; ++r) {
    if (r >= mr) break;
    float* cr = c + r * ldc;
    __m512 x0 = _mm512_mul_ps(va, c0[r]), x1 = _mm512_mul_ps(va, c1[r]);
    if (beta != 0.0f) {
      x0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, cr), x0);
      x1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, cr + 16), x1);
    }
    _mm512_mask_storeu_ps(cr, m0, x0);
    _mm512_mask_storeu_ps(cr + 16, m1, x1);
  }
}
#else
// Portable kernel: the compiler vectorises the kNR loop (AVX2: 6 x 2 ymm accumulators).
inline void micro_kernel(int64_t kc, const float* __restrict pa, const float* __restrict pb,
                         float* c, int64_t ldc, int64_t mr, int64_t nr, float alpha, float beta) {
  float acc[kMR][kNR] = {};
  for (int64_t p = 0; p < kc; ++p, pa += kMR, pb += kNR) {
    for (int64_t r = 0; r < kMR; ++r) {
      const float ar = pa[r];
#pragma omp simd
      for (int64_t j = 0; j < kNR; ++j) acc[r][j] += ar * pb[j];
    }
  }
  for (int64_t r = 0; r < mr; ++r) {
    float* cr = c + r * ldc;
    for (int64_t j = 0; j < nr; ++j)
      cr[j] = beta == 0.0f ? alpha * acc[r][j] : alpha * acc[r][j] + beta * cr[j];
  }
}
#endif

// Everything below the jc/pc loops: pack the A block rows [i0, i1) and multiply it with the
// packed B slivers [s0, s1) of the current panel into C.
void block(const float* a, Strides as, const float* pb, int64_t kc, int64_t nc, int64_t i0,
           int64_t i1, int64_t s0, int64_t s1, float alpha, float beta, float* c, int64_t ldc,
           float* pa) {
  for (int64_t ic = i0; ic < i1; ic += kMC) {
    const int64_t mc = std::min(kMC, i1 - ic);
    pack_a(a + ic * as.rs, as, mc, kc, pa);
    for (int64_t s = s0; s < s1; ++s) {
      const int64_t jr = s * kNR, nr = std::min(kNR, nc - jr);
      for (int64_t ir = 0; ir < mc; ir += kMR) {
        micro_kernel(kc, pa + ir * kc, pb + s * kNR * kc, c + (ic + ir) * ldc + jr, ldc,
                     std::min(kMR, mc - ir), nr, alpha, beta);
      }
    }
  }
}

// One GEMM, as seen by thread tid of nt (nt == 1: the caller alone, no OpenMP region at all).
struct Job {
  int64_t m, n, k;
  float alpha, beta;
  const float* a;
  Strides as;
  const float* b;
  Strides bs;
  float* c;
  int64_t ldc;
  float* pb;  // the shared B panel
};

void run(const Job& x, int tid, int nt) {
  float* pa = tls_a.get(kMC * kKC);
  // Split C among threads: by rows when there are enough kMR slivers for everyone, else by
  // column slivers (each thread then packs the same, small, A block).
  const int64_t row_slivers = (x.m + kMR - 1) / kMR;
  const int64_t col_groups = row_slivers >= 4 * nt ? 1 : nt, row_groups = nt / col_groups;
  const int64_t rg = tid % row_groups, cg = tid / row_groups;
  // Even split in whole slivers: groups differ by at most one sliver.
  const int64_t i0 = std::min(x.m, row_slivers * rg / row_groups * kMR);
  const int64_t i1 = std::min(x.m, row_slivers * (rg + 1) / row_groups * kMR);
  for (int64_t jc = 0; jc < x.n; jc += kNC) {
    const int64_t nc = std::min(kNC, x.n - jc), slivers = (nc + kNR - 1) / kNR;
    for (int64_t pc = 0; pc < x.k; pc += kKC) {
      const int64_t kc = std::min(kKC, x.k - pc);
      pack_b(x.b + pc * x.bs.rs + jc * x.bs.cs, x.bs, kc, nc, slivers * tid / nt,
             slivers * (tid + 1) / nt, x.pb);
      if (nt > 1) {
#pragma omp barrier
      }  // the panel is complete before anyone multiplies with it
      block(x.a + pc * x.as.cs, x.as, x.pb, kc, nc, i0, i1, slivers * cg / col_groups,
            slivers * (cg + 1) / col_groups, x.alpha, pc == 0 ? x.beta : 1.0f, x.c + jc, x.ldc,
            pa);
      if (nt > 1) {
#pragma omp barrier
      }  // nobody repacks B while another thread still reads it
    }
  }
}

void packed(const char* op, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
            float alpha, const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
            float* c, int64_t ldc, bool threaded) {
  detail::gemm_check(op, trans_a, trans_b, m, n, k, lda, ldb, ldc);
  if (m == 0 || n == 0) return;
  if (k == 0 || alpha == 0.0f) return detail::gemm_scale_c(m, n, beta, c, ldc);
  const Job job{m,
                n,
                k,
                alpha,
                beta,
                a,
                trans_a ? Strides{1, lda} : Strides{lda, 1},
                b,
                trans_b ? Strides{1, ldb} : Strides{ldb, 1},
                c,
                ldc,
                tls_b.get(kKC * std::min(kNC, (n + kNR - 1) / kNR * kNR))};
  int nt = 1;
  if (threaded && double(m) * double(n) * double(k) >= kParallelMin) nt = omp_get_max_threads();
  if (nt == 1) return run(job, 0, 1);  // no OpenMP region: a team of one still costs microseconds
#pragma omp parallel num_threads(nt)
  run(job, omp_get_thread_num(), omp_get_num_threads());
}

}  // namespace

void gemm_packed(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                 const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                 int64_t ldc) {
  packed("gemm_packed", trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, false);
}

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
          const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
          int64_t ldc) {
  packed("gemm", trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, true);
}

}  // namespace tg::kernels::cpu
