// The RMSprop update, with PyTorch's semantics (torch.optim.RMSprop, 1.13):
//   g = grad + weight_decay * p
//   s = alpha * s + (1 - alpha) * g * g                      ("square_avg")
//   centered:  a = alpha * a + (1 - alpha) * g               ("grad_avg")
//              d = sqrt(s - a * a) + eps        else   d = sqrt(s) + eps
//   momentum > 0:  b = momentum * b + g / d,  p -= lr * b    ("momentum_buffer")
//   else:          p -= lr * g / d
// eps is added outside the root, as in PyTorch. All buffers start at zero.
// One fused pass. Cost: about 10n FLOPs and a sqrt per element; 5n to 9n * sizeof(T) bytes.
#pragma once

#include <cstdint>

#include "base/error.h"

namespace tg::kernels {

struct RmspropHyper {
  double lr = 1e-2;
  double alpha = 0.99;
  double eps = 1e-8;
  double weight_decay = 0;
  double momentum = 0;
  bool centered = false;
};

}  // namespace tg::kernels

namespace tg::kernels::detail {
inline void rmsprop_step_check(int64_t n, const void* sq, const void* grad_avg, const void* buf,
                               bool centered, bool use_momentum) {
  TG_CHECK(n >= 0, "rmsprop_step", "negative size ", n);
  TG_CHECK(sq != nullptr, "rmsprop_step", "square_avg must not be null");
  TG_CHECK(!centered || grad_avg != nullptr, "rmsprop_step", "centered needs grad_avg, got null");
  TG_CHECK(!use_momentum || buf != nullptr, "rmsprop_step",
           "momentum needs a momentum buffer, got null");
}
}  // namespace tg::kernels::detail

namespace tg::kernels::cpu {

// grad_avg may be null unless centered, buf unless momentum > 0.
template <typename T>
void rmsprop_step(T* p, const T* grad, T* sq, T* grad_avg, T* buf, int64_t n,
                  const RmspropHyper& h);

}  // namespace tg::kernels::cpu

// The CUDA twin, multi-tensor (up to kRmspropMultiChunk tensors per launch, more in several).
// hyper_dev (kRmspropHyperSlots doubles on the device, filled by rmsprop_hyper_slots): [lr,
// alpha, 1 - alpha, eps, weight_decay, momentum]; double for the reason adam.h gives.
// Whether there is momentum and centering is fixed by the buffers given (a null buffer: none).
// skip_if_nonfinite as in sgd_step_dev_multi.
namespace tg::kernels::cuda {

inline constexpr int kRmspropHyperSlots = 6;
inline void rmsprop_hyper_slots(const RmspropHyper& h, double* out) {
  TG_CHECK(out != nullptr, "rmsprop_step", "null output for the hyper-parameter slots");
  const double v[kRmspropHyperSlots] = {h.lr,  h.alpha,        1.0 - h.alpha,
                                        h.eps, h.weight_decay, h.momentum};
  for (int i = 0; i < kRmspropHyperSlots; ++i) out[i] = v[i];
}
template <typename T>
struct RmspropTensor {
  T* p;
  const T* grad;
  T* sq;
  T* grad_avg;  // null unless centered
  T* buf;       // null unless momentum
  int64_t n;
};
inline constexpr int kRmspropMultiChunk = 32;
template <typename T>
void rmsprop_step_dev_multi(const RmspropTensor<T>* tensors, int64_t count, const double* hyper_dev,
                            const double* skip_if_nonfinite = nullptr);

}  // namespace tg::kernels::cuda
