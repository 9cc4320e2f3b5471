// The fused SGD update on the CPU, torch.optim.SGD's semantics (see sgd.h for the formulas).
//
// Algorithm: one pass over the parameters; per element, weight decay, the momentum buffer and
// the step, with every quantity in T, as PyTorch computes a float32 parameter in float32. The
// hyperparameters arrive as double (Python floats in PyTorch) and are rounded to T once, as
// PyTorch rounds its scalar alphas; 1 - dampening is formed in double first, as in Python.
// The branches on the hyperparameters are loop-invariant, so each combination becomes its own
// vectorised loop. Flat loop, OpenMP + SIMD above kParallelMin elements.
// Cost: up to 7n FLOPs; reads p, grad (and buf), writes p (and buf): 3n to 5n * sizeof(T) bytes.
#include "kernels/sgd.h"

#include "base/error.h"
#include "kernels/cpu/common.h"

namespace tg::kernels::cpu {

template <typename T>
void sgd_step(T* p, const T* grad, T* buf, int64_t n, const SgdHyper& h, bool first) {
  kernels::detail::sgd_step_check(n, buf, h);
  const T lr = static_cast<T>(h.lr);
  const T wd = static_cast<T>(h.weight_decay);
  const T mom = static_cast<T>(h.momentum);
  const T keep = static_cast<T>(1.0 - h.dampening);  // the weight of the new gradient
  const bool use_wd = h.weight_decay != 0;
  const bool use_mom = h.momentum != 0;
  const bool nesterov = h.nesterov;

  // One loop per combination of the hyper-parameter branches, each a plain streaming loop over
  // restrict pointers that the compiler vectorises (a single loop with the branches inside ran
  // ~10x slower: it stayed scalar). Weight decay is folded into the gradient term.
  T* __restrict pp = p;
  const T* __restrict gg = grad;
  T* __restrict bb = buf;
  // detail::parallel_flat: "omp simd" always, OpenMP threads only above kParallelMin elements
  // (a small parameter never enters OpenMP at all).
  if (!use_mom) {
    detail::parallel_flat(n,
                          [&](int64_t i) { pp[i] -= lr * (use_wd ? gg[i] + wd * pp[i] : gg[i]); });
  } else if (first) {
    // First step: the buffer is the gradient itself, without dampening (torch.clone(grad)).
    detail::parallel_flat(n, [&](int64_t i) {
      const T g = use_wd ? gg[i] + wd * pp[i] : gg[i];
      bb[i] = g;
      pp[i] -= lr * (nesterov ? g + mom * g : g);
    });
  } else if (!nesterov && !use_wd) {
    // The common case (plain momentum), kept branch-free.
    detail::parallel_flat(n, [&](int64_t i) {
      const T b = mom * bb[i] + keep * gg[i];
      bb[i] = b;
      pp[i] -= lr * b;
    });
  } else {
    detail::parallel_flat(n, [&](int64_t i) {
      const T g = use_wd ? gg[i] + wd * pp[i] : gg[i];
      const T b = mom * bb[i] + keep * g;
      bb[i] = b;
      pp[i] -= lr * (nesterov ? g + mom * b : b);
    });
  }
}

template void sgd_step<float>(float*, const float*, float*, int64_t, const SgdHyper&, bool);
template void sgd_step<double>(double*, const double*, double*, int64_t, const SgdHyper&, bool);

}  // namespace tg::kernels::cpu
