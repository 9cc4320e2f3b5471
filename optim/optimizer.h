// Optimizer: parameter groups with typed hyper-parameters (optim/base.h), and SGD.
//
//   tg::optim::SGD opt(model.parameters(), {.lr = 0.1, .momentum = 0.9});
//   opt.zero_grad(); tg::backward(loss); opt.step();
//   opt.set("lr", 0.05);                         // what a scheduler does: checked here, once
//   const size_t lr = opt.hyper_id("lr");        // or resolve the name once ...
//   opt.set(lr, 0.05);                           // ... and set by id every batch
//   double v = opt.get("lr", /*group=*/0);
//
// Names are for the boundary only: schedulers, callbacks and checkpoints name a hyper-parameter
// ("lr", "momentum", ...) without knowing the optimizer's type. Inside, each group holds one
// value per slot of the optimizer's name table, and the optimizer keeps its own typed copy of
// them (SGD: kernels::SgdHyper), rebuilt and validated when a value changes, never by step().
// An unknown name or an invalid value is a tg::Error, and a rejected value changes nothing.
//
// SGD (and Adam, AdamW, RMSprop, LAMB: optim/adam.h) is a StatefulOptimizer (optim/generic.h):
// its hyper-parameters, its state and its update are declared by a recipe of the course's stats
// and steppers (SGD: l2_reg, momentum_buffer, sgd_momentum_step), and a fused kernel computes
// that recipe in one pass per parameter (CPU) or one launch per group (CUDA).
// opt.set_fused(false) runs the recipe's plain loops instead, on the CPU: the same numbers up to
// float rounding (tests/optim/test_fused.cpp), and the reference the kernels are checked against.
#pragma once

#include <array>
#include <vector>

#include "kernels/sgd.h"
#include "optim/base.h"
#include "optim/generic.h"

namespace tg::optim {

struct SGDOptions {
  double lr = 0.01;
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;
};

// torch.optim.SGD, same numbers for the same inputs (see kernels/sgd.h for the formulas).
// Parameters without a gradient are skipped. Hyper-parameters: lr, momentum, dampening,
// weight_decay, nesterov (0 or 1).
class SGD : public StatefulOptimizer {
 public:
  SGD(const std::vector<Tensor>& params, const SGDOptions& opt);
  SGD(std::vector<ParamGroup> groups, const SGDOptions& defaults);
  // CUDA: copies each group's lr, momentum, dampening and weight decay to the device buffer
  // the update kernel reads, when they changed since the last copy. step() does it itself
  // except under CUDA Graph capture.
  void upload_hyper();

  bool capturable() const override { return fused(); }
  void prepare_capture() override;
  void before_replay() override { upload_hyper(); }

 protected:
  void fused_step() override;
  void check_hyper(const std::vector<double>& values) const override;
  void hyper_changed(size_t group) override;

 private:
  std::vector<kernels::SgdHyper> typed_;          // per group, checked when set
  std::vector<Tensor> hyper_dev_;                 // per group: 4 floats on the group's device
  std::vector<std::array<float, 4>> hyper_sent_;  // what each holds: an unchanged set is not sent
};

}  // namespace tg::optim
