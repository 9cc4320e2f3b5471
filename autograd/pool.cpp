// Differentiable pooling: forward through tensor/ops_pool.h, backward beside it. max_pool2d
// keeps its argmax indices for the backward; the average pools need only the input's shape.
#include "autograd/functions.h"
#include "autograd/tape.h"
#include "tensor/ops_pool.h"

namespace tg {

std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& x, Size2 kernel_size,
                                                  Stride2 stride, Size2 padding, Size2 dilation,
                                                  bool ceil_mode) {
  const kernels::Pool2dShape s = ops::pool2d_shape(
      "max_pool2d", x, kernel_size, stride.value_or(kernel_size), padding, dilation, ceil_mode);
  std::pair<Tensor, Tensor> r = ops::max_pool2d(x, s);
  Tensor out = r.first, idx = r.second;  // not a structured binding: lambdas capture idx
  if (!needs_grad({&x})) return {out, idx};
  Shape xs = x.shape();
  out = tape().record("max_pool2d", out, {x}, [idx, xs, s](const Tensor& gy) {
    return std::vector<Tensor>{ops::max_pool2d_backward(gy, idx, xs, s)};
  });
  return {out, idx};
}

Tensor max_pool2d(const Tensor& x, Size2 kernel_size, Stride2 stride, Size2 padding, Size2 dilation,
                  bool ceil_mode) {
  return max_pool2d_with_indices(x, kernel_size, stride, padding, dilation, ceil_mode).first;
}

Tensor avg_pool2d(const Tensor& x, Size2 kernel_size, Stride2 stride, Size2 padding, bool ceil_mode,
                  bool count_include_pad) {
  const kernels::Pool2dShape s = ops::pool2d_shape(
      "avg_pool2d", x, kernel_size, stride.value_or(kernel_size), padding, 1, ceil_mode);
  Tensor out = ops::avg_pool2d(x, s, count_include_pad);
  if (!needs_grad({&x})) return out;
  Shape xs = x.shape();
  return tape().record("avg_pool2d", out, {x}, [xs, s, count_include_pad](const Tensor& gy) {
    return std::vector<Tensor>{ops::avg_pool2d_backward(gy, xs, s, count_include_pad)};
  });
}

Tensor adaptive_avg_pool2d(const Tensor& x, Size2 output_size) {
  Tensor out = ops::adaptive_avg_pool2d(x, output_size);
  if (!needs_grad({&x})) return out;
  Shape xs = x.shape();
  return tape().record("adaptive_avg_pool2d", out, {x}, [xs](const Tensor& gy) {
    return std::vector<Tensor>{ops::adaptive_avg_pool2d_backward(gy, xs)};
  });
}

}  // namespace tg
