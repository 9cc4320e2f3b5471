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
// names ("grad_avg", "sqr_avg", "step", ...), so a checkpoint saves and restores them like any
// optimizer's state (Optimizer::state_dict).
//
// The hyper-parameters are the union of what the stats and steppers read, each with the first
// default given, overridden by the constructor's map. Their names are the library's: "lr",
// "momentum" (the course's `mom`: the gradient average's coefficient, Adam's beta1, so that a
// schedule that cycles the momentum steers any recipe), "sqr_mom" (beta2), "eps",
// "weight_decay".
//
// This is the teaching path: plain loops over CPU tensors, one pass per stat and stepper. The
// fused optimizers (SGD, Adam, ...) update in one pass, on CPU and CUDA, with the same numbers
// up to float rounding; tests/optim/test_generic.cpp checks that they agree.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "optim/optimizer.h"

namespace tg::optim {

// What a stat or stepper sees of one parameter during a step.
class ParamView {
 public:
  ParamView(const Tensor& p, const Tensor& grad, std::map<std::string, Tensor>& state,
            const std::map<std::string, double>& hyper)
      : p(p), grad(grad), state(state), hyper_(hyper) {}
  const Tensor& p;     // contiguous, on the CPU
  const Tensor& grad;  // same shape and dtype
  std::map<std::string, Tensor>& state;
  // A hyper-parameter's value for the parameter's group (the name was checked when the
  // optimizer was built).
  double hyper(const std::string& name) const { return hyper_.at(name); }
  // The state tensor `name`, created with the parameter's shape (zeros) on first use.
  Tensor& buffer(const std::string& name);
  // A float64 scalar in the state (a step count, a dampening factor), 0 on first use.
  double scalar(const std::string& name) const;
  void set_scalar(const std::string& name, double v);

 private:
  const std::map<std::string, double>& hyper_;
};

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
  void step() override;
  std::string_view name() const override { return name_; }

 protected:
  void check_hyper(const std::vector<double>& values) const override;

 private:
  std::string name_;
  std::vector<Stepper> steppers_;
  std::vector<Stat> stats_;
};

// The course's stats.
// grad_avg = momentum * grad_avg + (dampening ? 1 - momentum : 1) * grad; keeps "grad_avg" and
// "mom_damp" (the factor on grad, for debiasing).
Stat average_grad(bool dampening = false);
// sqr_avg = sqr_mom * sqr_avg + (dampening ? 1 - sqr_mom : 1) * grad^2; keeps "sqr_avg" and
// "sqr_damp".
Stat average_sqr_grad(bool dampening = true);
// step += 1, as a float64 scalar "step".
Stat step_count();

// The course's steppers.
Stepper sgd_step();       // p -= lr * grad
Stepper momentum_step();  // p -= lr * grad_avg
Stepper weight_decay();   // p *= 1 - lr * weight_decay     (decoupled, AdamW's)
Stepper l2_reg();         // grad += weight_decay * p        (coupled; order -10)
// p -= lr / debias1 * grad_avg / (sqrt(sqr_avg / debias2) + eps), where
// debias = damp * (1 - mom^step) / (1 - mom) (1 - mom^step for a dampened average).
Stepper adam_step();
// LAMB as the course writes it: s = grad_avg / debias1 / (sqrt(sqr_avg / debias2) + eps) +
// weight_decay * p; p -= lr * min(|p| / |s|, 10) * s, with |x| the root mean square.
Stepper lamb_step();

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
