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
