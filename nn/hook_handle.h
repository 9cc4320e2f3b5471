// Module hooks: what Module::register_forward_hook and register_backward_hook store, and the
// handle they return (tg::HookHandle, base/hook_handle.h).
//
//   tg::nn::HookHandle h = model.register_forward_hook(
//       [](tg::nn::Module& m, const tg::Tensor& in, const tg::Tensor& out) { ... });
//   model(x);     // forward, then every hook in registration order
//   h.remove();   // or let h go out of scope
//
// The handle refers to the module's hook list weakly: removing (or destroying the handle)
// after the module died does nothing, and a handle never keeps a module alive.
#pragma once

#include <functional>

#include "base/hook_handle.h"

namespace tg {
class Tensor;
}

namespace tg::nn {

class Module;

using tg::HookHandle;

// Called after each forward of the module it is registered on: the module, its input and
// the output forward returned.
using ForwardHook = std::function<void(Module&, const Tensor& input, const Tensor& output)>;

// Called during backward with the gradient of the module's output (of one forward: each
// forward that recorded its output on the tape calls it once, when that output's gradient is
// complete, before it flows into the module's own ops). It observes; it cannot replace the
// gradient (a tensor hook, tg::register_hook on the output, can).
using BackwardHook = std::function<void(Module&, const Tensor& grad_output)>;

}  // namespace tg::nn
