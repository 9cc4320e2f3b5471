// The SGD update on the CPU, with PyTorch's semantics (torch.optim.SGD):
//   g = grad + weight_decay * p
//   momentum != 0:  buf = first ? g : momentum * buf + (1 - dampening) * g
//                   g   = nesterov ? g + momentum * buf : buf
//   p -= lr * g
// One fused pass over n parameters. Cost: about 6n FLOPs, 5n * sizeof(T) bytes.
#pragma once

#include <cstdint>

#include "base/error.h"

namespace tg::kernels {

struct SgdHyper {
  double lr = 0.01;
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;
};

}  // namespace tg::kernels

// sgd_step's argument checks, shared by the CPU and CUDA versions (same messages on both).
namespace tg::kernels::detail {
inline void sgd_step_check(int64_t n, const void* buf, const SgdHyper& h) {
  TG_CHECK(n >= 0, "sgd_step", "negative size ", n);
  TG_CHECK(h.momentum == 0 || buf != nullptr, "sgd_step", "momentum ", h.momentum,
           " needs a momentum buffer, got null");
  TG_CHECK(!h.nesterov || (h.momentum > 0 && h.dampening == 0), "sgd_step",
           "nesterov momentum requires a momentum > 0 and zero dampening (got momentum ",
           h.momentum, ", dampening ", h.dampening, ")");
}
}  // namespace tg::kernels::detail

namespace tg::kernels::cpu {

// buf may be null when momentum == 0. first: the momentum buffer has not been set yet.
template <typename T>
void sgd_step(T* p, const T* grad, T* buf, int64_t n, const SgdHyper& h, bool first);

}  // namespace tg::kernels::cpu

// The CUDA twins (kernels/cuda/sgd.cu). sgd_step takes the hyper-parameters by value, like the
// CPU one. sgd_step_dev reads lr, momentum, dampening and weight_decay from device memory
// (hyper_dev[0..3], float), so a step captured in a CUDA Graph still follows a scheduler: the
// host updates those four floats before each replay.
namespace tg::kernels::cuda {

template <typename T>
void sgd_step(T* p, const T* grad, T* buf, int64_t n, const SgdHyper& h, bool first);
template <typename T>
void sgd_step_dev(T* p, const T* grad, T* buf, int64_t n, const float* hyper_dev, bool nesterov,
                  bool first);

// One parameter of a multi-tensor step: buf null when there is no momentum buffer; first as in
// sgd_step (its buffer is set from this step's gradient).
template <typename T>
struct SgdTensor {
  T* p;
  const T* grad;
  T* buf;
  int64_t n;
  bool first;
};
// sgd_step_dev over many parameters in one kernel launch (up to kSgdMultiChunk per launch,
// more in several): the same update, element for element, as one sgd_step_dev per tensor.
// A model's whole step is then one launch, or one CUDA Graph node, instead of one per
// parameter (PyTorch's "multi-tensor apply").
// skip_if_nonfinite, when not null, is one double on the device read by the kernel itself: when
// it is NaN or infinite the whole update is skipped (no parameter or buffer changes), so a
// non-finite loss summed into it never reaches the weights, with no host synchronisation.
inline constexpr int kSgdMultiChunk = 48;
template <typename T>
void sgd_step_dev_multi(const SgdTensor<T>* tensors, int64_t count, const float* hyper_dev,
                        bool nesterov, const double* skip_if_nonfinite = nullptr);

}  // namespace tg::kernels::cuda
