// Fused training-mode batch norm (kernels/norm.h). Each channel is one work item: its values
// are the N runs of S contiguous elements at x + (i*C + c)*S.
#include "kernels/norm.h"

#include <cmath>

namespace tg::kernels::cpu {

namespace {

// Threads only when the tensor is large enough to pay for a parallel region.
constexpr int64_t kParallelMin = 1 << 15;

}  // namespace

template <typename T>
void batch_norm_train_forward(const T* x, int64_t n, int64_t c, int64_t s, const T* w, const T* b,
                              double eps, T* y, T* mean, T* var, T* invstd) {
  const int64_t m = n * s;
#pragma omp parallel for schedule(static) if (n * c * s >= kParallelMin)
  for (int64_t ch = 0; ch < c; ++ch) {
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      const T* xi = x + (i * c + ch) * s;
      double part = 0;
#pragma omp simd reduction(+ : part)
      for (int64_t e = 0; e < s; ++e) part += double(xi[e]);
      sum += part;
    }
    const double mu = sum / double(m);
    double sq = 0;
    for (int64_t i = 0; i < n; ++i) {
      const T* xi = x + (i * c + ch) * s;
      double part = 0;
#pragma omp simd reduction(+ : part)
      for (int64_t e = 0; e < s; ++e) {
        const double d = double(xi[e]) - mu;
        part += d * d;
      }
      sq += part;
    }
    const double v = sq / double(m), is = 1.0 / std::sqrt(v + eps);
    mean[ch] = T(mu), var[ch] = T(v), invstd[ch] = T(is);
    // (x - mean) first, as the composed form: no cancellation when |mean| >> std.
    const T mt = T(mu), sc = T(is * (w ? double(w[ch]) : 1.0)), sh = b ? b[ch] : T(0);
    for (int64_t i = 0; i < n; ++i) {
      const T* xi = x + (i * c + ch) * s;
      T* yi = y + (i * c + ch) * s;
#pragma omp simd
      for (int64_t e = 0; e < s; ++e) yi[e] = (xi[e] - mt) * sc + sh;
    }
  }
}

template <typename T>
void batch_norm_train_backward(const T* x, const T* gy, int64_t n, int64_t c, int64_t s, const T* w,
                               const T* mean, const T* invstd, T* gx, T* gw, T* gb) {
  const int64_t m = n * s;
#pragma omp parallel for schedule(static) if (n * c * s >= kParallelMin)
  for (int64_t ch = 0; ch < c; ++ch) {
    const double mu = double(mean[ch]), is = double(invstd[ch]);
    double sum_g = 0, sum_gx = 0;  // sum gy, sum gy * (x - mean)
    for (int64_t i = 0; i < n; ++i) {
      const T* xi = x + (i * c + ch) * s;
      const T* gi = gy + (i * c + ch) * s;
      double pg = 0, pgx = 0;
#pragma omp simd reduction(+ : pg, pgx)
      for (int64_t e = 0; e < s; ++e) {
        pg += double(gi[e]);
        pgx += double(gi[e]) * (double(xi[e]) - mu);
      }
      sum_g += pg, sum_gx += pgx;
    }
    if (gb) gb[ch] = T(sum_g);
    if (gw) gw[ch] = T(sum_gx * is);
    if (!gx) continue;
    // gx = k * (gy - sum_g/M - (x - mean) * is^2 * sum_gx/M), k = w * is, computed as
    // a*gy + bx*(x - mean) + c0 ((x - mean) first: no cancellation when |mean| >> std).
    const double k = (w ? double(w[ch]) : 1.0) * is;
    const T a = T(k), bx = T(-k * is * is * sum_gx / double(m)), c0 = T(-k * sum_g / double(m));
    const T mt = T(mu);
    for (int64_t i = 0; i < n; ++i) {
      const T* xi = x + (i * c + ch) * s;
      const T* gi = gy + (i * c + ch) * s;
      T* out = gx + (i * c + ch) * s;
#pragma omp simd
      for (int64_t e = 0; e < s; ++e) out[e] = a * gi[e] + bx * (xi[e] - mt) + c0;
    }
  }
}

#define TG_BATCH_NORM(T)                                                                    \
  template void batch_norm_train_forward<T>(const T*, int64_t, int64_t, int64_t, const T*,  \
                                            const T*, double, T*, T*, T*, T*);              \
  template void batch_norm_train_backward<T>(const T*, const T*, int64_t, int64_t, int64_t, \
                                             const T*, const T*, const T*, T*, T*, T*);
TG_BATCH_NORM(float)
TG_BATCH_NORM(double)
#undef TG_BATCH_NORM

}  // namespace tg::kernels::cpu
