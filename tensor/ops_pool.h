// Device dispatch of the pooling kernels (kernels/pool.h) on NCHW tensors: the checks (dims,
// dtypes, window sizes, output size; a tg::Error names the op, the shape and the arguments),
// the output sizes and the kernel call. Records nothing: autograd/pool.cpp builds the
// differentiable ops from these. Input (N, C, H, W) or (C, H, W); float32 or float64; CPU or
// CUDA (kernels/pool.h: the twins give the same results bit for bit).
#pragma once

#include <cstdint>
#include <optional>
#include <utility>

#include "kernels/pool.h"
#include "tensor/size2.h"
#include "tensor/tensor.h"

namespace tg {

// A pooling stride that may be left unset, meaning the kernel size (PyTorch's stride=None):
// 2, {2, 1}, a Size2, or std::nullopt / {}.
struct Stride2 {
  std::optional<Size2> size;
  Stride2() = default;
  Stride2(std::nullopt_t) {}              // NOLINT
  Stride2(int64_t v) : size(Size2(v)) {}  // NOLINT
  Stride2(int64_t h, int64_t w) : size(Size2(h, w)) {}
  Stride2(Size2 s) : size(s) {}  // NOLINT
  Size2 value_or(Size2 kernel_size) const { return size.value_or(kernel_size); }
};

namespace ops {

// The kernel shape of a max (dilation given) or average (dilation 1) pool of x; checks
// everything and throws tg::Error naming `op`, x's shape and the arguments.
kernels::Pool2dShape pool2d_shape(const char* op, const Tensor& x, Size2 kernel, Size2 stride,
                                  Size2 padding, Size2 dilation, bool ceil_mode);
// x's shape with its last two dims replaced by (oh, ow).
Shape pool2d_out_shape(const Shape& x, int64_t oh, int64_t ow);

// (values, int32 indices into each input plane, h*W + w as PyTorch's), both of the output shape.
std::pair<Tensor, Tensor> max_pool2d(const Tensor& x, const kernels::Pool2dShape& s);
Tensor max_pool2d_backward(const Tensor& gy, const Tensor& indices, const Shape& x_shape,
                           const kernels::Pool2dShape& s);
Tensor avg_pool2d(const Tensor& x, const kernels::Pool2dShape& s, bool count_include_pad);
Tensor avg_pool2d_backward(const Tensor& gy, const Shape& x_shape, const kernels::Pool2dShape& s,
                           bool count_include_pad);
Tensor adaptive_avg_pool2d(const Tensor& x, Size2 output_size);
Tensor adaptive_avg_pool2d_backward(const Tensor& gy, const Shape& x_shape);

}  // namespace ops

}  // namespace tg
