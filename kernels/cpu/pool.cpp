// Max, average and adaptive average pooling on NCHW planes, forward and backward, on the CPU.
//
// Algorithm: one plane per loop iteration, planes spread over OpenMP threads once the input is
// large (kParallelMin elements). Forward walks each output's window in row-major order
// (clipped to the input, so padding is never read): max keeps the first strict maximum (or a
// NaN), average sums in that order. Backward zeroes each input-gradient plane and adds every
// output gradient into its window (max: into its argmax), in output order, inside the plane's
// own thread: overlapping windows accumulate in a fixed order, so results are bit-identical for
// any thread count. Cost: planes * oh * ow * kh * kw compares or adds; the input plane and the
// output plane are each read or written once.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cpu/common.h"
#include "kernels/pool.h"

namespace tg::kernels::cpu {

namespace {

using detail::kParallelMin;
using detail::parallel_for;

bool parallel(const Pool2dShape& s) {
  return s.planes > 1 && s.planes * std::max(s.h * s.w, s.oh * s.ow) >= kParallelMin;
}

// The window of output (i, j) in one dim for average pooling, PyTorch's rule: [start, end)
// clipped to the input, and the divisor (the window clipped to the padded input instead).
struct Span {
  int64_t start, end, padded;
};
Span avg_span(int64_t o, int64_t stride, int64_t pad, int64_t kernel, int64_t in) {
  int64_t start = o * stride - pad;
  int64_t end = std::min(start + kernel, in + pad);
  const int64_t padded = end - start;
  return {std::max<int64_t>(start, 0), std::min(end, in), padded};
}

// Adaptive windows: [floor(o*in/out), ceil((o+1)*in/out)).
int64_t adaptive_start(int64_t o, int64_t in, int64_t out) {
  return (o * in) / out;
}
int64_t adaptive_end(int64_t o, int64_t in, int64_t out) {
  return ((o + 1) * in + out - 1) / out;
}

}  // namespace

template <typename T>
void max_pool2d(const T* x, const Pool2dShape& s, T* y, int32_t* idx) {
  parallel_for(s.planes, parallel(s), [&](int64_t p) {
    const T* xp = x + p * s.h * s.w;
    T* yp = y + p * s.oh * s.ow;
    int32_t* ip = idx + p * s.oh * s.ow;
    for (int64_t i = 0; i < s.oh; ++i) {
      for (int64_t j = 0; j < s.ow; ++j) {
        T best = -std::numeric_limits<T>::infinity();
        int64_t at = -1;
        for (int64_t a = 0; a < s.kh; ++a) {
          const int64_t r = i * s.sh - s.ph + a * s.dh;
          if (r < 0 || r >= s.h) continue;
          for (int64_t b = 0; b < s.kw; ++b) {
            const int64_t c = j * s.sw - s.pw + b * s.dw;
            if (c < 0 || c >= s.w) continue;
            const T v = xp[r * s.w + c];
            if (at < 0 || v > best || std::isnan(v)) {
              best = v;
              at = r * s.w + c;
              if (std::isnan(v)) goto done;  // NaN propagates: the first one wins
            }
          }
        }
      done:
        yp[i * s.ow + j] = best;
        ip[i * s.ow + j] = static_cast<int32_t>(at);
      }
    }
  });
}

template <typename T>
void max_pool2d_backward(const T* gy, const int32_t* idx, const Pool2dShape& s, T* gx) {
  parallel_for(s.planes, parallel(s), [&](int64_t p) {
    T* gp = gx + p * s.h * s.w;
    std::fill(gp, gp + s.h * s.w, T(0));
    const T* g = gy + p * s.oh * s.ow;
    const int32_t* ip = idx + p * s.oh * s.ow;
    for (int64_t o = 0; o < s.oh * s.ow; ++o)
      if (ip[o] >= 0) gp[ip[o]] += g[o];
  });
}

template <typename T>
void avg_pool2d(const T* x, const Pool2dShape& s, bool count_include_pad, T* y) {
  parallel_for(s.planes, parallel(s), [&](int64_t p) {
    const T* xp = x + p * s.h * s.w;
    T* yp = y + p * s.oh * s.ow;
    for (int64_t i = 0; i < s.oh; ++i) {
      const Span rs = avg_span(i, s.sh, s.ph, s.kh, s.h);
      for (int64_t j = 0; j < s.ow; ++j) {
        const Span cs = avg_span(j, s.sw, s.pw, s.kw, s.w);
        T sum = 0;
        for (int64_t r = rs.start; r < rs.end; ++r)
          for (int64_t c = cs.start; c < cs.end; ++c) sum += xp[r * s.w + c];
        const int64_t n =
            count_include_pad ? rs.padded * cs.padded : (rs.end - rs.start) * (cs.end - cs.start);
        yp[i * s.ow + j] = n > 0 ? sum / static_cast<T>(n) : T(0);
      }
    }
  });
}

template <typename T>
void avg_pool2d_backward(const T* gy, const Pool2dShape& s, bool count_include_pad, T* gx) {
  parallel_for(s.planes, parallel(s), [&](int64_t p) {
    T* gp = gx + p * s.h * s.w;
    std::fill(gp, gp + s.h * s.w, T(0));
    const T* g = gy + p * s.oh * s.ow;
    for (int64_t i = 0; i < s.oh; ++i) {
      const Span rs = avg_span(i, s.sh, s.ph, s.kh, s.h);
      for (int64_t j = 0; j < s.ow; ++j) {
        const Span cs = avg_span(j, s.sw, s.pw, s.kw, s.w);
        const int64_t n =
            count_include_pad ? rs.padded * cs.padded : (rs.end - rs.start) * (cs.end - cs.start);
        if (n <= 0) continue;
        const T v = g[i * s.ow + j] / static_cast<T>(n);
        for (int64_t r = rs.start; r < rs.end; ++r)
          for (int64_t c = cs.start; c < cs.end; ++c) gp[r * s.w + c] += v;
      }
    }
  });
}

template <typename T>
void adaptive_avg_pool2d(const T* x, const Pool2dShape& s, T* y) {
  parallel_for(s.planes, parallel(s), [&](int64_t p) {
    const T* xp = x + p * s.h * s.w;
    T* yp = y + p * s.oh * s.ow;
    for (int64_t i = 0; i < s.oh; ++i) {
      const int64_t r0 = adaptive_start(i, s.h, s.oh), r1 = adaptive_end(i, s.h, s.oh);
      for (int64_t j = 0; j < s.ow; ++j) {
        const int64_t c0 = adaptive_start(j, s.w, s.ow), c1 = adaptive_end(j, s.w, s.ow);
        T sum = 0;
        for (int64_t r = r0; r < r1; ++r)
          for (int64_t c = c0; c < c1; ++c) sum += xp[r * s.w + c];
        yp[i * s.ow + j] = sum / static_cast<T>((r1 - r0) * (c1 - c0));
      }
    }
  });
}

template <typename T>
void adaptive_avg_pool2d_backward(const T* gy, const Pool2dShape& s, T* gx) {
  parallel_for(s.planes, parallel(s), [&](int64_t p) {
    T* gp = gx + p * s.h * s.w;
    std::fill(gp, gp + s.h * s.w, T(0));
    const T* g = gy + p * s.oh * s.ow;
    for (int64_t i = 0; i < s.oh; ++i) {
      const int64_t r0 = adaptive_start(i, s.h, s.oh), r1 = adaptive_end(i, s.h, s.oh);
      for (int64_t j = 0; j < s.ow; ++j) {
        const int64_t c0 = adaptive_start(j, s.w, s.ow), c1 = adaptive_end(j, s.w, s.ow);
        const T v = g[i * s.ow + j] / static_cast<T>((r1 - r0) * (c1 - c0));
        for (int64_t r = r0; r < r1; ++r)
          for (int64_t c = c0; c < c1; ++c) gp[r * s.w + c] += v;
      }
    }
  });
}

#define TG_POOL_INSTANTIATE(T)                                                            \
  template void max_pool2d<T>(const T*, const Pool2dShape&, T*, int32_t*);                \
  template void max_pool2d_backward<T>(const T*, const int32_t*, const Pool2dShape&, T*); \
  template void avg_pool2d<T>(const T*, const Pool2dShape&, bool, T*);                    \
  template void avg_pool2d_backward<T>(const T*, const Pool2dShape&, bool, T*);           \
  template void adaptive_avg_pool2d<T>(const T*, const Pool2dShape&, T*);                 \
  template void adaptive_avg_pool2d_backward<T>(const T*, const Pool2dShape&, T*);
TG_POOL_INSTANTIATE(float)
TG_POOL_INSTANTIATE(double)
#undef TG_POOL_INSTANTIATE

}  // namespace tg::kernels::cpu
