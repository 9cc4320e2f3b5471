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

template <typename T>
void im2col(const Conv2dShape& s, const T* x, T* col) {
  const int64_t oh = s.out_h(), ow = s.out_w(), plane = oh * ow;
  for (int64_t c = 0; c < s.cg(); ++c)
    for (int64_t p = 0; p < s.kh; ++p)
      for (int64_t q = 0; q < s.kw; ++q) {
        T* row = col + ((c * s.kh + p) * s.kw + q) * plane;
        const T* xc = x + c * s.h * s.w;
        for (int64_t i = 0; i < oh; ++i) {
          T* r = row + i * ow;
          const int64_t ih = i * s.sh - s.ph + p * s.dh;
          if (ih < 0 || ih >= s.h) {
            std::fill(r, r + ow, T(0));
            continue;
          }
          const T* xr = xc + ih * s.w;
          for (int64_t j = 0; j < ow; ++j) {
            const int64_t iw = j * s.sw - s.pw + q * s.dw;
            r[j] = (iw >= 0 && iw < s.w) ? xr[iw] : T(0);
          }
        }
      }
}

// The adjoint of im2col, in the same (c, p, q, i, j) order: x += scatter(col).
template <typename T>
void col2im(const Conv2dShape& s, const T* col, T* x) {
  const int64_t oh = s.out_h(), ow = s.out_w(), plane = oh * ow;
  for (int64_t c = 0; c < s.cg(); ++c)
    for (int64_t p = 0; p < s.kh; ++p)
      for (int64_t q = 0; q < s.kw; ++q) {
        const T* row = col + ((c * s.kh + p) * s.kw + q) * plane;
        T* xc = x + c * s.h * s.w;
        for (int64_t i = 0; i < oh; ++i) {
          const int64_t ih = i * s.sh - s.ph + p * s.dh;
          if (ih < 0 || ih >= s.h) continue;
          const T* r = row + i * ow;
          T* xr = xc + ih * s.w;
          for (int64_t j = 0; j < ow; ++j) {
            const int64_t iw = j * s.sw - s.pw + q * s.dw;
            if (iw >= 0 && iw < s.w) xr[iw] += r[j];
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
      im2col(s, x + (n * s.c + g * cg) * s.h * s.w, col.data());
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
      col2im(s, col.data(), gx + (n * s.c + g * cg) * s.h * s.w);
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
      im2col(s, x + (n * s.c + g * cg) * s.h * s.w, col.data());
      gemm(false, true, og, K, P, T(1), gy + (n * s.o + g * og) * P, P, col.data(), P,
           n == 0 ? T(0) : T(1), gw + g * og * K, K);
    }
}

#define TG_CONV_IM2COL(T)                                                                    \
  template void im2col<T>(const Conv2dShape&, const T*, T*);                                 \
  template void col2im<T>(const Conv2dShape&, const T*, T*);                                 \
  template void conv2d_im2col<T>(const Conv2dShape&, const T*, const T*, const T*, T*);      \
  template void conv2d_backward_input_im2col<T>(const Conv2dShape&, const T*, const T*, T*); \
  template void conv2d_backward_weight_im2col<T>(const Conv2dShape&, const T*, const T*, T*);
TG_CONV_IM2COL(float)
TG_CONV_IM2COL(double)
#undef TG_CONV_IM2COL

}  // namespace tg::kernels::cpu
