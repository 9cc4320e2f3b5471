// Conv2d rung 2, the library's conv: rung 1's lowering (kernels/cpu/conv_im2col.cpp) with the
// work items — one (image, group) pair each — shared among OpenMP threads, and no lowering at
// all where the conv already is a GEMM. See kernels/conv.h for the contract.
//
//   forward          item (n, g): im2col into the thread's own column buffer, then
//                    y[n, g] = Wg @ col on one thread (gemm_packed), plus the bias.
//   backward input   item (n, g): col = Wg^T @ gy[n, g], gx[n, g] = col2im(col).
//   backward weight  the batch is cut into kChunks fixed ranges of images (by N alone); item
//                    (chunk, g) sums gy[n, g] @ col^T over its images in order into its own
//                    partial (O/g x K) block; the partials are then added in chunk order.
//   1x1 kernels with stride 1 and no padding skip im2col: x[n, g] (C/g x H*W, row-major) is
//   the column matrix itself, and backward input writes Wg^T @ gy straight into gx.
// Cost: as rung 1 (2 * N*O*P*K FLOPs, K*P column elements per item, none for 1x1), plus
// kChunks * O*K partial elements for the weight gradient. Parallelism comes from the items:
// with fewer items than threads (batch 1, one group) they run in order and the GEMM itself
// (kernels/gemm.h's rung 5) is the parallel part instead.
//
// Determinism: an item is always one single-threaded GEMM of the same sizes, and gemm ==
// gemm_packed bit for bit (kernels/gemm.h), so which thread runs an item, and whether the GEMM
// inside it is threaded, changes no bit; the chunks are fixed by N and added in order. Hence
// the results do not depend on OMP_NUM_THREADS, and the forward and backward-input results
// equal rung 1's bit for bit.
#include <omp.h>

#include <algorithm>
#include <exception>
#include <vector>

#include "kernels/conv.h"
#include "kernels/gemm.h"

namespace tg::kernels::cpu {

namespace {

// Fixed number of batch ranges for the weight gradient: enough items for a few threads, few
// enough partials (kChunks * O*K) to stay small.
constexpr int64_t kChunks = 8;

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

// Runs body(item, col, threaded) for item in [0, items): in parallel, each thread with its own
// column buffer of col_size elements, or in order with threaded GEMMs when there are fewer items
// than threads. An exception inside the region is carried out of it and rethrown.
template <typename T, typename Body>
void for_items(int64_t items, int64_t col_size, const Body& body) {
  if (items < 2 || items < omp_get_max_threads()) {
    std::vector<T> col(static_cast<size_t>(col_size));
    for (int64_t it = 0; it < items; ++it) body(it, col.data(), true);
    return;
  }
  std::exception_ptr error;
#pragma omp parallel
  {
    try {
      std::vector<T> col(static_cast<size_t>(col_size));
#pragma omp for schedule(dynamic, 1)
      for (int64_t it = 0; it < items; ++it) body(it, col.data(), false);
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

}  // namespace

template <typename T>
void conv2d(const Conv2dShape& s, const T* x, const T* w, const T* b, T* y) {
  detail::conv2d_check("conv2d", s);
  const int64_t P = s.out_h() * s.out_w(), K = s.kdim(), og = s.og(), cg = s.cg();
  const bool direct = is_pointwise(s);
  for_items<T>(s.n * s.groups, direct ? 0 : K * P, [&](int64_t it, T* col, bool threaded) {
    const int64_t n = it / s.groups, g = it % s.groups;
    const T* xg = x + (n * s.c + g * cg) * s.h * s.w;
    if (!direct) im2col(s, xg, col);
    T* yg = y + (n * s.o + g * og) * P;
    gemm_any(threaded, false, false, og, P, K, w + g * og * K, K, direct ? xg : col, P, T(0), yg,
             P);
    if (b)
      for (int64_t o = 0; o < og; ++o)
        for (int64_t e = 0; e < P; ++e) yg[o * P + e] += b[g * og + o];
  });
}

template <typename T>
void conv2d_backward_input(const Conv2dShape& s, const T* gy, const T* w, T* gx) {
  detail::conv2d_check("conv2d_backward_input", s);
  const int64_t P = s.out_h() * s.out_w(), K = s.kdim(), og = s.og(), cg = s.cg();
  const int64_t image = s.h * s.w;
  const bool direct = is_pointwise(s);
  for_items<T>(s.n * s.groups, direct ? 0 : K * P, [&](int64_t it, T* col, bool threaded) {
    const int64_t n = it / s.groups, g = it % s.groups;
    T* gxg = gx + (n * s.c + g * cg) * image;
    const T* gyg = gy + (n * s.o + g * og) * P;
    if (direct) {
      gemm_any(threaded, true, false, K, P, og, w + g * og * K, K, gyg, P, T(0), gxg, P);
      return;
    }
    gemm_any(threaded, true, false, K, P, og, w + g * og * K, K, gyg, P, T(0), col, P);
    std::fill(gxg, gxg + cg * image, T(0));
    col2im(s, col, gxg);
  });
}

template <typename T>
void conv2d_backward_weight(const Conv2dShape& s, const T* x, const T* gy, T* gw) {
  detail::conv2d_check("conv2d_backward_weight", s);
  const int64_t P = s.out_h() * s.out_w(), K = s.kdim(), og = s.og(), cg = s.cg();
  const bool direct = is_pointwise(s);
  const int64_t chunks = std::max<int64_t>(1, std::min(kChunks, s.n));
  // Chunk 0 sums into gw itself, chunk c > 0 into partial c - 1.
  std::vector<T> partial(size_t((chunks - 1) * s.o * K));
  if (s.n == 0) std::fill(gw, gw + s.o * K, T(0));
  for_items<T>(chunks * s.groups, direct ? 0 : K * P, [&](int64_t it, T* col, bool threaded) {
    const int64_t ch = it / s.groups, g = it % s.groups;
    T* dst = (ch == 0 ? gw : partial.data() + (ch - 1) * s.o * K) + g * og * K;
    const int64_t n0 = s.n * ch / chunks, n1 = s.n * (ch + 1) / chunks;
    for (int64_t n = n0; n < n1; ++n) {
      const T* xg = x + (n * s.c + g * cg) * s.h * s.w;
      if (!direct) im2col(s, xg, col);
      gemm_any(threaded, false, true, og, K, P, gy + (n * s.o + g * og) * P, P, direct ? xg : col,
               P, n == n0 ? T(0) : T(1), dst, K);
    }
  });
  for (int64_t ch = 1; ch < chunks; ++ch) {
    const T* part = partial.data() + (ch - 1) * s.o * K;
#pragma omp simd
    for (int64_t e = 0; e < s.o * K; ++e) gw[e] += part[e];
  }
}

#define TG_CONV_BATCHED(T)                                                            \
  template void conv2d<T>(const Conv2dShape&, const T*, const T*, const T*, T*);      \
  template void conv2d_backward_input<T>(const Conv2dShape&, const T*, const T*, T*); \
  template void conv2d_backward_weight<T>(const Conv2dShape&, const T*, const T*, T*);
TG_CONV_BATCHED(float)
TG_CONV_BATCHED(double)
#undef TG_CONV_BATCHED

}  // namespace tg::kernels::cpu
