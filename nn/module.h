// Module: a layer or a model — parameters, sub-modules, train/eval mode and a state dict.
//
//   struct Mlp : tg::nn::Module {
//     std::shared_ptr<tg::nn::Linear> l1, l2;
//     Mlp() : l1(register_module("l1", std::make_shared<tg::nn::Linear>(784, 50))),
//             l2(register_module("l2", std::make_shared<tg::nn::Linear>(50, 10))) {}
//     tg::Tensor forward(const tg::Tensor& x) override { return (*l2)(tg::relu((*l1)(x))); }
//   };
//   Mlp m;  m.named_parameters();   // l1.weight, l1.bias, l2.weight, l2.bias
//
// Parameters are float tensors that require grad; names are dotted paths, in registration
// order, as in PyTorch, so a state dict maps onto PyTorch's key for key. Buffers
// (register_buffer: BatchNorm's running_mean, ...) are state without gradients: in the state
// dict and moved by to(), but not in parameters().
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "nn/hook_handle.h"
#include "tensor/tensor.h"

namespace tg::nn {

using StateDict = std::map<std::string, Tensor>;

class Module {
 public:
  virtual ~Module() = default;
  virtual Tensor forward(const Tensor& x) = 0;
  // forward(x), then the forward hooks in registration order (nn/hooks.cpp).
  Tensor operator()(const Tensor& x);
  // Calls hook(*this, x, output) after every forward through operator() until the handle is
  // removed or destroyed (nn/hook_handle.h; nn/hooks.h attaches hooks to many modules).
  HookHandle register_forward_hook(ForwardHook hook);
  // Calls hook(*this, grad_output) in backward, once per forward through operator() whose
  // output is on the tape, with that output's whole gradient (nn/hook_handle.h). A hook added
  // after a forward still sees that forward's gradient; a removed one no longer does. An
  // output that is the input itself (an identity Lambda) gets none: there is no op of the
  // module's to watch.
  HookHandle register_backward_hook(BackwardHook hook);

  // Recursive, in registration order (own parameters first, then each child's).
  std::vector<Tensor> parameters() const;
  std::vector<std::pair<std::string, Tensor>> named_parameters() const;
  // Recursive like named_parameters (own buffers first, then each child's).
  std::vector<std::pair<std::string, Tensor>> named_buffers() const;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const {
    return children_;
  }

  void train(bool on = true);  // recursive
  void eval() { train(false); }
  bool is_training() const { return training_; }
  // Zeroes every parameter's gradient in place, or with set_to_none drops it (tg::zero_grad).
  void zero_grad(bool set_to_none = false);
  // Moves every parameter (and its gradient) and every buffer to device in place, so an optimizer
  // built on these parameters keeps working: model.to(tg::Device::cuda()).
  Module& to(Device device);
  Device device() const;  // of the first parameter (cpu for a module without parameters)

  // Parameters and buffers by dotted name, sharing storage with the module (detached).
  StateDict state_dict() const;
  // Copies values in. strict: the names must match exactly (missing and unexpected keys are
  // named in the error); shapes must always match; a tensor of another dtype is converted to
  // the parameter's, as PyTorch's load_state_dict does.
  void load_state_dict(const StateDict& state, bool strict = true);

  virtual std::string name() const { return "Module"; }
  virtual std::string str() const;  // PyTorch-like repr, children indented

 protected:
  Tensor& register_parameter(const std::string& name, Tensor t);
  // A tensor of any dtype that does not require grad, kept as it is (not copied): the module
  // updates it in place, so a reference held elsewhere (the state dict) sees the new values.
  Tensor& register_buffer(const std::string& name, Tensor t);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    add_child(name, m);
    return m;
  }
  void add_child(const std::string& name, std::shared_ptr<Module> m);
  virtual std::string extra_repr() const { return ""; }

 private:
  // Parameters, buffers or both (the state dict's order: own parameters, own buffers, children).
  void collect(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& out,
               bool params = true, bool buffers = false) const;
  void check_free(const char* op, const std::string& name) const;
  std::vector<std::pair<std::string, Tensor>> params_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
  tg::detail::HookSet<ForwardHook> forward_hooks_;
  tg::detail::HookSet<BackwardHook> backward_hooks_;
};

}  // namespace tg::nn
