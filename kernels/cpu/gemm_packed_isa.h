// The packed GEMM for one instruction set: packing, the register micro-kernel and the loops
// around it (kernels/cpu/gemm_packed.cpp has the algorithm, the dispatch and the blocking).
//
// Included by gemm_packed.cpp once per ISA, each time inside its own namespace and, on x86,
// its own `#pragma GCC target` region, with TG_GEMM_LEVEL set to 3 (AVX-512F + FMA), 2 (AVX2
// + FMA) or 1 (portable C++ the compiler vectorises for the build's baseline). So a binary
// built for any x86-64 (TG_NATIVE=OFF) still runs the AVX-512 or AVX2 kernel, whichever the
// CPU has; the choice is made at run time. No include guard: it is meant to be included
// several times. Everything here is internal to gemm_packed.cpp.
//
// Expects from the includer: Strides, Job, Blocking, kKC, tls_a, tls_b, share_stripes
// (gemm_packed.cpp).

#if TG_GEMM_LEVEL == 3
// Register tile kMR x kNR: accumulators must fit in the vector registers with room for the
// B vectors and one broadcast of A. AVX-512: 14 x 2 zmm accumulators + 2 B + 1 A = 31 of 32.
constexpr int64_t kMR = 14, kNR = 32, kVec = 16;
#elif TG_GEMM_LEVEL == 2
constexpr int64_t kMR = 6, kNR = 16, kVec = 8;  // 12 ymm accumulators + 2 B + 1 A of 16
#else
constexpr int64_t kMR = 4, kNR = 16, kVec = 1;
#endif

#if TG_GEMM_LEVEL == 3
// In-register 16 x 16 transpose: on return r[q] holds element q of every input vector, in
// order. 64 shuffles for 256 floats; packing that needs a transpose (row-major A, transposed B)
// would otherwise take one scalar store per float. (The maskz forms with an all-ones mask are
// the same instructions; GCC 12 warns about the undefined operand of the unmasked ones.)
inline void transpose_block(__m512 r[16]) {
  constexpr __mmask16 all = 0xFFFF;
  // (Macros, not lambdas: a lambda returning __m512 is not compiled for the target region's
  // ISA in a build without -march=native, and GCC warns about its ABI.)
#define TG_LO(x, y) \
  _mm512_castpd_ps(_mm512_maskz_unpacklo_pd(0xFF, _mm512_castps_pd(x), _mm512_castps_pd(y)))
#define TG_HI(x, y) \
  _mm512_castpd_ps(_mm512_maskz_unpackhi_pd(0xFF, _mm512_castps_pd(x), _mm512_castps_pd(y)))
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {  // pairs of inputs interleaved within 128-bit lanes
    t[i] = _mm512_maskz_unpacklo_ps(all, r[i], r[i + 1]);
    t[i + 1] = _mm512_maskz_unpackhi_ps(all, r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {  // r[i + j], lane L: inputs i..i+3, element 4L + j
    r[i] = TG_LO(t[i], t[i + 2]);
    r[i + 1] = TG_HI(t[i], t[i + 2]);
    r[i + 2] = TG_LO(t[i + 1], t[i + 3]);
    r[i + 3] = TG_HI(t[i + 1], t[i + 3]);
  }
#undef TG_LO
#undef TG_HI
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
    transpose_block(r);
    for (int i = 0; i < 16; ++i) _mm512_mask_storeu_ps(dst + (q + i) * dld, keep, r[i]);
  }
  return q;
}
#elif TG_GEMM_LEVEL == 2
// In-register 8 x 8 transpose (24 shuffles for 64 floats): r[q] becomes element q of every
// input vector.
inline void transpose_block(__m256 r[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
    u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int j = 0; j < 4; ++j) {
    r[j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x20);
    r[4 + j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x31);
  }
}

// As the AVX-512 one, 8 floats at a time, rows <= 8 and lanes <= 8; stores of `lanes` floats
// go through a mask.
inline int64_t transpose_runs(const float* x, int64_t ld, int64_t rows, int64_t n, float* dst,
                              int64_t dld, int64_t lanes) {
  alignas(32) static constexpr int32_t kIota[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  const __m256i keep =
      _mm256_cmpgt_epi32(_mm256_set1_epi32(int32_t(lanes)),
                         _mm256_load_si256(reinterpret_cast<const __m256i*>(kIota)));
  int64_t q = 0;
  for (; q + 8 <= n; q += 8) {
    __m256 r[8];
    for (int i = 0; i < 8; ++i)
      r[i] = i < rows ? _mm256_loadu_ps(x + i * ld + q) : _mm256_setzero_ps();
    transpose_block(r);
    for (int i = 0; i < 8; ++i) _mm256_maskstore_ps(dst + (q + i) * dld, keep, r[i]);
  }
  return q;
}
#endif

// A block (mc x kc, starting at a) -> slivers of kMR rows; sliver s holds, for each p, the
// kMR values op(A)(s*kMR + 0..kMR-1, p) side by side. Rows past mc are zero.
inline void pack_a(const float* a, Strides as, int64_t mc, int64_t kc, float* __restrict dst) {
  for (int64_t i0 = 0; i0 < mc; i0 += kMR, dst += kMR * kc) {
    const int64_t mr = std::min(kMR, mc - i0);
    if (as.cs == 1) {  // rows of A contiguous in k: a transpose
      int64_t p0 = 0;
#if TG_GEMM_LEVEL >= 2
      // kMR rows in transposes of kVec: AVX-512 takes the 14 in one, AVX2 the 6 in one.
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
#if TG_GEMM_LEVEL >= 2
      for (int64_t h = 0; h < NR; h += kVec) {  // kVec columns at a time, zeros past nr
        const int64_t cols = std::clamp<int64_t>(nr - h, 0, kVec);
        p0 = transpose_runs(b + (j0 + h) * bs.cs, bs.cs, cols, kc, d + h, NR, kVec);
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

// The register kernel every tile of levels 3 and 2 goes through, packed or not:
//   C tile (mr x nr, mr <= MR, nr <= NR) = alpha * sum_p A(r, p) B(p, 0..NR-1) + beta * C,
// with A(r, p) = a[r * lda + p] (kRowsA: rows of A contiguous in k) or a[p * lda + r], and B's
// row p the NR floats at b + p * ldb. A packed sliver is the second form with lda = kMR and a
// packed B sliver has ldb = NR; the direct products below pass A and B as they lie in memory.
// beta == 0: C is not read. Every element is the products in ascending p, one fused
// multiply-add each from zero, then alpha * sum (+ beta * C): the same roundings at levels 3
// and 2, packed or direct, so all of them give identical bits.
#if TG_GEMM_LEVEL == 3
template <int MR, int64_t NR, bool kRowsA>
inline void tile_kernel(int64_t kc, const float* __restrict a, int64_t lda,
                        const float* __restrict b, int64_t ldb, float* c, int64_t ldc, int64_t mr,
                        int64_t nr, float alpha, float beta) {
  constexpr int NV = NR / 16;  // zmm vectors per row of the tile
  __m512 acc[MR][NV];
#pragma GCC unroll 14
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int64_t p = 0; p < kc; ++p, b += ldb) {
    __m512 bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_loadu_ps(b + 16 * v);
    const float* ap = kRowsA ? a + p : a + p * lda;
#pragma GCC unroll 14
    for (int r = 0; r < MR; ++r) {
      const __m512 ar = _mm512_set1_ps(kRowsA ? ap[r * lda] : ap[r]);
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
  for (int r = 0; r < MR; ++r) {
    if (r >= mr) break;
    float* cr = c + r * ldc;
    for (int v = 0; v < NV; ++v) {
      __m512 x = _mm512_mul_ps(va, acc[r][v]);
      if (beta != 0.0f) x = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mask[v], cr + 16 * v), x);
      _mm512_mask_storeu_ps(cr + 16 * v, mask[v], x);
    }
  }
}
#elif TG_GEMM_LEVEL == 2
template <int MR, int64_t NR, bool kRowsA>
inline void tile_kernel(int64_t kc, const float* __restrict a, int64_t lda,
                        const float* __restrict b, int64_t ldb, float* c, int64_t ldc, int64_t mr,
                        int64_t nr, float alpha, float beta) {
  constexpr int NV = NR / 8;  // ymm vectors per row of the tile
  __m256 acc[MR][NV];
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_setzero_ps();
  for (int64_t p = 0; p < kc; ++p, b += ldb) {
    __m256 bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = _mm256_loadu_ps(b + 8 * v);
    const float* ap = kRowsA ? a + p : a + p * lda;
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      const __m256 ar = _mm256_broadcast_ss(kRowsA ? ap + r * lda : ap + r);
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_fmadd_ps(ar, bv[v], acc[r][v]);
    }
  }
  // (Every loop over the tile's rows runs to the constant MR, fully unrolled, with a break:
  // indexing acc with a run-time bound would make GCC keep it in memory, storing all 12
  // accumulators on every step of the k loop, at a third of the speed.)
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
  if (nr == NR) {  // a whole tile row: plain vector loads and stores
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      if (r >= mr) break;
      float* cr = c + r * ldc;
      for (int v = 0; v < NV; ++v) {
        __m256 x = _mm256_mul_ps(va, acc[r][v]);
        if (beta != 0.0f) x = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr + 8 * v), x);
        _mm256_storeu_ps(cr + 8 * v, x);
      }
    }
    return;
  }
  alignas(32) float tile[MR][NR];  // an edge tile: through memory, then the columns inside C
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) _mm256_store_ps(&tile[r][8 * v], _mm256_mul_ps(va, acc[r][v]));
  for (int64_t r = 0; r < mr; ++r) {
    float* cr = c + r * ldc;
    for (int64_t j = 0; j < nr; ++j)
      cr[j] = beta == 0.0f ? tile[r][j] : std::fma(beta, cr[j], tile[r][j]);
  }
}
#endif

#if TG_GEMM_LEVEL >= 2
// A packed tile: kMR rows of the A sliver (zero padded past mr) times a B sliver.
template <int64_t NR>
inline void micro_kernel(int64_t kc, const float* __restrict pa, const float* __restrict pb,
                         float* c, int64_t ldc, int64_t mr, int64_t nr, float alpha, float beta) {
  tile_kernel<kMR, NR, false>(kc, pa, kMR, pb, NR, c, ldc, mr, nr, alpha, beta);
}
#else
// Portable kernel: the compiler vectorises the NR loop for the build's baseline.
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
  for (int64_t r = 0; r < kMR; ++r) {  // to the constant kMR (see the AVX2 kernel)
    if (r >= mr) break;
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
           int64_t i1, int64_t mcb, float alpha, float beta, float* c, int64_t ldc, float* pa) {
  for (int64_t ic = i0; ic < i1; ic += mcb) {
    const int64_t mc = std::min(mcb, i1 - ic);
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

// The whole algorithm on the sub-problem C[i0:i1, j0:j1], with this thread's own buffers.
// NR: the B sliver width, kNR, or kNR / 2 when n is that small (half the wasted work on the
// n = 10 products of a classifier's last layer).
template <int64_t NR>
void run(const Job& x, const Blocking& bl, int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
  float* pa = tls_a.get(bl.mc * kKC);
  float* pb = tls_b.get(kKC * std::min(bl.nc, (j1 - j0 + NR - 1) / NR * NR));
  for (int64_t jc = j0; jc < j1; jc += bl.nc) {
    const int64_t nc = std::min(bl.nc, j1 - jc);
    for (int64_t pc = 0; pc < x.k; pc += kKC) {
      const int64_t kc = std::min(kKC, x.k - pc);
      pack_b<NR>(x.b + pc * x.bs.rs + jc * x.bs.cs, x.bs, kc, nc, pb);
      block<NR>(x.a + pc * x.as.cs, x.as, pb, kc, nc, i0, i1, bl.mc, x.alpha,
                pc == 0 ? x.beta : 1.0f, x.c + jc, x.ldc, pa);
    }
  }
}

// Threads share nothing: C is cut into nt stripes of whole slivers, each computed start to
// finish by one thread with its own buffers, so there is no barrier at all; part(i0, i1, j0,
// j1) computes C[i0:i1, j0:j1]. The price is that every thread reads (packed or direct) the
// whole of the operand that is not split; cutting the longer side of C makes that the smaller
// one (cutting rows repacks B: (nt-1)*k*n extra floats). Who computes an element changes none
// of its bits.
// helped: the stripes go to share_stripes (the calling thread and the GemmHelper threads,
// gemm_packed.cpp) instead of an OpenMP team.
template <int64_t NR, typename Part>
void over_stripes(const Job& x, int nt, const Part& part, bool helped) {
  const int64_t row_slivers = (x.m + kMR - 1) / kMR, col_slivers = (x.n + NR - 1) / NR;
  const bool by_rows = x.m >= x.n ? row_slivers >= nt || row_slivers >= col_slivers
                                  : col_slivers < nt && row_slivers > col_slivers;
  const int64_t slivers = by_rows ? row_slivers : col_slivers;
  nt = int(std::min<int64_t>(nt, slivers));
  if (nt == 1) return part(0, x.m, 0, x.n);  // no OpenMP region: a team of one costs microseconds
  // Stripe t of team: an even split in whole slivers (stripes differ by at most one sliver).
  auto stripe = [&](int64_t t, int64_t team) {
    const int64_t s0 = slivers * t / team, s1 = slivers * (t + 1) / team;
    if (by_rows) {
      part(std::min(x.m, s0 * kMR), std::min(x.m, s1 * kMR), 0, x.n);
    } else {
      part(0, x.m, std::min(x.n, s0 * NR), std::min(x.n, s1 * NR));
    }
  };
  if (helped) {
    if (!share_stripes(nt, [&](int t) { stripe(t, nt); })) part(0, x.m, 0, x.n);
    return;
  }
  std::exception_ptr error;  // an exception must not escape a parallel region (terminate)
#pragma omp parallel num_threads(nt)
  {
    try {  // (only a failed allocation of this thread's buffers can throw)
      stripe(omp_get_thread_num(), omp_get_num_threads());
    } catch (...) {
#pragma omp critical(tg_gemm_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

template <int64_t NR>
void run_threads(const Job& x, const Blocking& bl, int nt, bool helped) {
  over_stripes<NR>(
      x, nt,
      [&](int64_t i0, int64_t i1, int64_t j0, int64_t j1) { run<NR>(x, bl, i0, i1, j0, j1); },
      helped);
}

#if TG_GEMM_LEVEL >= 2
// Direct products (small ones; gemm_packed.cpp decides when): the tiles read A
// where it lies, and B too unless it is transposed, so nothing is packed but a transposed B
// panel and the ragged last B sliver (into zero-padded NR columns). Tiles are as tall as the
// rows left (1..kMR: no multiply-adds wasted on a ragged m). The loops, the kKC steps and
// each element's sum are those of run(): the same bits.
constexpr bool kHasDirect = true;

// The tile kernel for exactly mr rows (1 <= mr <= kMR), picked from its instances.
template <int64_t NR, bool kRowsA, int... R>
inline void direct_tile(std::integer_sequence<int, R...>, int64_t mr, int64_t kc, const float* a,
                        int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t nr,
                        float alpha, float beta) {
  (void)((mr == R + 1 &&
          (tile_kernel<R + 1, NR, kRowsA>(kc, a, lda, b, ldb, c, ldc, mr, nr, alpha, beta),
           true)) ||
         ...);
}

template <int64_t NR, bool kRowsA>
void run_direct(const Job& x, const Blocking& bl) {
  const int64_t lda = kRowsA ? x.as.rs : x.as.cs;  // the other stride is 1
  const bool pack = x.bs.cs != 1;                  // a transposed B: packed panel by panel
  const int64_t panel = pack ? std::min(bl.nc, (x.n + NR - 1) / NR * NR) : NR;
  float* pb = tls_b.get(kKC * panel);
  for (int64_t jc = 0; jc < x.n; jc += bl.nc) {
    const int64_t nc = std::min(bl.nc, x.n - jc);
    for (int64_t pc = 0; pc < x.k; pc += kKC) {
      const int64_t kc = std::min(kKC, x.k - pc);
      const float* bp = x.b + pc * x.bs.rs + jc * x.bs.cs;
      if (pack) pack_b<NR>(bp, x.bs, kc, nc, pb);
      const float beta = pc == 0 ? x.beta : 1.0f;
      for (int64_t jr = 0; jr < nc; jr += NR) {
        const int64_t nr = std::min(NR, nc - jr);
        const float* bs = pb + jr * kc;  // packed sliver
        int64_t ldb = NR;
        if (!pack && nr == NR) {
          bs = bp + jr, ldb = x.bs.rs;  // B's own rows
        } else if (!pack) {
          pack_b<NR>(bp + jr, x.bs, kc, nr, pb);  // the ragged last sliver, zero padded
          bs = pb;
        }
        for (int64_t ir = 0; ir < x.m; ir += kMR) {
          const float* a = x.a + ir * x.as.rs + pc * x.as.cs;
          direct_tile<NR, kRowsA>(std::make_integer_sequence<int, int(kMR)>(),
                                  std::min(kMR, x.m - ir), kc, a, lda, bs, ldb,
                                  x.c + ir * x.ldc + jc + jr, x.ldc, nr, x.alpha, beta);
        }
      }
    }
  }
}

template <int64_t NR>
void direct(const Job& x, const Blocking& bl) {
  if (x.as.cs == 1) return run_direct<NR, true>(x, bl);
  run_direct<NR, false>(x, bl);
}
#else
constexpr bool kHasDirect = false;
template <int64_t NR>
void direct(const Job& x, const Blocking& bl) {
  run<NR>(x, bl, 0, x.m, 0, x.n);
}
#endif

// A direct product on nt threads: each thread direct on its stripe of C (over_stripes).
template <int64_t NR>
void direct_threads(const Job& x, const Blocking& bl, int nt, bool helped) {
  over_stripes<NR>(
      x, nt,
      [&](int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
        Job y = x;
        y.m = i1 - i0, y.n = j1 - j0;
        y.a = x.a + i0 * x.as.rs, y.b = x.b + j0 * x.bs.cs, y.c = x.c + i0 * x.ldc + j0;
        direct<NR>(y, bl);
      },
      helped);
}

// The entry point of this ISA: the job on nt threads (1: the calling thread alone), direct
// (unpacked) when the caller says so (small operands); helped: the nt threads are the caller
// and the GemmHelper threads (gemm_packed.cpp: packed()).
inline void multiply(const Job& x, const Blocking& bl, int nt, bool direct_product, bool helped) {
  if (direct_product)
    return x.n <= kNR / 2 ? direct_threads<kNR / 2>(x, bl, nt, helped)
                          : direct_threads<kNR>(x, bl, nt, helped);
  if (x.n <= kNR / 2) return run_threads<kNR / 2>(x, bl, nt, helped);
  run_threads<kNR>(x, bl, nt, helped);
}
