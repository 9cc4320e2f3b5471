// The course's generic optimizer (notebook 09): per-parameter state computed by stats, and
// steppers that use it, composed into an Optimizer.
//
//   auto opt = optim::StatefulOptimizer("Adam", model.parameters(),
//       {optim::weight_decay(), optim::adam_step()},
//       {optim::average_grad(/*dampening=*/true), optim::average_sqr_grad(), optim::step_count()},
//       {{"lr", 1e-3}, {"weight_decay", 1e-2}});
//   opt.set("lr", 3e-3);                 // hyper-parameters by name, as any Optimizer
//
// A step, for every parameter with a gradient: the steppers with order < 0 (l2_reg: they change
// the gradient the stats average), then every stat in the order given, then the other
// steppers in the order given. Stats keep their results in the parameter's state under fixed
// names ("grad_avg", "sqr_avg", "step", ...; a Moments renames them), so a checkpoint saves and
// restores them like any optimizer's state (Optimizer::state_dict). A stepper may keep state of
// its own (rmsprop_step's "momentum_buffer"). The gradient a stepper changes (l2_reg) is the
// step's copy: the parameter's .grad() stays what backward left, as in torch.optim.
//
// The hyper-parameters are the union of what the stats and steppers read, each with the first
// default given, overridden by the constructor's map. The course's recipes name them "lr",
// "momentum" (the course's `mom`: the gradient average's coefficient, Adam's beta1, so that a
// schedule that cycles the momentum steers any recipe), "sqr_mom" (beta2), "eps",
// "weight_decay".
//
// The library's optimizers (SGD, Adam, AdamW, RMSprop, LAMB) are StatefulOptimizers too: each is
// a recipe of these pieces with PyTorch's names (beta1, exp_avg, momentum_buffer, ...) that
// declares its hyper-parameters and state, plus a fused kernel that computes the recipe in one
// pass on the CPU and on CUDA (fused_step). set_fused(false) runs the recipe itself: plain loops
// over CPU tensors, one pass per stat and stepper, the teaching path and the fused kernels'
// reference (tests/optim/test_fused.cpp checks that they agree, state dicts included).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "optim/base.h"

namespace tg::optim {

// What a stat or stepper sees of one parameter during a step.
class ParamView {
 public:
  ParamView(const Tensor& p, const Tensor& grad, std::map<std::string, Tensor>& state,
            const std::map<std::string, double>& hyper)
      : p(p), grad(grad), state(state), hyper_(hyper) {}
  const Tensor& p;  // contiguous, on the CPU
  Tensor grad;      // same shape and dtype: the parameter's gradient, or the step's copy
  std::map<std::string, Tensor>& state;
  // The gradient to change in place: the first call makes it the step's own copy, so that the
  // parameter's .grad() is left as it was.
  Tensor& writable_grad();
  // A hyper-parameter's value for the parameter's group (the name was checked when the
  // optimizer was built).
  double hyper(const std::string& name) const { return hyper_.at(name); }
  // The state tensor `name`, created with the parameter's shape (zeros) on first use.
  Tensor& buffer(const std::string& name);
  // A one-element scalar in the state (a step count, a dampening factor), 0 on first use;
  // set_scalar keeps it in `dtype` (the step count is float32, as torch 1.13 keeps it).
  double scalar(const std::string& name) const;
  void set_scalar(const std::string& name, double v, DType dtype = DType::f64);

 private:
  const std::map<std::string, double>& hyper_;
  bool own_grad_ = false;
};

// Where a pair of gradient averages lives and which hyper-parameters steer them: the course's
// names by default; the library's optimizers use PyTorch's (exp_avg, beta1, ...).
// keep_damp: the average_* stats keep their dampening factor ("mom_damp", "sqr_damp") for the
// debiasing steppers (the course's way); false: they keep none, and the steppers take the
// averages as dampened (torch's exp_avg: bias correction 1 - beta^step).
struct Moments {
  std::string grad_avg = "grad_avg";
  std::string sqr_avg = "sqr_avg";
  std::string mom = "momentum";
  std::string sqr_mom = "sqr_mom";
  bool keep_damp = true;
};
// torch.optim.Adam's and LAMB's: exp_avg, exp_avg_sq, beta1, beta2, no dampening state.
Moments torch_moments();

using Defaults = std::vector<std::pair<std::string, double>>;

struct Stat {
  std::string name;
  Defaults defaults;                  // the hyper-parameters it reads
  std::vector<std::string> provides;  // the state it keeps
  std::function<void(ParamView&)> update;
};

struct Stepper {
  std::string name;
  int order = 0;  // < 0: runs before the stats
  Defaults defaults;
  std::vector<std::string> needs;  // state that some stat must provide
  std::function<void(ParamView&)> apply;
};

class StatefulOptimizer : public Optimizer {
 public:
  // A stepper that needs state no stat provides, or an override naming a hyper-parameter no
  // stat or stepper reads, is a tg::Error naming it.
  StatefulOptimizer(std::string name, std::vector<ParamGroup> groups, std::vector<Stepper> steppers,
                    std::vector<Stat> stats = {}, const std::map<std::string, double>& hyper = {});
  StatefulOptimizer(std::string name, const std::vector<Tensor>& params,
                    std::vector<Stepper> steppers, std::vector<Stat> stats = {},
                    const std::map<std::string, double>& hyper = {});
  // The fused kernel when there is one and it is on, else the recipe.
  void step() override;
  std::string_view name() const override { return name_; }

  // The recipe: its stats and its steppers (in the order they run), and as one line
  // ("l2_reg, momentum_buffer, sgd_momentum_step").
  const std::vector<Stat>& stats() const { return stats_; }
  const std::vector<Stepper>& steppers() const { return steppers_; }
  std::string recipe() const;
  // Whether step() runs the fused kernel. set_fused(true) on a recipe without one is a
  // tg::Error; the recipe path runs on the CPU only. Both keep the same state, so a run can
  // switch between them at any step.
  bool has_fused() const { return has_fused_; }
  bool fused() const { return fused_; }
  void set_fused(bool on);
  // A captured step must be the fused one (the recipe makes host-side tensors).
  bool capturable() const override { return false; }
  // values[hyper_id(name)]: a hyper-parameter in one group's values (check_hyper's argument).
  double value(const std::vector<double>& values, std::string_view name) const {
    return values[hyper_id(name)];
  }

 protected:
  // For the library's optimizers: the recipe and every hyper-parameter's default, no groups yet
  // (the derived constructor adds them, so that its checks apply), fused on.
  StatefulOptimizer(std::string name, std::vector<Stepper> steppers, std::vector<Stat> stats,
                    const std::map<std::string, double>& hyper, bool has_fused);
  // The recipe's update, one pass per stat and stepper over each CPU parameter.
  void recipe_step();
  // The fused update of the same recipe (has_fused): the derived optimizer's kernels.
  virtual void fused_step() {}
  void check_hyper(const std::vector<double>& values) const override;

 private:
  std::string name_;
  std::vector<Stepper> steppers_;
  std::vector<Stat> stats_;
  bool has_fused_ = false;
  bool fused_ = false;
};

// The course's stats. `m` renames the state and the hyper-parameter (Moments).
// grad_avg = momentum * grad_avg + (dampening ? 1 - momentum : 1) * grad; keeps "grad_avg" and
// "mom_damp" (the factor on grad, for debiasing).
Stat average_grad(bool dampening = false, const Moments& m = {});
// sqr_avg = sqr_mom * sqr_avg + (dampening ? 1 - sqr_mom : 1) * grad^2; keeps "sqr_avg" and
// "sqr_damp".
Stat average_sqr_grad(bool dampening = true, const Moments& m = {});
// step += 1, as a one-element float32 "step" (torch 1.13's).
Stat step_count();
// torch.optim.SGD's momentum buffer, "momentum_buffer": none while momentum is 0; the gradient
// itself on the first step; then momentum * buf + (1 - dampening) * grad.
Stat momentum_buffer();
// torch.optim.RMSprop's centered average: while centered is 1,
// grad_avg = alpha * grad_avg + (1 - alpha) * grad.
Stat centered_grad_avg();

// The course's steppers.
Stepper sgd_step();       // p -= lr * grad
Stepper momentum_step();  // p -= lr * grad_avg
Stepper weight_decay();   // p *= 1 - lr * weight_decay     (decoupled, AdamW's)
Stepper l2_reg();         // grad += weight_decay * p        (coupled; order -10)
// p -= lr / debias1 * grad_avg / (sqrt(sqr_avg / debias2) + eps), where
// debias = damp * (1 - mom^step) / (1 - mom) (1 - mom^step for a dampened average).
Stepper adam_step(const Moments& m = {});
// LAMB as the course writes it: s = grad_avg / debias1 / (sqrt(sqr_avg / debias2) + eps) +
// weight_decay * p; p -= lr * min(|p| / |s|, 10) * s, with |x| the root mean square.
Stepper lamb_step(const Moments& m = {});
// torch.optim.SGD's step: p -= lr * d, d = grad without a momentum buffer, else
// nesterov ? grad + momentum * buf : buf.
Stepper sgd_momentum_step();
// torch.optim.RMSprop's step: d = sqrt(square_avg - grad_avg^2) + eps (centered) or
// sqrt(square_avg) + eps; momentum > 0: buf = momentum * buf + grad / d ("momentum_buffer"),
// p -= lr * buf; else p -= lr * grad / d.
Stepper rmsprop_step();

// The notebook's recipes, with its defaults unless given.
StatefulOptimizer sgd_opt(const std::vector<Tensor>& params,
                          const std::map<std::string, double>& hyper = {});
StatefulOptimizer momentum_opt(const std::vector<Tensor>& params,
                               const std::map<std::string, double>& hyper = {});
StatefulOptimizer adam_opt(const std::vector<Tensor>& params,
                           const std::map<std::string, double>& hyper = {});
StatefulOptimizer lamb_opt(const std::vector<Tensor>& params,
                           const std::map<std::string, double>& hyper = {});

}  // namespace tg::optim
