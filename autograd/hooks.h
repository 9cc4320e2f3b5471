// Gradient hooks on tensors, as torch.Tensor.register_hook: a function called during backward
// with the tensor's gradient, which may return a replacement for it.
//
//   auto h = tg::register_hook(hidden, [](const tg::Tensor& g) {
//     std::printf("|grad| max %g\n", tg::max(tg::abs(g)).item<double>());
//     return tg::Tensor();                    // undefined: keep g
//   });
//   auto clip = tg::register_hook(w, [](const tg::Tensor& g) { return tg::clamp(g, -1, 1); });
//   tg::backward(loss);
//   h.remove();                               // or let the handle go out of scope
//
// When: an intermediate tensor's hooks run once its gradient is complete (every later use has
// added its part), before that gradient flows into the op that made it; a leaf's run once at
// the end of the backward with the sum of its contributions in this backward, before it is
// added to .grad (as PyTorch's: a leaf hook sees this backward's gradient, not the
// accumulated .grad). Hooks run in registration order, each seeing the previous one's result.
// A replacement must keep the gradient's shape and dtype. Hooks run under NoGrad, like every
// backward formula.
#pragma once

#include "base/hook_handle.h"
#include "tensor/tensor.h"

namespace tg {

// Registers hook on t, which must require grad (a leaf made with requires_grad_(), or the
// output of an op recorded on the tape). The handle removes it; it never keeps t alive.
HookHandle register_hook(const Tensor& t, GradHook hook);

namespace detail {

// A hook with no handle: it lives as long as t (Module's backward hooks use it).
void add_grad_hook(const Tensor& t, GradHook hook);
// Runs t's hooks on g (tape.cpp's backward): the gradient after the last of them.
Tensor run_grad_hooks(const TensorImpl& t, Tensor g);

}  // namespace detail

}  // namespace tg
