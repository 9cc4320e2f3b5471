// The LAMB update on the CPU (see lamb.h for the formulas and the cost).
//
// Pass 1 runs over blocks of kBlock elements (OpenMP across blocks above kParallelMin): each
// updates m and v and returns its sums of p^2 and u^2 in double (over 8 interleaved lanes,
// added in lane order); the block sums are then added in block order, so r1 and r2 do not depend on
// the thread count. Pass 1 also keeps each u in a scratch buffer that pass 2 reads to apply lr * q
// * u: u is computed once, so the step uses exactly the values the norm was taken of (a
// recomputation in another loop could be contracted to FMAs differently and differ in the last
// bit).
#include "kernels/lamb.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/common.h"

namespace tg::kernels::cpu {

namespace {
constexpr int64_t kBlock = 4096;
constexpr int kSumLanes = 8;
}  // namespace

template <typename T>
LambNorms lamb_step(T* p, const T* grad, T* m, T* v, int64_t n, const LambHyper& h, int64_t step) {
  TG_CHECK(n >= 0, "lamb_step", "negative size ", n);
  TG_CHECK(m != nullptr && v != nullptr, "lamb_step", "exp_avg and exp_avg_sq must not be null");
  TG_CHECK(step >= 1, "lamb_step", "the step count must be >= 1, got ", step);
  if (n == 0) return {0, 0, 1};
  const double s = static_cast<double>(step);
  const T b1 = static_cast<T>(h.beta1), b2 = static_cast<T>(h.beta2);
  const T k1 = static_cast<T>(1.0 - h.beta1), k2 = static_cast<T>(1.0 - h.beta2);
  const T d1 = static_cast<T>(1.0 - std::pow(h.beta1, s));
  const T d2 = static_cast<T>(1.0 - std::pow(h.beta2, s));
  const T eps = static_cast<T>(h.eps), wd = static_cast<T>(h.weight_decay);
  const bool use_wd = h.weight_decay != 0;
  T* __restrict pp = p;
  const T* __restrict gg = grad;
  T* __restrict mm = m;
  T* __restrict vv = v;
  auto update = [&](int64_t i) {
    const T mi = b1 * mm[i] + k1 * gg[i];
    const T vi = b2 * vv[i] + k2 * gg[i] * gg[i];
    mm[i] = mi;
    vv[i] = vi;
  };
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  thread_local std::vector<double> sums;
  thread_local std::vector<T> scratch;  // u, kept from pass 1 for pass 2
  sums.assign(static_cast<size_t>(2 * blocks), 0.0);
  if (scratch.size() < static_cast<size_t>(n)) scratch.resize(static_cast<size_t>(n));
  double* ss = sums.data();
  T* __restrict uu = scratch.data();
  detail::parallel_for(blocks, n >= detail::kParallelMin, [&](int64_t b) {
    const int64_t lo = b * kBlock, hi = std::min(n, lo + kBlock);
#pragma omp simd
    for (int64_t i = lo; i < hi; ++i) {
      update(i);
      const T u = (mm[i] / d1) / (std::sqrt(vv[i] / d2) + eps);
      uu[i] = use_wd ? u + wd * pp[i] : u;
    }
    // kSumLanes interleaved accumulators (element i adds to lane i % kSumLanes), combined in
    // lane order: the adds pipeline (one chain would wait on each add) and vectorise, and the
    // sums are the same whatever the compiler does with the inner loop.
    double ap[kSumLanes] = {}, au[kSumLanes] = {};
    int64_t i = lo;
    for (; i + kSumLanes <= hi; i += kSumLanes)
      for (int j = 0; j < kSumLanes; ++j) {
        const double pi = pp[i + j], ui = uu[i + j];
        ap[j] += pi * pi;
        au[j] += ui * ui;
      }
    for (int j = 0; i < hi; ++i, ++j) {
      const double pi = pp[i], ui = uu[i];
      ap[j] += pi * pi;
      au[j] += ui * ui;
    }
    double sp = 0, su = 0;
    for (int j = 0; j < kSumLanes; ++j) sp += ap[j], su += au[j];
    ss[2 * b] = sp;
    ss[2 * b + 1] = su;
  });
  double sp = 0, su = 0;
  for (int64_t b = 0; b < blocks; ++b) sp += ss[2 * b], su += ss[2 * b + 1];
  const double r1 = std::sqrt(sp / static_cast<double>(n));
  const double r2 = std::sqrt(su / static_cast<double>(n));
  const double q = (r1 == 0 || r2 == 0) ? 1.0 : std::min(r1 / r2, 10.0);
  const T neg = static_cast<T>(-h.lr * q);
  detail::parallel_flat(n, [&](int64_t i) { pp[i] += neg * uu[i]; });
  return {r1, r2, q};
}

template LambNorms lamb_step<float>(float*, const float*, float*, float*, int64_t, const LambHyper&,
                                    int64_t);
template LambNorms lamb_step<double>(double*, const double*, double*, double*, int64_t,
                                     const LambHyper&, int64_t);

}  // namespace tg::kernels::cpu
