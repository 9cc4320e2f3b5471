// Optimizer: parameter groups with named hyper-parameters, and SGD.
//
//   tg::optim::SGD opt(model.parameters(), {.lr = 0.1, .momentum = 0.9});
//   opt.zero_grad(); tg::backward(loss); opt.step();
//   opt.set("lr", 0.05);                        // what a scheduler callback does
//   double lr = opt.param_groups()[0].get("lr");
//
// Hyper-parameters are read and written by name so that schedulers and callbacks can drive
// any of them without knowing the optimizer's type; an unknown name is a tg::Error.
#pragma once

#include <array>
#include <map>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace tg::optim {

struct ParamGroup {
  std::vector<Tensor> params;
  std::map<std::string, double> hyper;  // "lr", "momentum", ...

  double get(const std::string& name) const;    // throws tg::Error naming known names
  void set(const std::string& name, double v);  // throws for names the optimizer lacks
};

class Optimizer {
 public:
  Optimizer(std::vector<ParamGroup> groups, std::map<std::string, double> defaults);
  virtual ~Optimizer() = default;
  virtual void step() = 0;
  // Zeroes the gradients in place, or with set_to_none drops them (tg::zero_grad says why that
  // is faster); step() skips a parameter without a gradient.
  void zero_grad(bool set_to_none = false);

  std::vector<ParamGroup>& param_groups() { return groups_; }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  void add_param_group(ParamGroup group);  // missing hyper-parameters take the defaults
  double get(const std::string& name, size_t group = 0) const;
  void set(const std::string& name, double value);  // in every group

  // Hyper-parameters ("param_groups.0.lr", [] float64) and per-parameter state
  // ("state.<group>.<index>.<name>"), so a checkpoint restores training exactly.
  virtual std::map<std::string, Tensor> state_dict() const;
  virtual void load_state_dict(const std::map<std::string, Tensor>& state);

 protected:
  // Checks one group's hyper-parameter values (SGD: lr >= 0, ...) and throws tg::Error; called
  // by add_param_group(), set() and load_state_dict(). The base accepts any values. (Not called
  // for the groups given to the base constructor: a derived constructor checks those.)
  virtual void check_group(const ParamGroup& group) const { (void)group; }

  std::vector<ParamGroup> groups_;
  std::map<std::string, double> defaults_;
  // Per-parameter named state (e.g. "momentum_buffer"), indexed [group][param].
  std::vector<std::vector<std::map<std::string, Tensor>>> state_;
};

struct SGDOptions {
  double lr = 0.01;
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;
};

// torch.optim.SGD, same numbers for the same inputs (see kernels/sgd.h for the formulas).
// Parameters without a gradient are skipped.
class SGD : public Optimizer {
 public:
  SGD(const std::vector<Tensor>& params, const SGDOptions& opt);
  SGD(std::vector<ParamGroup> groups, const SGDOptions& defaults);
  void step() override;
  // CUDA: copies each group's lr, momentum, dampening and weight decay to the device buffer
  // the update kernel reads. step() does it itself except under CUDA Graph capture; before
  // replaying a captured step, call this so the replay uses the current values.
  void upload_hyper();

 protected:
  void check_group(const ParamGroup& group) const override;

 private:
  std::vector<Tensor> hyper_dev_;                 // per group: 4 floats on the group's device
  std::vector<std::array<float, 4>> hyper_sent_;  // what each holds: an unchanged set is not sent
};

}  // namespace tg::optim
