// The Adam and AdamW updates, with PyTorch's semantics (torch.optim.Adam / AdamW, 1.13), on a
// parameter whose step count (after this step's increment) is `step`:
//   Adam (coupled L2):    g = grad + weight_decay * p
//   AdamW (decoupled):    p = p * (1 - lr * weight_decay),  g = grad
//   m = beta1 * m + (1 - beta1) * g                  ("exp_avg")
//   v = beta2 * v + (1 - beta2) * g * g              ("exp_avg_sq")
//   p = p - (lr / (1 - beta1^step)) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)
// eps is added after the bias correction of sqrt(v), as PyTorch does (not inside the root).
// One fused pass. Cost: about 12n FLOPs and one sqrt per element; reads p, grad, m, v and
// writes p, m, v: 7n * sizeof(T) bytes.
#pragma once

#include <cmath>
#include <cstdint>

#include "base/error.h"

namespace tg::kernels {

struct AdamHyper {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;
  bool decoupled = false;  // AdamW: decay the weights, not the gradient
};

// The per-step scalars both backends use, formed in double from the hyper-parameters and the
// step count as PyTorch forms them in Python, then rounded to T by each kernel once:
// decay = 1 - lr * wd (AdamW), step_size = lr / (1 - beta1^step),
// bc2_sqrt = sqrt(1 - beta2^step).
struct AdamScalars {
  double decay, step_size, bc2_sqrt;
};
inline AdamScalars adam_scalars(const AdamHyper& h, int64_t step) {
  const double s = static_cast<double>(step);
  return {1.0 - h.lr * h.weight_decay, h.lr / (1.0 - std::pow(h.beta1, s)),
          std::sqrt(1.0 - std::pow(h.beta2, s))};
}

}  // namespace tg::kernels

namespace tg::kernels::detail {
inline void adam_step_check(int64_t n, const void* m, const void* v, int64_t step) {
  TG_CHECK(n >= 0, "adam_step", "negative size ", n);
  TG_CHECK(m != nullptr && v != nullptr, "adam_step", "exp_avg and exp_avg_sq must not be null");
  TG_CHECK(step >= 1, "adam_step",
           "the step count must be >= 1 (counted after the increment), got ", step);
}
}  // namespace tg::kernels::detail

namespace tg::kernels::cpu {

// m and v start at zero on the first step (step == 1), as PyTorch's zeros_like.
template <typename T>
void adam_step(T* p, const T* grad, T* m, T* v, int64_t n, const AdamHyper& h, int64_t step);

}  // namespace tg::kernels::cpu

// The CUDA twin: one launch for many parameters (multi-tensor apply, as sgd_step_dev_multi),
// up to kAdamMultiChunk tensors per launch (more in several), all at the same step count.
// hyper_dev (kAdamHyperSlots doubles on the device, filled by adam_hyper_slots): [lr, beta1,
// 1 - beta1, beta2, 1 - beta2, eps, weight_decay, decay, step_size, bc2_sqrt]. The host
// refreshes it before each step or CUDA Graph replay, so a captured step follows a schedule and
// the bias correction of the step being replayed. The slots are double, formed on the host as
// the CPU forms them and rounded to T by the kernel once, so the device step equals the CPU's
// (float slots would round 1 - beta2 = 0.001 to ~1e-5 relative and double parameters to float
// precision). skip_if_nonfinite as in sgd_step_dev_multi: a NaN or an infinity there skips the
// whole update.
namespace tg::kernels::cuda {

inline constexpr int kAdamHyperSlots = 10;
inline void adam_hyper_slots(const AdamHyper& h, int64_t step, double* out) {
  TG_CHECK(step >= 1, "adam_step",
           "the step count must be >= 1 (counted after the increment), got ", step);
  TG_CHECK(out != nullptr, "adam_step", "null output for the hyper-parameter slots");
  const AdamScalars s = adam_scalars(h, step);
  const double v[kAdamHyperSlots] = {h.lr,          h.beta1,   1.0 - h.beta1,  h.beta2,
                                     1.0 - h.beta2, h.eps,     h.weight_decay, s.decay,
                                     s.step_size,   s.bc2_sqrt};
  for (int i = 0; i < kAdamHyperSlots; ++i) out[i] = v[i];
}
template <typename T>
struct AdamTensor {
  T* p;
  const T* grad;
  T* m;
  T* v;
  int64_t n;
};
inline constexpr int kAdamMultiChunk = 36;
template <typename T>
void adam_step_dev_multi(const AdamTensor<T>* tensors, int64_t count, const double* hyper_dev,
                         bool decoupled, const double* skip_if_nonfinite = nullptr);

}  // namespace tg::kernels::cuda
