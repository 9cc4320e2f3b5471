// The fused Adam / AdamW update on the CPU, torch.optim.Adam's and AdamW's semantics (see
// adam.h for the formulas).
//
// Algorithm: one pass; per element the decay, both moving averages and the step, every
// quantity in T as PyTorch computes a float32 parameter in float32. The scalars (1 - beta,
// the bias corrections, lr / bias correction) are formed in double as PyTorch forms them in
// Python, and rounded to T once. Flat loop, OpenMP + SIMD above kParallelMin elements; each
// element depends only on itself, so the result does not depend on the thread count.
// Cost: about 12n FLOPs + n sqrt; 7n * sizeof(T) bytes.
#include "kernels/adam.h"

#include <cmath>

#include "kernels/cpu/common.h"

namespace tg::kernels::cpu {

template <typename T>
void adam_step(T* p, const T* grad, T* m, T* v, int64_t n, const AdamHyper& h, int64_t step) {
  kernels::detail::adam_step_check(n, m, v, step);
  const AdamScalars s = adam_scalars(h, step);
  const T b1 = static_cast<T>(h.beta1), b2 = static_cast<T>(h.beta2);
  const T k1 = static_cast<T>(1.0 - h.beta1), k2 = static_cast<T>(1.0 - h.beta2);
  const T eps = static_cast<T>(h.eps), wd = static_cast<T>(h.weight_decay);
  const T decay = static_cast<T>(s.decay), neg_step = static_cast<T>(-s.step_size);
  const T bc2 = static_cast<T>(s.bc2_sqrt);
  T* __restrict pp = p;
  const T* __restrict gg = grad;
  T* __restrict mm = m;
  T* __restrict vv = v;
  // Two loops, so that neither carries the other's decay as a branch.
  if (h.decoupled) {
    const bool use_decay = h.weight_decay != 0;
    detail::parallel_flat(n, [&](int64_t i) {
      const T pd = use_decay ? pp[i] * decay : pp[i];
      const T g = gg[i];
      const T mi = b1 * mm[i] + k1 * g;
      const T vi = b2 * vv[i] + k2 * g * g;
      mm[i] = mi;
      vv[i] = vi;
      pp[i] = pd + neg_step * mi / (std::sqrt(vi) / bc2 + eps);
    });
  } else {
    const bool use_wd = h.weight_decay != 0;
    detail::parallel_flat(n, [&](int64_t i) {
      const T g = use_wd ? gg[i] + wd * pp[i] : gg[i];
      const T mi = b1 * mm[i] + k1 * g;
      const T vi = b2 * vv[i] + k2 * g * g;
      mm[i] = mi;
      vv[i] = vi;
      pp[i] = pp[i] + neg_step * mi / (std::sqrt(vi) / bc2 + eps);
    });
  }
}

template void adam_step<float>(float*, const float*, float*, float*, int64_t, const AdamHyper&,
                               int64_t);
template void adam_step<double>(double*, const double*, double*, double*, int64_t, const AdamHyper&,
                                int64_t);

}  // namespace tg::kernels::cpu
