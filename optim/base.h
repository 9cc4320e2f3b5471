// The Optimizer base: parameter groups with named, typed hyper-parameters, per-parameter
// state, state dicts and the CUDA Graph hooks. Every optimizer derives from it; the library's
// derive from optim::StatefulOptimizer (optim/generic.h), the course's generic optimizer.
// optim/optimizer.h has the tour.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "tensor/tensor.h"

namespace tg::optim {

// How a group is given: its parameters and the hyper-parameters it sets; the rest take the
// optimizer's defaults.
struct ParamGroup {
  std::vector<Tensor> params;
  std::map<std::string, double> hyper;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual void step() = 0;
  // The optimizer's PyTorch class name ("SGD", "Adam", ...), for summaries and checkpoints:
  // code above optim/ prints it without naming a concrete optimizer type.
  virtual std::string_view name() const = 0;
  // Zeroes the gradients in place, or with set_to_none drops them (tg::zero_grad says why that
  // is faster); step() skips a parameter without a gradient.
  void zero_grad(bool set_to_none = false);

  // Missing hyper-parameters take the defaults; the values are checked before anything is kept.
  void add_param_group(ParamGroup group);
  size_t num_groups() const { return params_.size(); }
  const std::vector<Tensor>& params(size_t group) const;

  // The hyper-parameters by name: the table, a name's id (a tg::Error naming the known names),
  // and get/set by id or by name. set() without a group changes every group.
  const std::vector<std::string>& hyper_names() const { return names_; }
  size_t hyper_id(std::string_view name) const;
  double get(size_t id, size_t group = 0) const;
  double get(std::string_view name, size_t group = 0) const { return get(hyper_id(name), group); }
  void set(size_t id, double value);
  void set(size_t id, double value, size_t group);
  void set(std::string_view name, double value) { set(hyper_id(name), value); }
  void set(std::string_view name, double value, size_t group) { set(hyper_id(name), value, group); }

  // Hyper-parameters ("param_groups.0.lr", [] float64) and per-parameter state
  // ("state.<group>.<index>.<name>"), so a checkpoint restores training exactly. Every state
  // tensor has its parameter's shape and dtype, except "step" (a one-element count, float32).
  virtual std::map<std::string, Tensor> state_dict() const;
  virtual void load_state_dict(const std::map<std::string, Tensor>& state);

  // What a step captured into a CUDA Graph needs (the Learner's CudaGraphStep asks for it, so
  // it works with any optimizer that supports it and names no optimizer type):
  // - capturable(): whether step() may be captured (its kernels read every value that can
  //   change from device memory, and it makes no host copies while capturing);
  // - prepare_capture(): called before the capture, after eager warm-up steps: puts the
  //   hyper-parameters in device memory and checks that every state buffer a step uses exists
  //   (a buffer created during capture would be created once, not per replay);
  // - before_replay(): called before each replay: copies changed hyper-parameters to the
  //   device, so a scheduler still steers a replayed step.
  virtual bool capturable() const { return false; }
  virtual void prepare_capture() {}
  virtual void before_replay() {}

  // A one-element float64 tensor on the parameters' device, or none. While set, step() on a
  // GPU skips the whole update when its value is NaN or infinite, decided by the update
  // kernel itself (no host synchronisation, and inside a captured step too). The Learner sets
  // it to its tally's running loss sum when TerminateOnNaN is present, so that a non-finite
  // loss stops the weights changing before the host can see it. On the CPU it is ignored:
  // there TerminateOnNaN stops the fit before the step.
  void set_nonfinite_guard(Tensor guard) { guard_ = std::move(guard); }
  const Tensor& nonfinite_guard() const { return guard_; }

 protected:
  // names: the optimizer's hyper-parameters in slot order; defaults: one value per name.
  // A derived constructor adds its groups (add_param_group), so that its checks apply.
  Optimizer(std::vector<std::string> names, std::vector<double> defaults);
  // Checks one group's values (SGD: lr >= 0, ...), throwing tg::Error.
  virtual void check_hyper(const std::vector<double>& values) const { (void)values; }
  // A group's values changed (and passed check_hyper): rebuild the typed copy.
  virtual void hyper_changed(size_t group) { (void)group; }

  const std::vector<double>& hyper(size_t group) const { return hyper_[group]; }

  // Per-parameter named state (e.g. "momentum_buffer"), indexed [group][param].
  std::vector<std::vector<std::map<std::string, Tensor>>> state_;
  Tensor guard_;  // set_nonfinite_guard

 private:
  void commit(size_t group, std::vector<double> values);
  std::vector<std::string> names_;
  std::vector<double> defaults_;
  std::vector<std::vector<Tensor>> params_;  // [group][param]
  std::vector<std::vector<double>> hyper_;   // [group][slot]
};

}  // namespace tg::optim
