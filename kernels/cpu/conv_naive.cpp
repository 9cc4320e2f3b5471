// Conv2d rung 0: the direct loop, the reference every other rung (and later the CUDA twins) is
// compared with. See kernels/conv.h for the contract.
//
// Forward: for every output element y[n, o, i, j], a sum over (c, p, q) of the group's input
// channels and the kernel window, accumulated in double in that order, then rounded once.
// Cost: 2 * N*O*OH*OW * C/g*KH*KW FLOPs; each multiply-add reads one weight and one input
// element (from cache: the window of x is tiny), no extra memory.
// Backward input: the same loop nest with the roles swapped — every (n, o, i, j, c, p, q)
// adds w * gy into gx — scattered into a double buffer of gx (so the order of the additions,
// fixed by the loop nest, is the only thing that sets the rounding), then rounded once.
// Backward weight: gw[o, c, p, q] = sum over n, i, j of gy * x, in double, in that order.
// One thread throughout: slow on purpose, simple enough to check by eye.
#include <vector>

#include "kernels/conv.h"

namespace tg::kernels::cpu {

namespace {

// The input element under output pixel (i, j) and kernel tap (p, q), or -1 in the padding.
struct Tap {
  int64_t ih, iw;
  bool inside(const Conv2dShape& s) const { return ih >= 0 && ih < s.h && iw >= 0 && iw < s.w; }
};
Tap tap(const Conv2dShape& s, int64_t i, int64_t j, int64_t p, int64_t q) {
  return {i * s.sh - s.ph + p * s.dh, j * s.sw - s.pw + q * s.dw};
}

}  // namespace

template <typename T>
void conv2d_naive(const Conv2dShape& s, const T* x, const T* w, const T* b, T* y) {
  detail::conv2d_check("conv2d_naive", s);
  const int64_t oh = s.out_h(), ow = s.out_w(), cg = s.cg(), og = s.og();
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t o = 0; o < s.o; ++o) {
      const int64_t c0 = (o / og) * cg;  // the group's first input channel
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          double acc = b ? double(b[o]) : 0.0;
          for (int64_t c = 0; c < cg; ++c)
            for (int64_t p = 0; p < s.kh; ++p)
              for (int64_t q = 0; q < s.kw; ++q) {
                const Tap t = tap(s, i, j, p, q);
                if (!t.inside(s)) continue;
                acc += double(w[((o * cg + c) * s.kh + p) * s.kw + q]) *
                       double(x[((n * s.c + c0 + c) * s.h + t.ih) * s.w + t.iw]);
              }
          y[((n * s.o + o) * oh + i) * ow + j] = T(acc);
        }
    }
}

template <typename T>
void conv2d_backward_input_naive(const Conv2dShape& s, const T* gy, const T* w, T* gx) {
  detail::conv2d_check("conv2d_backward_input_naive", s);
  const int64_t oh = s.out_h(), ow = s.out_w(), cg = s.cg(), og = s.og();
  std::vector<double> acc(size_t(s.n * s.c * s.h * s.w), 0.0);
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t o = 0; o < s.o; ++o) {
      const int64_t c0 = (o / og) * cg;
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          const double g = double(gy[((n * s.o + o) * oh + i) * ow + j]);
          for (int64_t c = 0; c < cg; ++c)
            for (int64_t p = 0; p < s.kh; ++p)
              for (int64_t q = 0; q < s.kw; ++q) {
                const Tap t = tap(s, i, j, p, q);
                if (!t.inside(s)) continue;
                acc[size_t(((n * s.c + c0 + c) * s.h + t.ih) * s.w + t.iw)] +=
                    double(w[((o * cg + c) * s.kh + p) * s.kw + q]) * g;
              }
        }
    }
  for (size_t e = 0; e < acc.size(); ++e) gx[e] = T(acc[e]);
}

template <typename T>
void conv2d_backward_weight_naive(const Conv2dShape& s, const T* x, const T* gy, T* gw) {
  detail::conv2d_check("conv2d_backward_weight_naive", s);
  const int64_t oh = s.out_h(), ow = s.out_w(), cg = s.cg(), og = s.og();
  for (int64_t o = 0; o < s.o; ++o) {
    const int64_t c0 = (o / og) * cg;
    for (int64_t c = 0; c < cg; ++c)
      for (int64_t p = 0; p < s.kh; ++p)
        for (int64_t q = 0; q < s.kw; ++q) {
          double acc = 0.0;
          for (int64_t n = 0; n < s.n; ++n)
            for (int64_t i = 0; i < oh; ++i)
              for (int64_t j = 0; j < ow; ++j) {
                const Tap t = tap(s, i, j, p, q);
                if (!t.inside(s)) continue;
                acc += double(gy[((n * s.o + o) * oh + i) * ow + j]) *
                       double(x[((n * s.c + c0 + c) * s.h + t.ih) * s.w + t.iw]);
              }
          gw[((o * cg + c) * s.kh + p) * s.kw + q] = T(acc);
        }
  }
}

template <typename T>
void conv2d_backward_bias(const Conv2dShape& s, const T* gy, T* gb) {
  detail::conv2d_check("conv2d_backward_bias", s);
  const int64_t plane = s.out_h() * s.out_w();
  // One thread per output channel, each summing n ascending, then the plane in order.
#pragma omp parallel for schedule(static) if (s.o * s.n * plane > (int64_t(1) << 16))
  for (int64_t o = 0; o < s.o; ++o) {
    T acc = 0;
    for (int64_t n = 0; n < s.n; ++n) {
      const T* g = gy + (n * s.o + o) * plane;
      for (int64_t e = 0; e < plane; ++e) acc += g[e];
    }
    gb[o] = acc;
  }
}

#define TG_CONV_NAIVE(T)                                                                     \
  template void conv2d_naive<T>(const Conv2dShape&, const T*, const T*, const T*, T*);       \
  template void conv2d_backward_input_naive<T>(const Conv2dShape&, const T*, const T*, T*);  \
  template void conv2d_backward_weight_naive<T>(const Conv2dShape&, const T*, const T*, T*); \
  template void conv2d_backward_bias<T>(const Conv2dShape&, const T*, T*);
TG_CONV_NAIVE(float)
TG_CONV_NAIVE(double)
#undef TG_CONV_NAIVE

}  // namespace tg::kernels::cpu
