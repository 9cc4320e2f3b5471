// The LAMB update of the course (notebook 09) and fastai (lamb_step), on a parameter whose step
// count (after this step's increment) is `step`:
//   m = beta1 * m + (1 - beta1) * grad                       ("exp_avg", fastai's grad_avg)
//   v = beta2 * v + (1 - beta2) * grad * grad                ("exp_avg_sq", fastai's sqr_avg)
//   u = (m / (1 - beta1^step)) / (sqrt(v / (1 - beta2^step)) + eps) + weight_decay * p
//   r1 = sqrt(mean(p * p)),  r2 = sqrt(mean(u * u))           (p before this step)
//   q  = (r1 == 0 or r2 == 0) ? 1 : min(r1 / r2, 10)          (the trust ratio)
//   p -= lr * q * u
// As in Adam, eps is added to the root of the bias-corrected v (fastai's form); unlike Adam, the
// decay joins the Adam step before the trust ratio is taken. Each parameter tensor is one
// "layer" with its own ratio.
// Two passes (the ratio needs the whole tensor): the first updates m and v, forms u into a
// scratch buffer (thread-local, grown to the largest n) and sums p^2 and u^2 in double over
// fixed blocks combined in a fixed order (deterministic for any thread count); the second
// steps p by the stored u, so u is computed once. Cost: about 20n FLOPs + n sqrt; reads p,
// grad, m, v, then p, u; writes m, v, u, p: 11n * sizeof(T) bytes.
#pragma once

#include <cmath>
#include <cstdint>

#include "base/error.h"

namespace tg::kernels {

struct LambHyper {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.99;
  double eps = 1e-6;
  double weight_decay = 0;
};

// What a LAMB step did to one tensor (for tests and the course chapter).
struct LambNorms {
  double r1, r2, trust;
};

}  // namespace tg::kernels

namespace tg::kernels::cpu {

template <typename T>
LambNorms lamb_step(T* p, const T* grad, T* m, T* v, int64_t n, const LambHyper& h, int64_t step);

}  // namespace tg::kernels::cpu

// The CUDA twin, multi-tensor, in two launches per chunk of up to kLambMultiChunk tensors:
// the first updates m and v, writes u into a scratch buffer and, per block of kLambBlock
// elements, the block's sums of p^2 and u^2 in double (a fixed tree inside the block); the
// second adds each tensor's block sums in a fixed order (so r1 and r2 do not depend on timing),
// forms the trust ratio as the CPU does and steps p -= lr * q * u. The scratch (u of the
// largest chunk in T, and the block sums) is the runtime's (runtime.h: scratch), so run one
// step eagerly before capturing one. hyper_dev (kLambHyperSlots doubles on the device, filled
// by lamb_hyper_slots): [lr, beta1, 1 - beta1, beta2, 1 - beta2, eps, weight_decay,
// 1 - beta1^step, 1 - beta2^step]; double for the reason adam.h gives. skip_if_nonfinite as in
// sgd_step_dev_multi (neither launch then writes anything).
namespace tg::kernels::cuda {

inline constexpr int kLambHyperSlots = 9;
inline void lamb_hyper_slots(const LambHyper& h, int64_t step, double* out) {
  TG_CHECK(step >= 1, "lamb_step", "the step count must be >= 1, got ", step);
  TG_CHECK(out != nullptr, "lamb_step", "null output for the hyper-parameter slots");
  const double s = static_cast<double>(step);
  const double v[kLambHyperSlots] = {h.lr,
                                     h.beta1,
                                     1.0 - h.beta1,
                                     h.beta2,
                                     1.0 - h.beta2,
                                     h.eps,
                                     h.weight_decay,
                                     1.0 - std::pow(h.beta1, s),
                                     1.0 - std::pow(h.beta2, s)};
  for (int i = 0; i < kLambHyperSlots; ++i) out[i] = v[i];
}
template <typename T>
struct LambTensor {
  T* p;
  const T* grad;
  T* m;
  T* v;
  int64_t n;
};
inline constexpr int kLambMultiChunk = 24;
inline constexpr int64_t kLambBlock = 2048;  // elements per block of the partial sums
template <typename T>
void lamb_step_dev_multi(const LambTensor<T>* tensors, int64_t count, const double* hyper_dev,
                         const double* skip_if_nonfinite = nullptr);

}  // namespace tg::kernels::cuda
