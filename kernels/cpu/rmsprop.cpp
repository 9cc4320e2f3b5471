// The fused RMSprop update on the CPU, torch.optim.RMSprop's semantics (see rmsprop.h).
//
// Algorithm: one pass; every quantity in T, the scalars (1 - alpha) formed in double and
// rounded once. The centered and momentum branches are loop-invariant: each combination is
// its own vectorised loop. OpenMP + SIMD above kParallelMin; elementwise, so deterministic.
// Cost: about 10n FLOPs + n sqrt; 5n to 9n * sizeof(T) bytes.
#include "kernels/rmsprop.h"

#include <cmath>

#include "kernels/cpu/common.h"

namespace tg::kernels::cpu {

namespace {

template <typename T, bool kCentered, bool kMomentum>
void rmsprop_loop(T* __restrict p, const T* __restrict grad, T* __restrict sq, T* __restrict ga,
                  T* __restrict buf, int64_t n, const RmspropHyper& h) {
  const T lr = static_cast<T>(h.lr), alpha = static_cast<T>(h.alpha);
  const T keep = static_cast<T>(1.0 - h.alpha), eps = static_cast<T>(h.eps);
  const T wd = static_cast<T>(h.weight_decay), mom = static_cast<T>(h.momentum);
  const bool use_wd = h.weight_decay != 0;
  detail::parallel_flat(n, [&](int64_t i) {
    const T g = use_wd ? grad[i] + wd * p[i] : grad[i];
    const T s = alpha * sq[i] + keep * g * g;
    sq[i] = s;
    T d;
    if constexpr (kCentered) {
      const T a = alpha * ga[i] + keep * g;
      ga[i] = a;
      d = std::sqrt(s - a * a) + eps;
    } else {
      d = std::sqrt(s) + eps;
    }
    if constexpr (kMomentum) {
      const T b = mom * buf[i] + g / d;
      buf[i] = b;
      p[i] -= lr * b;
    } else {
      p[i] -= lr * g / d;
    }
  });
}

}  // namespace

template <typename T>
void rmsprop_step(T* p, const T* grad, T* sq, T* grad_avg, T* buf, int64_t n,
                  const RmspropHyper& h) {
  const bool mom = h.momentum > 0;
  kernels::detail::rmsprop_step_check(n, sq, grad_avg, buf, h.centered, mom);
  if (h.centered && mom)
    rmsprop_loop<T, true, true>(p, grad, sq, grad_avg, buf, n, h);
  else if (h.centered)
    rmsprop_loop<T, true, false>(p, grad, sq, grad_avg, buf, n, h);
  else if (mom)
    rmsprop_loop<T, false, true>(p, grad, sq, grad_avg, buf, n, h);
  else
    rmsprop_loop<T, false, false>(p, grad, sq, grad_avg, buf, n, h);
}

template void rmsprop_step<float>(float*, const float*, float*, float*, float*, int64_t,
                                  const RmspropHyper&);
template void rmsprop_step<double>(double*, const double*, double*, double*, double*, int64_t,
                                   const RmspropHyper&);

}  // namespace tg::kernels::cpu
