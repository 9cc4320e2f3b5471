// Differentiable conv2d. For y = conv2d(x, w) + b:
//   dx = conv2d_backward_input(dy, w)   (W^T @ dy per image, scattered back by col2im)
//   dw = conv2d_backward_weight(x, dy)  (sum over the batch of dy @ col(x)^T)
//   db = the sum of dy over the batch and the output plane
// each one call into kernels/conv.h through tensor/ops.h.
#include "autograd/functions.h"
#include "autograd/tape.h"
#include "tensor/ops.h"

namespace tg {

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, Size2 stride, Size2 padding,
              Size2 dilation, int64_t groups) {
  const Conv2dOptions opt{stride, padding, dilation, groups};
  Tensor out = ops::conv2d(x, w, bias, opt);
  if (!needs_grad({&x, &w, &bias})) return out;
  Tensor sx = x.detach(), sw = w.detach();
  const bool need_x = x.requires_grad(), need_w = w.requires_grad();
  const bool need_b = bias.defined() && bias.requires_grad();
  return tape().record("conv2d", out, {x, w, bias}, [=](const Tensor& gy) -> std::vector<Tensor> {
    Tensor gx, gw, gb;
    if (need_x) gx = ops::conv2d_backward_input(gy, sw, sx.shape(), opt);
    if (need_w) gw = ops::conv2d_backward_weight(sx, gy, sw.shape(), opt);
    if (need_b) gb = ops::conv2d_backward_bias(gy);
    return {gx, gw, gb};
  });
}

}  // namespace tg
