// GradientClip (callbacks.h): the global L2 norm of every gradient and one scale, all as tensor
// ops on the gradients' device, so nothing waits for a GPU and a CUDA Graph can record it.
// GradientClipValue: a clamp of each gradient, likewise tensor work only.
#include <cmath>

#include "learner/callbacks/callbacks.h"
#include "tensor/grad_mode.h"
#include "tensor/ops.h"

namespace tg {

GradientClip::GradientClip(double max_norm_) : max_norm(max_norm_) {
  TG_CHECK(std::isfinite(max_norm) && max_norm > 0, "GradientClip",
           "max_norm must be a positive number, got ", max_norm);
}

void GradientClip::after_backward(Learner& l) {
  NoGrad off;
  std::vector<Tensor> grads;
  for (size_t g = 0; g < l.opt->num_groups(); ++g)
    for (const Tensor& p : l.opt->params(g))
      if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return;
  Tensor total;  // the sum of squares, float32 on the gradients' device
  for (const Tensor& g : grads) {
    Tensor sq =
        ops::reduce(ReduceOp::sum, ops::unary(UnaryOp::square, g), {}, false).to(DType::f32);
    total = total.defined() ? ops::binary(BinaryOp::add, total, sq) : sq;
  }
  norm_ = ops::unary(UnaryOp::sqrt, total);
  // scale = min(1, max_norm / (norm + 1e-6))
  const Tensor scale = ops::scalar(
      ScalarOp::min, ops::scalar(ScalarOp::rdiv, ops::scalar(ScalarOp::add, norm_, 1e-6), max_norm),
      1.0);
  for (Tensor& g : grads) g.copy_(ops::binary(BinaryOp::mul, g, scale.to(g.dtype())));
}

}  // namespace tg

namespace tg {

GradientClipValue::GradientClipValue(double clip_value_) : clip_value(clip_value_) {
  TG_CHECK(std::isfinite(clip_value) && clip_value > 0, "GradientClipValue",
           "clip_value must be a positive number, got ", clip_value);
}

void GradientClipValue::after_backward(Learner& l) {
  NoGrad off;
  for (size_t g = 0; g < l.opt->num_groups(); ++g)
    for (const Tensor& p : l.opt->params(g)) {
      if (!p.grad().defined()) continue;
      Tensor grad = p.grad();
      grad.copy_(
          ops::scalar(ScalarOp::max, ops::scalar(ScalarOp::min, grad, clip_value), -clip_value));
    }
}

}  // namespace tg
