// Conv2d rung 1: im2col + the library's GEMM, and the im2col/col2im pair the faster rung
// shares. See kernels/conv.h for the contract.
//
// Lowering: for image n and group g, the column matrix col (K = C/g*KH*KW rows, P = OH*OW
// columns) holds in row (c, p, q) and column (i, j) the input element that kernel tap (p, q)
// of channel c sees from output pixel (i, j) (0 in the padding). The group's weight is a
// row-major (O/g, K) matrix Wg, so
//   forward          y[n, g]   = Wg @ col                 (O/g x K) @ (K x P)
//   backward input   gx[n, g]  = col2im(Wg^T @ gy[n, g])   (K x O/g) @ (O/g x P), scattered
//   backward weight  gw[g]    += gy[n, g] @ col^T          (O/g x P) @ (P x K), n ascending
// Cost: the GEMMs' 2 * N*O*P*K FLOPs, plus im2col writing K*P elements per image and group
// (KH*KW times the input when the stride is 1: the price of turning conv into one GEMM) and
// reading each input element KH*KW times from cache. One column buffer (K*P) is reused.
// Threads: only inside the GEMM (kernels/gemm.h: bit-identical for any thread count); images,
// groups and the backward-weight sum over n run in order, so the result is deterministic.
#include <algorithm>
#include <vector>

#include "kernels/conv.h"
#include "kernels/gemm.h"

namespace tg::kernels::cpu {

namespace {

// a / b rounded up, for b > 0 and any sign of a.
int64_t ceil_div(int64_t a, int64_t b) {
  return a >= 0 ? (a + b - 1) / b : -((-a) / b);
}

// The output columns j whose input column j*SW - PW + q*DW lies inside [0, W), for tap q:
// [j0, j1), empty when j1 <= j0. Outside it im2col writes zeros and col2im adds nothing, so
// the loops over j need no test per element.
struct ColRange {
  int64_t j0, j1;
};
ColRange valid_cols(const Conv2dShape& s, int64_t q) {
  const int64_t off = q * s.dw - s.pw;  // input column of j = 0
  const int64_t j0 = std::clamp<int64_t>(ceil_div(-off, s.sw), 0, s.out_w());
  const int64_t j1 = std::clamp<int64_t>(ceil_div(s.w - off, s.sw), j0, s.out_w());
  return {j0, j1};
}

}  // namespace

template <typename T>
void im2col(const Conv2dShape& s, const T* x, T* col, int64_t ld) {
  const int64_t oh = s.out_h(), ow = s.out_w();
  for (int64_t c = 0; c < s.cg(); ++c)
    for (int64_t p = 0; p < s.kh; ++p)
      for (int64_t q = 0; q < s.kw; ++q) {
        T* row = col + ((c * s.kh + p) * s.kw + q) * ld;
        const T* xc = x + c * s.h * s.w;
        const auto [j0, j1] = valid_cols(s, q);
        const int64_t off = q * s.dw - s.pw, sw = s.sw;
        for (int64_t i = 0; i < oh; ++i) {
          T* r = row + i * ow;
          const int64_t ih = i * s.sh - s.ph + p * s.dh;
          if (ih < 0 || ih >= s.h) {
            std::fill(r, r + ow, T(0));
            continue;
          }
          const T* xr = xc + ih * s.w;  // xr[j * SW + off] is column j's input
          std::fill(r, r + j0, T(0));
          if (sw == 1)
            std::copy(xr + j0 + off, xr + j1 + off, r + j0);
          else
            for (int64_t j = j0; j < j1; ++j) r[j] = xr[j * sw + off];
          std::fill(r + j1, r + ow, T(0));
        }
      }
}

// The adjoint of im2col, in the same (c, p, q, i, j) order: x += scatter(col).
template <typename T>
void col2im(const Conv2dShape& s, const T* col, int64_t ld, T* x) {
  const int64_t oh = s.out_h(), ow = s.out_w();
  for (int64_t c = 0; c < s.cg(); ++c)
    for (int64_t p = 0; p < s.kh; ++p)
      for (int64_t q = 0; q < s.kw; ++q) {
        const T* row = col + ((c * s.kh + p) * s.kw + q) * ld;
        T* xc = x + c * s.h * s.w;
        const auto [j0, j1] = valid_cols(s, q);
        const int64_t off = q * s.dw - s.pw, sw = s.sw;
        for (int64_t i = 0; i < oh; ++i) {
          const int64_t ih = i * s.sh - s.ph + p * s.dh;
          if (ih < 0 || ih >= s.h) continue;
          const T* r = row + i * ow;
          T* xr = xc + ih * s.w;
          if (sw == 1) {
#pragma omp simd
            for (int64_t j = j0; j < j1; ++j) xr[j + off] += r[j];
          } else {
            for (int64_t j = j0; j < j1; ++j) xr[j * sw + off] += r[j];
          }
        }
      }
}

template <typename T>
void conv2d_im2col(const Conv2dShape& s, const T* x, const T* w, const T* b, T* y) {
  detail::conv2d_check("conv2d_im2col", s);
  const int64_t P = s.out_h() * s.out_w(), K = s.kdim(), og = s.og(), cg = s.cg();
  std::vector<T> col(size_t(K * P));
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t g = 0; g < s.groups; ++g) {
      im2col(s, x + (n * s.c + g * cg) * s.h * s.w, col.data(), P);
      T* yg = y + (n * s.o + g * og) * P;
      gemm(false, false, og, P, K, T(1), w + g * og * K, K, col.data(), P, T(0), yg, P);
      if (b)
        for (int64_t o = 0; o < og; ++o)
          for (int64_t e = 0; e < P; ++e) yg[o * P + e] += b[g * og + o];
    }
}

template <typename T>
void conv2d_backward_input_im2col(const Conv2dShape& s, const T* gy, const T* w, T* gx) {
  detail::conv2d_check("conv2d_backward_input_im2col", s);
  const int64_t P = s.out_h() * s.out_w(), K = s.kdim(), og = s.og(), cg = s.cg();
  std::vector<T> col(size_t(K * P));
  std::fill(gx, gx + s.n * s.c * s.h * s.w, T(0));
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t g = 0; g < s.groups; ++g) {
      gemm(true, false, K, P, og, T(1), w + g * og * K, K, gy + (n * s.o + g * og) * P, P, T(0),
           col.data(), P);
      col2im(s, col.data(), P, gx + (n * s.c + g * cg) * s.h * s.w);
    }
}

template <typename T>
void conv2d_backward_weight_im2col(const Conv2dShape& s, const T* x, const T* gy, T* gw) {
  detail::conv2d_check("conv2d_backward_weight_im2col", s);
  const int64_t P = s.out_h() * s.out_w(), K = s.kdim(), og = s.og(), cg = s.cg();
  std::vector<T> col(size_t(K * P));
  if (s.n == 0) std::fill(gw, gw + s.o * K, T(0));
  for (int64_t g = 0; g < s.groups; ++g)
    for (int64_t n = 0; n < s.n; ++n) {
      im2col(s, x + (n * s.c + g * cg) * s.h * s.w, col.data(), P);
      gemm(false, true, og, K, P, T(1), gy + (n * s.o + g * og) * P, P, col.data(), P,
           n == 0 ? T(0) : T(1), gw + g * og * K, K);
    }
}

#define TG_CONV_IM2COL(T)                                                                    \
  template void im2col<T>(const Conv2dShape&, const T*, T*, int64_t);                        \
  template void col2im<T>(const Conv2dShape&, const T*, int64_t, T*);                        \
  template void conv2d_im2col<T>(const Conv2dShape&, const T*, const T*, const T*, T*);      \
  template void conv2d_backward_input_im2col<T>(const Conv2dShape&, const T*, const T*, T*); \
  template void conv2d_backward_weight_im2col<T>(const Conv2dShape&, const T*, const T*, T*);
TG_CONV_IM2COL(float)
TG_CONV_IM2COL(double)
#undef TG_CONV_IM2COL

}  // namespace tg::kernels::cpu
