// Differentiable conv2d. For y = conv2d(x, w) + b:
//   dx = conv2d_backward_input(dy, w)   (W^T @ dy per image, scattered back by col2im)
//   dw = conv2d_backward_weight(x, dy)  (sum over the batch of dy @ col(x)^T; on the CPU col(x)
//                                        is the forward's, kept on the tape: ops::conv2d_keep)
//   db = the sum of dy over the batch and the output plane
// each one call into kernels/conv.h through tensor/ops.h.
#include "autograd/functions.h"
#include "autograd/tape.h"
#include "tensor/ops.h"

namespace tg {

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, Size2 stride, Size2 padding,
              Size2 dilation, int64_t groups) {
  const Conv2dOptions opt{stride, padding, dilation, groups};
  const bool grad = needs_grad({&x, &w, &bias});
  const bool need_x = x.requires_grad(), need_w = w.requires_grad();
  // The weight gradient reuses the forward's lowering of x (CPU; ops::conv2d_keep).
  std::pair<Tensor, Tensor> r = ops::conv2d_keep(x, w, bias, opt, grad && need_w);
  Tensor out = r.first, lowered = r.second;  // not a structured binding: the lambda captures it
  if (!grad) return out;
  Tensor sx = x.detach(), sw = w.detach();
  const bool need_b = bias.defined() && bias.requires_grad();
  return tape().record("conv2d", out, {x, w, bias}, [=](const Tensor& gy) -> std::vector<Tensor> {
    Tensor gx, gw, gb;
    if (need_x) gx = ops::conv2d_backward_input(gy, sw, sx.shape(), opt);
    if (need_w) gw = ops::conv2d_backward_weight(sx, gy, sw.shape(), opt, lowered);
    if (need_b) gb = ops::conv2d_backward_bias(gy);
    return {gx, gw, gb};
  });
}

}  // namespace tg
