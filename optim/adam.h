// The adaptive optimizers: Adam, AdamW, RMSprop (torch.optim, 1.13 semantics) and LAMB (the
// course's, notebook 09 / fastai), each a StatefulOptimizer (optim/generic.h): a recipe of the
// course's stats and steppers declares its hyper-parameters and state, and a fused kernel
// computes it (set_fused(false): the recipe's loops, on the CPU). The recipes:
//   Adam     l2_reg, average_grad, average_sqr_grad (both dampened, torch_moments()),
//            step_count, adam_step
//   AdamW    the same with weight_decay (decoupled, just before adam_step) in place of l2_reg
//   RMSprop  l2_reg, average_sqr_grad ("square_avg", alpha), centered_grad_avg, step_count,
//            rmsprop_step
//   LAMB     average_grad, average_sqr_grad, step_count, lamb_step
//
//   tg::optim::Adam opt(model.parameters(), {.lr = 1e-3, .weight_decay = 1e-4});
//   opt.set("beta1", 0.85);   // what a scheduler does (the trainer's one-cycle cycles beta1)
//
// Hyper-parameter names are PyTorch's, with betas split into "beta1" and "beta2" (a name table
// holds scalars). State names are PyTorch's: "step" (a one-element float32 tensor on the CPU,
// counted per parameter, as torch 1.13 keeps it), "exp_avg", "exp_avg_sq" (Adam, AdamW, LAMB),
// "square_avg", "momentum_buffer" (only when momentum > 0), "grad_avg" (only when centered)
// (RMSprop). Buffers start at zero on a parameter's first update; parameters without a
// gradient are skipped (their step count does not advance).
// On CUDA, a group's parameters are updated by one multi-tensor launch per dtype and distinct
// step count (LAMB: two per chunk of tensors; kernels/cuda/{adam,rmsprop,lamb}.cu), reading the
// hyper-parameters and the step's bias corrections from a small float64 buffer on the device
// that step() fills first, so the device update is the CPU's formula on the CPU's scalars
// (results differ by FMA contraction and, for LAMB, the order of the norms' sums). The step
// can be captured in a CUDA Graph (CudaGraphStep): prepare_capture() sets aside the buffer the
// captured launch reads, a captured step() counts no step and needs the state an eager step
// made, and before_replay() advances the "step" of every parameter of the captured step and
// writes that step's values, so a replayed step follows schedules and bias corrections as an
// eager one. A captured Adam or LAMB group's parameters must share one step count; a replayed
// RMSprop step uses the buffers it was captured with (setting "centered", or a momentum > 0
// where it was 0, takes effect on the next capture). The non-finite guard
// (Optimizer::set_nonfinite_guard) skips a device update; the host's step counts still advance.
// Not implemented: Adam's amsgrad, maximize.
#pragma once

#include <string_view>
#include <vector>

#include "kernels/adam.h"
#include "kernels/lamb.h"
#include "kernels/rmsprop.h"
#include "optim/optimizer.h"

namespace tg::optim {

namespace detail {
// The device side of the adaptive optimizers (adam.cpp): per group, the float64 buffer an
// eager step's launches read (one set of slots per distinct step count), the one a captured
// step reads, and which parameters the captured step updates.
struct DeviceSteps {
  std::vector<Tensor> eager, graph;
  std::vector<std::vector<size_t>> captured;
};
}  // namespace detail

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;
};
// AdamW's defaults differ from Adam's only in the decay (torch.optim.AdamW: 1e-2).
struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;
};
struct RMSpropOptions {
  double lr = 1e-2;
  double alpha = 0.99;
  double eps = 1e-8;
  double weight_decay = 0;
  double momentum = 0;
  bool centered = false;
};
// The course's LAMB defaults (notebook 09): betas (0.9, 0.99), eps 1e-6.
struct LAMBOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.99;
  double eps = 1e-6;
  double weight_decay = 0;
};

// torch.optim.Adam (coupled L2: weight_decay * p joins the gradient) and, with decoupled
// decay, AdamW (see kernels/adam.h for the update). Hyper-parameters: lr, beta1, beta2, eps,
// weight_decay; checked as torch checks them (lr, eps, weight_decay >= 0, betas in [0, 1)).
class Adam : public StatefulOptimizer {
 public:
  Adam(const std::vector<Tensor>& params, const AdamOptions& opt = {});
  Adam(std::vector<ParamGroup> groups, const AdamOptions& defaults = {});

  bool capturable() const override { return fused(); }
  void prepare_capture() override;
  void before_replay() override;

 protected:
  Adam(std::vector<ParamGroup> groups, const AdamOptions& defaults, bool decoupled);
  void fused_step() override;
  void check_hyper(const std::vector<double>& values) const override;
  void hyper_changed(size_t group) override;

 private:
  bool decoupled_;
  std::vector<kernels::AdamHyper> typed_;  // per group
  detail::DeviceSteps dev_;
};

// torch.optim.AdamW: the weights decay by lr * weight_decay before the Adam step.
class AdamW : public Adam {
 public:
  AdamW(const std::vector<Tensor>& params, const AdamWOptions& opt = {});
  AdamW(std::vector<ParamGroup> groups, const AdamWOptions& defaults = {});
};

// torch.optim.RMSprop (see kernels/rmsprop.h). Hyper-parameters: lr, alpha, eps, weight_decay,
// momentum, centered (0 or 1).
class RMSprop : public StatefulOptimizer {
 public:
  RMSprop(const std::vector<Tensor>& params, const RMSpropOptions& opt = {});
  RMSprop(std::vector<ParamGroup> groups, const RMSpropOptions& defaults = {});

  bool capturable() const override { return fused(); }
  void prepare_capture() override;
  void before_replay() override;

 protected:
  void fused_step() override;
  void check_hyper(const std::vector<double>& values) const override;
  void hyper_changed(size_t group) override;

 private:
  std::vector<kernels::RmspropHyper> typed_;
  detail::DeviceSteps dev_;
};

// The course's LAMB (see kernels/lamb.h): Adam's step with eps outside the root of the
// bias-corrected v and the decay added to it, scaled per tensor by the trust ratio
// min(|p| / |u|, 10) (RMS norms). Hyper-parameters: lr, beta1, beta2, eps, weight_decay.
class LAMB : public StatefulOptimizer {
 public:
  LAMB(const std::vector<Tensor>& params, const LAMBOptions& opt = {});
  LAMB(std::vector<ParamGroup> groups, const LAMBOptions& defaults = {});

  bool capturable() const override { return fused(); }
  void prepare_capture() override;
  void before_replay() override;

 protected:
  void fused_step() override;
  void check_hyper(const std::vector<double>& values) const override;
  void hyper_changed(size_t group) override;

 private:
  std::vector<kernels::LambHyper> typed_;
  detail::DeviceSteps dev_;
};

}  // namespace tg::optim
