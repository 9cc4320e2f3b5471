// Conv2d rung 2, the library's conv: rung 1's lowering (kernels/cpu/conv_im2col.cpp) with
// several images side by side in one column matrix, the work items shared among OpenMP
// threads, and no lowering at all where the conv already is a GEMM. See kernels/conv.h.
//
// Why chunks: the course CNN's layers are small GEMMs per image (O = 8..32 rows, P = OH*OW =
// 196 down to 4 columns, K = 25..288), below the micro-kernel's 32-column panel for P = 4 and
// dominated by packing for the others. Lowering B images into one (K, B*P) matrix gives one
// GEMM with B*P columns. B (images_per_chunk) depends only on the shape: about kTargetCols
// columns, the column matrix capped at kMaxColElems, and at least kMinChunks chunks when the
// batch allows (so two threads have work). Large images get B = 1, as rung 1.
//
//   forward          item (chunk, g): im2col of the chunk's images into the thread's column
//                    matrix (K, B*P), Z = Wg @ col (O/g, B*P), then Z's blocks are copied to
//                    y[n, g] (with the bias); for B = 1 the GEMM writes y itself.
//   backward input   item (chunk, g): gy[n, g] of the chunk gathered into G (O/g, B*P),
//                    col = Wg^T @ G, then gx[n, g] = col2im of each image's block.
//   backward weight  the chunks are cut into kChunks fixed ranges (by the shape alone); item
//                    (range, g) sums G @ col^T over the range's chunks, in order, into its own
//                    partial (O/g x K) block; the partials are then added in range order.
//   1x1 kernels with stride 1 and no padding skip im2col (B = 1): x[n, g] (C/g x H*W,
//   row-major) is the column matrix itself, and backward input writes Wg^T @ gy straight into gx.
// Cost: as rung 1 (2 * N*O*P*K FLOPs, K*P column elements per image), plus the copies of y or
// gy through Z or G (one pass over the output) and kChunks * O*K partial elements for the
// weight gradient. With fewer items than threads (batch 1, one group) the items run in order
// and the GEMM itself (kernels/gemm.h's rung 5) is the parallel part instead.
//
// Determinism: an item is always one single-threaded GEMM of the same sizes, and gemm ==
// gemm_packed bit for bit (kernels/gemm.h), so which thread runs an item, and whether the GEMM
// inside it is threaded, changes no bit; the chunks and ranges are fixed by the shape and the
// partials added in order. Hence the results do not depend on OMP_NUM_THREADS. Each output
// element of the forward and backward-input GEMMs is the same sum over K in the same order as
// in rung 1 (the GEMM's order over k does not depend on the number of columns), so those
// results equal rung 1's bit for bit; the weight gradient sums over images in a different
// grouping and agrees with rung 1 to rounding.
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <type_traits>
#include <vector>

#include "kernels/conv.h"
#include "kernels/cpu/common.h"
#include "kernels/gemm.h"

namespace tg::kernels::cpu {

namespace {

// Fixed number of batch ranges for the weight gradient: enough items for a few threads, few
// enough partials (kChunks * O*K) to stay small.
constexpr int64_t kChunks = 8;
// The chunking of images (see the top of the file).
constexpr int64_t kTargetCols = 512, kMaxColElems = 64 * 1024, kMinChunks = 4;
// detail::scratch's tag for the items' buffers (apart from other kernels' scratch).
constexpr int kScratchTag = 20;

// A GEMM on the calling thread: rung 4 for float; the double gemm runs single-threaded inside
// an outer parallel region (nested regions are inactive) and sums in the same order either way.
void gemm_1t(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
             int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  gemm_packed(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
void gemm_1t(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
             int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

bool is_pointwise(const Conv2dShape& s) {
  return s.kh == 1 && s.kw == 1 && s.sh == 1 && s.sw == 1 && s.ph == 0 && s.pw == 0;
}

int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

// B: images lowered side by side into one column matrix. A function of the shape alone.
int64_t images_per_chunk(const Conv2dShape& s) {
  if (is_pointwise(s) || s.n <= 1) return 1;
  const int64_t P = s.out_h() * s.out_w(), K = s.kdim();
  int64_t b = ceil_div(kTargetCols, P);
  b = std::min(b, std::max<int64_t>(1, kMaxColElems / (K * P)));
  b = std::min(b, ceil_div(s.n, kMinChunks));
  return std::clamp<int64_t>(b, 1, s.n);
}

// Runs body(item, buf, threaded) for item in [0, items): in parallel, each thread with its own
// buffer of buf_size elements, or in order with threaded GEMMs when there are fewer items than
// threads. An exception inside the region is carried out of it and rethrown. The buffer is the
// thread's reusable scratch (kernels/cpu/common.h), uninitialised: every pass writes what it
// reads (a zeroed std::vector per call was a memset and a page-faulting allocation each time).
template <typename T, typename Body>
void for_items(int64_t items, int64_t buf_size, const Body& body) {
  if (items < 2 || items < omp_get_max_threads()) {
    T* buf = detail::scratch<T, kScratchTag>(buf_size);
    for (int64_t it = 0; it < items; ++it) body(it, buf, true);
    return;
  }
  std::exception_ptr error;
#pragma omp parallel
  {
    try {
      T* buf = detail::scratch<T, kScratchTag>(buf_size);
#pragma omp for schedule(dynamic, 1)
      for (int64_t it = 0; it < items; ++it) body(it, buf, false);
    } catch (...) {
#pragma omp critical(tg_conv_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

template <typename T>
void gemm_any(bool threaded, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* a,
              int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  if (threaded)
    gemm(ta, tb, m, n, k, T(1), a, lda, b, ldb, beta, c, ldc);
  else
    gemm_1t(ta, tb, m, n, k, T(1), a, lda, b, ldb, beta, c, ldc);
}

// Output rows shorter than this are lowered through a table of offsets (Plan::taps) rather
// than im2col's runs: a run of 2 or 7 elements costs more to set up than to copy.
constexpr int64_t kRunMin = 16;

// The sizes every pass shares: P output pixels, K = C/g*KH*KW, B images per chunk; and, for
// small output planes, the taps table: taps[(p*KW + q)*P + i*OW + j] is the offset that tap
// (p, q) of output pixel (i, j) reads in a channel plane of the input padded with zeros (HP x
// WP). Every offset is valid, so the lowering is one unconditional gather per row of col, from
// a padded copy of the image (pad_size elements of the thread's buffer).
struct Plan {
  int64_t P, K, og, cg, image, B, chunks;
  int64_t hp = 0, wp = 0, pad_size = 0;
  std::vector<int32_t> taps;
  int64_t ld_rev = 0;  // the row stride col2im_gather reads: B*P
  // col2im_gather's table: gather[t * cg*image + c*image + u] is the column entry (row r,
  // column e of an image's block: r*ld_rev + e) of the t-th tap, in ascending r, that reads
  // input pixel u of channel c; pixels read by fewer than gather_taps taps point the rest at
  // row K, which col2im_gather fills with -0.0 (x + -0.0 == x exactly, for every x).
  int64_t gather_taps = 0;
  std::vector<int32_t> gather;
  // reverse: also the table col2im_gather needs (backward input only).
  Plan(const Conv2dShape& s, bool reverse)
      : P(s.out_h() * s.out_w()),
        K(s.kdim()),
        og(s.og()),
        cg(s.cg()),
        image(s.h * s.w),
        B(images_per_chunk(s)),
        chunks(ceil_div(s.n, B)) {
    hp = s.h + 2 * s.ph, wp = s.w + 2 * s.pw;
    if (s.out_w() >= kRunMin || hp * wp > INT32_MAX || s.kh * s.kw * B * P > INT32_MAX) return;
    pad_size = cg * hp * wp;
    taps.resize(size_t(s.kh * s.kw * P));
    int32_t* t = taps.data();
    for (int64_t p = 0; p < s.kh; ++p)
      for (int64_t q = 0; q < s.kw; ++q)
        for (int64_t i = 0; i < s.out_h(); ++i)
          for (int64_t j = 0; j < s.out_w(); ++j)
            *t++ = int32_t((i * s.sh + p * s.dh) * wp + j * s.sw + q * s.dw);
    if (!reverse) return;
    // The reverse table for col2im_gather: per input pixel u (unpadded, row-major), the column
    // entries r*ld_rev + e whose tap reads it, r ascending, padded to the same count for every
    // pixel.
    ld_rev = B * P;
    if (int64_t(K + 1) * ld_rev > INT32_MAX) {
      taps.clear();  // too large for int32 offsets: im2col and col2im's runs instead
      return;
    }
    auto pixel = [&](int64_t r, int64_t e) -> int64_t {  // -1 in the padding
      const int64_t v = taps[size_t(r * P + e)], ih = v / wp - s.ph, iw = v % wp - s.pw;
      return ih >= 0 && ih < s.h && iw >= 0 && iw < s.w ? ih * s.w + iw : -1;
    };
    const int64_t rows = s.kh * s.kw, n = cg * image;
    std::vector<int32_t> count(size_t(image), 0);  // the taps reading each pixel
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t e = 0; e < P; ++e)
        if (const int64_t u = pixel(r, e); u >= 0) ++count[size_t(u)];
    gather_taps = *std::max_element(count.begin(), count.end());
    gather.assign(size_t(gather_taps * n), int32_t(K * ld_rev));
    std::fill(count.begin(), count.end(), 0);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t e = 0; e < P; ++e)
        if (const int64_t u = pixel(r, e); u >= 0) {
          const int64_t t = count[size_t(u)]++;
          for (int64_t c = 0; c < cg; ++c)
            gather[size_t(t * n + c * image + u)] = int32_t((c * rows + r) * ld_rev + e);
        }
  }
};

// The image's cg channels (H x W each, at x) into pad (HP x WP each), zeros around.
template <typename T>
void pad_image(const Conv2dShape& s, const Plan& pl, const T* x, T* pad) {
  detail::pad_planes(x, 0, 1, pl.cg, s.h, s.w, pl.wp, pl.hp * pl.wp, s.ph, s.pw, pad);
}

// im2col of one image through the taps table: the same matrix, row (c, p, q) at col + row*ld.
template <typename T>
void im2col_taps(const Conv2dShape& s, const Plan& pl, const T* x, T* pad, T* col, int64_t ld) {
  pad_image(s, pl, x, pad);
  const int64_t taps_per_channel = s.kh * s.kw, plane = pl.hp * pl.wp;
  for (int64_t c = 0; c < pl.cg; ++c) {
    const T* pc = pad + c * plane;
    for (int64_t r = 0; r < taps_per_channel; ++r) {
      const int32_t* t = pl.taps.data() + r * pl.P;
      T* d = col + (c * taps_per_channel + r) * ld;
#pragma omp simd
      for (int64_t e = 0; e < pl.P; ++e) d[e] = pc[t[e]];
    }
  }
}

// col2im through the taps table, as a gather: each input pixel sums the column entries that
// read it (Plan::gather, in ascending tap order, col2im's order, then the -0.0 of row K), so
// there is no scatter and no write conflict, and the sums are col2im's bit for bit. Every pixel
// takes the same number of terms, so the loop is branch-free and vectorises (a gather per 16
// pixels on AVX-512). x is written. The column matrix's rows are Plan::ld_rev apart, and row K
// (Plan::ld_rev elements past the K rows) must hold -0.0.
template <typename T>
void col2im_gather(const Plan& pl, const T* col, T* x) {
  const int64_t n = pl.cg * pl.image;
  std::fill(x, x + n, T(0));
  const int32_t* idx = pl.gather.data();
  for (int64_t t = 0; t < pl.gather_taps; ++t, idx += n) {
#pragma omp simd
    for (int64_t v = 0; v < n; ++v) x[v] += col[idx[v]];
  }
}

// Lowers images [n0, n0 + nb) of group g side by side: col (K, nb*P). pad: Plan::pad_size
// elements of scratch.
template <typename T>
void lower(const Conv2dShape& s, const Plan& pl, const T* x, int64_t n0, int64_t nb, int64_t g,
           T* col, T* pad) {
  for (int64_t b = 0; b < nb; ++b) {
    const T* xb = x + ((n0 + b) * s.c + g * pl.cg) * pl.image;
    if (pl.taps.empty())
      im2col(s, xb, col + b * pl.P, nb * pl.P);
    else
      im2col_taps(s, pl, xb, pad, col + b * pl.P, nb * pl.P);
  }
}

// The adjoint of lower for one image of the chunk: x = scatter of its block of col (rows ld
// apart; ld == Plan::ld_rev on the taps path).
template <typename T>
void raise(const Conv2dShape& s, const Plan& pl, const T* col, int64_t ld, T* x) {
  if (pl.taps.empty()) {
    std::fill(x, x + pl.cg * pl.image, T(0));
    col2im(s, col, ld, x);
  } else {
    col2im_gather(pl, col, x);
  }
}

// G (O/g, nb*P): the chunk's gy[n, g] blocks side by side.
template <typename T>
void gather_gy(const Conv2dShape& s, const Plan& pl, const T* gy, int64_t n0, int64_t nb, int64_t g,
               T* G) {
  for (int64_t o = 0; o < pl.og; ++o)
    for (int64_t b = 0; b < nb; ++b) {
      const T* src = gy + ((n0 + b) * s.o + g * pl.og + o) * pl.P;
      std::copy(src, src + pl.P, G + (o * nb + b) * pl.P);
    }
}

}  // namespace

// The forward; with kept != nullptr each item lowers into its own slot of kept (the whole
// batch's lowering, conv2d_lowered_size elements) instead of the thread's buffer.
template <typename T>
void conv2d_impl(const Conv2dShape& s, const T* x, const T* w, const T* b, T* y, T* kept) {
  kernels::detail::conv2d_check("conv2d", s);
  const Plan pl(s, false);
  const bool direct = is_pointwise(s);
  const int64_t col_size = direct ? 0 : pl.K * pl.B * pl.P;
  const int64_t z_size = pl.B > 1 ? pl.og * pl.B * pl.P : 0;
  for_items<T>(pl.chunks * s.groups, col_size + z_size + pl.pad_size,
               [&](int64_t it, T* buf, bool threaded) {
                 const int64_t ch = it / s.groups, g = it % s.groups;
                 const int64_t n0 = ch * pl.B, nb = std::min(pl.B, s.n - n0), cols = nb * pl.P;
                 const T* wg = w + g * pl.og * pl.K;
                 T* col = kept ? kept + it * pl.K * pl.B * pl.P : buf;
                 const T* xg = x + (n0 * s.c + g * pl.cg) * pl.image;
                 if (!direct) lower(s, pl, x, n0, nb, g, col, buf + col_size + z_size);
                 if (nb == 1) {
                   T* yg = y + (n0 * s.o + g * pl.og) * pl.P;
                   gemm_any(threaded, false, false, pl.og, pl.P, pl.K, wg, pl.K, direct ? xg : col,
                            pl.P, T(0), yg, pl.P);
                   if (b)
                     for (int64_t o = 0; o < pl.og; ++o)
                       for (int64_t e = 0; e < pl.P; ++e) yg[o * pl.P + e] += b[g * pl.og + o];
                   return;
                 }
                 T* z = buf + col_size;
                 gemm_any(threaded, false, false, pl.og, cols, pl.K, wg, pl.K, col, cols, T(0), z,
                          cols);
                 for (int64_t o = 0; o < pl.og; ++o) {
                   const T bias = b ? b[g * pl.og + o] : T(0);
                   for (int64_t i = 0; i < nb; ++i) {
                     const T* src = z + (o * nb + i) * pl.P;
                     T* dst = y + ((n0 + i) * s.o + g * pl.og + o) * pl.P;
                     if (b) {
#pragma omp simd
                       for (int64_t e = 0; e < pl.P; ++e) dst[e] = src[e] + bias;
                     } else {
                       std::copy(src, src + pl.P, dst);
                     }
                   }
                 }
               });
}

template <typename T>
void conv2d_backward_input_chunked(const Conv2dShape& s, const T* gy, const T* w, T* gx) {
  kernels::detail::conv2d_check("conv2d_backward_input", s);
  const Plan pl(s, true);
  const bool direct = is_pointwise(s);
  // The taps path's column matrix has a row K of -0.0 (col2im_gather).
  const int64_t col_rows = pl.taps.empty() ? pl.K : pl.K + 1;
  const int64_t col_size = direct ? 0 : col_rows * pl.B * pl.P;
  const int64_t g_size = pl.B > 1 ? pl.og * pl.B * pl.P : 0;
  for_items<T>(pl.chunks * s.groups, col_size + g_size, [&](int64_t it, T* buf, bool threaded) {
    const int64_t ch = it / s.groups, g = it % s.groups;
    const int64_t n0 = ch * pl.B, nb = std::min(pl.B, s.n - n0), cols = nb * pl.P;
    const T* wg = w + g * pl.og * pl.K;
    T* gxg = gx + (n0 * s.c + g * pl.cg) * pl.image;
    const T* G = gy + (n0 * s.o + g * pl.og) * pl.P;  // the image's own block when nb == 1
    if (nb > 1) {
      T* gathered = buf + col_size;
      gather_gy(s, pl, gy, n0, nb, g, gathered);
      G = gathered;
    }
    if (direct) {
      gemm_any(threaded, true, false, pl.K, pl.P, pl.og, wg, pl.K, G, pl.P, T(0), gxg, pl.P);
      return;
    }
    // Rows B*P apart in every chunk (the last may be narrower): the stride the taps
    // path's reverse table was built for.
    T* col = buf;
    const int64_t ld = pl.B * pl.P;
    if (col_rows > pl.K) std::fill(col + pl.K * ld, col + col_rows * ld, T(-0.0));
    gemm_any(threaded, true, false, pl.K, cols, pl.og, wg, pl.K, G, cols, T(0), col, ld);
    for (int64_t i = 0; i < nb; ++i)
      raise(s, pl, col + i * pl.P, ld, gx + ((n0 + i) * s.c + g * pl.cg) * pl.image);
  });
}

// The weight gradient; with kept != nullptr (conv2d_keep's lowering of this x) it reads each
// chunk's columns from there instead of lowering x again.
template <typename T>
void backward_weight_impl(const Conv2dShape& s, const T* x, const T* gy, T* gw, const T* kept) {
  kernels::detail::conv2d_check("conv2d_backward_weight", s);
  const Plan pl(s, false);
  const bool direct = is_pointwise(s);
  // Ranges of whole chunks, fixed by the shape.
  const int64_t ranges = std::max<int64_t>(1, std::min(kChunks, pl.chunks));
  // Range 0 sums into gw itself, range r > 0 into partial r - 1.
  std::vector<T> partial(size_t((ranges - 1) * s.o * pl.K));
  if (s.n == 0) std::fill(gw, gw + s.o * pl.K, T(0));
  const int64_t col_size = direct ? 0 : pl.K * pl.B * pl.P;
  const int64_t g_size = pl.B > 1 ? pl.og * pl.B * pl.P : 0;
  for_items<T>(ranges * s.groups, col_size + g_size + pl.pad_size,
               [&](int64_t it, T* buf, bool threaded) {
                 const int64_t r = it / s.groups, g = it % s.groups;
                 T* dst = (r == 0 ? gw : partial.data() + (r - 1) * s.o * pl.K) + g * pl.og * pl.K;
                 const int64_t c0 = pl.chunks * r / ranges, c1 = pl.chunks * (r + 1) / ranges;
                 for (int64_t ch = c0; ch < c1; ++ch) {
                   const int64_t n0 = ch * pl.B, nb = std::min(pl.B, s.n - n0), cols = nb * pl.P;
                   const T* G = gy + (n0 * s.o + g * pl.og) * pl.P;
                   if (nb > 1) {
                     T* gathered = buf + col_size;
                     gather_gy(s, pl, gy, n0, nb, g, gathered);
                     G = gathered;
                   }
                   const T* col = x + (n0 * s.c + g * pl.cg) * pl.image;  // direct: x[n, g] itself
                   if (kept && !direct) {
                     col = kept + (ch * s.groups + g) * pl.K * pl.B * pl.P;
                   } else if (!direct) {
                     lower(s, pl, x, n0, nb, g, buf, buf + col_size + g_size);
                     col = buf;
                   }
                   gemm_any(threaded, false, true, pl.og, pl.K, cols, G, cols, col, cols,
                            ch == c0 ? T(0) : T(1), dst, pl.K);
                 }
               });
  for (int64_t r = 1; r < ranges; ++r) {
    const T* part = partial.data() + (r - 1) * s.o * pl.K;
#pragma omp simd
    for (int64_t e = 0; e < s.o * pl.K; ++e) gw[e] += part[e];
  }
}

// Rung 3 for float where it applies (kernels/cpu/conv_implicit.cpp).
template <typename T>
bool use_implicit(const Conv2dShape& s) {
  return std::is_same_v<T, float> && conv2d_implicit_applies(s);
}

template <typename T>
int64_t conv2d_lowered_size(const Conv2dShape& s) {
  if (is_pointwise(s) || use_implicit<T>(s)) return 0;
  const int64_t P = s.out_h() * s.out_w(), B = images_per_chunk(s);
  return ceil_div(s.n, B) * s.groups * s.kdim() * B * P;
}

template <typename T>
void conv2d_chunked(const Conv2dShape& s, const T* x, const T* w, const T* b, T* y) {
  conv2d_impl<T>(s, x, w, b, y, nullptr);
}
template <typename T>
void conv2d_backward_weight_chunked(const Conv2dShape& s, const T* x, const T* gy, T* gw) {
  backward_weight_impl<T>(s, x, gy, gw, nullptr);
}

template <typename T>
void conv2d(const Conv2dShape& s, const T* x, const T* w, const T* b, T* y) {
  if constexpr (std::is_same_v<T, float>)
    if (use_implicit<T>(s)) return conv2d_implicit(s, x, w, b, y);
  conv2d_impl<T>(s, x, w, b, y, nullptr);
}
template <typename T>
void conv2d_keep(const Conv2dShape& s, const T* x, const T* w, const T* b, T* y, T* lowered) {
  TG_CHECK(lowered || conv2d_lowered_size<T>(s) == 0, "conv2d_keep", "no buffer for the lowering");
  if constexpr (std::is_same_v<T, float>)
    if (use_implicit<T>(s)) return conv2d_implicit(s, x, w, b, y);
  conv2d_impl<T>(s, x, w, b, y, lowered);
}
// Rung 2 everywhere: rung 3's transposed conv (conv2d_backward_input_implicit) was no faster on
// the course's layers (Zen 4, one thread: 16x7x7 191 against 191-196 us, 32x4x4 117-120 against
// 111-112, 8x14x14 279-287 against 256-263; the first layer's one input channel fills one lane
// of eight: 0.9-1.1 ms against 0.31), its scalar stores to every SH-th pixel costing as much
// as its multiply-adds.
template <typename T>
void conv2d_backward_input(const Conv2dShape& s, const T* gy, const T* w, T* gx) {
  conv2d_backward_input_chunked<T>(s, gy, w, gx);
}
template <typename T>
void conv2d_backward_weight(const Conv2dShape& s, const T* x, const T* gy, T* gw) {
  if constexpr (std::is_same_v<T, float>)
    if (use_implicit<T>(s)) return conv2d_backward_weight_implicit(s, x, gy, gw);
  backward_weight_impl<T>(s, x, gy, gw, nullptr);
}
template <typename T>
void conv2d_backward_weight_kept(const Conv2dShape& s, const T* x, const T* gy, T* gw,
                                 const T* lowered) {
  TG_CHECK(lowered || conv2d_lowered_size<T>(s) == 0, "conv2d_backward_weight_kept",
           "no lowering given");
  if constexpr (std::is_same_v<T, float>)
    if (use_implicit<T>(s)) return conv2d_backward_weight_implicit(s, x, gy, gw);
  backward_weight_impl<T>(s, x, gy, gw, lowered);
}

#define TG_CONV_BATCHED(T)                                                                     \
  template int64_t conv2d_lowered_size<T>(const Conv2dShape&);                                 \
  template void conv2d<T>(const Conv2dShape&, const T*, const T*, const T*, T*);               \
  template void conv2d_chunked<T>(const Conv2dShape&, const T*, const T*, const T*, T*);       \
  template void conv2d_backward_weight_chunked<T>(const Conv2dShape&, const T*, const T*, T*); \
  template void conv2d_keep<T>(const Conv2dShape&, const T*, const T*, const T*, T*, T*);      \
  template void conv2d_backward_input<T>(const Conv2dShape&, const T*, const T*, T*);          \
  template void conv2d_backward_input_chunked<T>(const Conv2dShape&, const T*, const T*, T*);  \
  template void conv2d_backward_weight<T>(const Conv2dShape&, const T*, const T*, T*);         \
  template void conv2d_backward_weight_kept<T>(const Conv2dShape&, const T*, const T*, T*,     \
                                               const T*);
TG_CONV_BATCHED(float)
TG_CONV_BATCHED(double)
#undef TG_CONV_BATCHED

}  // namespace tg::kernels::cpu
