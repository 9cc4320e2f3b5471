// Pooling: argument checks, output sizes and the kernel calls (kernels/pool.h). The kernels
// take contiguous planes, so a strided input is made contiguous first.
#include "tensor/ops_pool.h"

#include <limits>
#include <string>

#include "tensor/dispatch.h"
#include "tensor/dtype.h"

namespace tg::ops {

namespace {

std::string pair_str(Size2 p) {
  return "(" + std::to_string(p.h) + ", " + std::to_string(p.w) + ")";
}

// NCHW or CHW, floating, on any device; returns the number of planes (N*C).
int64_t check_input(const char* op, const Tensor& x) {
  detail::require_defined(op, x);
  TG_CHECK(x.dim() == 3 || x.dim() == 4, op,
           "expected a 3-d (C, H, W) or 4-d (N, C, H, W) input, got shape ", x.shape_str());
  TG_CHECK(x.dtype() == DType::f32 || x.dtype() == DType::f64, op,
           "expected float32 or float64, got ", dtype_name(x.dtype()), " of shape ", x.shape_str());
  TG_CHECK(x.size(-2) > 0 && x.size(-1) > 0, op, "input of shape ", x.shape_str(),
           " has an empty plane");
  return x.numel() / (x.size(-2) * x.size(-1));
}

void check_grad(const char* op, const Tensor& gy, const Shape& expected, DType dtype) {
  detail::require_defined(op, gy);
  TG_CHECK(gy.shape() == expected && gy.dtype() == dtype, op, "gradient ", dtype_name(gy.dtype()),
           " ", gy.shape_str(), ", expected ", dtype_name(dtype), " ", shape_str(expected));
}

}  // namespace

Shape pool2d_out_shape(const Shape& x, int64_t oh, int64_t ow) {
  Shape s = x;
  s[s.size() - 2] = oh;
  s[s.size() - 1] = ow;
  return s;
}

kernels::Pool2dShape pool2d_shape(const char* op, const Tensor& x, Size2 kernel, Size2 stride,
                                  Size2 padding, Size2 dilation, bool ceil_mode) {
  const int64_t planes = check_input(op, x);
  TG_CHECK(kernel.h > 0 && kernel.w > 0, op, "kernel_size ", pair_str(kernel), " must be positive");
  TG_CHECK(stride.h > 0 && stride.w > 0, op, "stride ", pair_str(stride), " must be positive");
  TG_CHECK(dilation.h > 0 && dilation.w > 0, op, "dilation ", pair_str(dilation),
           " must be positive");
  TG_CHECK(
      padding.h >= 0 && padding.w >= 0 && padding.h <= kernel.h / 2 && padding.w <= kernel.w / 2,
      op, "padding ", pair_str(padding), " must be in [0, kernel_size / 2] for kernel_size ",
      pair_str(kernel));
  kernels::Pool2dShape s;
  s.planes = planes;
  s.h = x.size(-2);
  s.w = x.size(-1);
  s.kh = kernel.h;
  s.kw = kernel.w;
  s.sh = stride.h;
  s.sw = stride.w;
  s.ph = padding.h;
  s.pw = padding.w;
  s.dh = dilation.h;
  s.dw = dilation.w;
  s.oh = kernels::pool2d_out_size(s.h, s.kh, s.sh, s.ph, s.dh, ceil_mode);
  s.ow = kernels::pool2d_out_size(s.w, s.kw, s.sw, s.pw, s.dw, ceil_mode);
  TG_CHECK(s.oh > 0 && s.ow > 0, op, "input of shape ", x.shape_str(),
           " is too small for kernel_size ", pair_str(kernel), ", stride ", pair_str(stride),
           ", padding ", pair_str(padding), ", dilation ", pair_str(dilation),
           ": the output would be ", s.oh, "x", s.ow);
  return s;
}

std::pair<Tensor, Tensor> max_pool2d(const Tensor& x, const kernels::Pool2dShape& s) {
  check_input("max_pool2d", x);
  TG_CHECK(s.h * s.w <= std::numeric_limits<int32_t>::max(), "max_pool2d", "input of shape ",
           x.shape_str(), " has planes too large for int32 indices");
  const Tensor cx = x.detach().contiguous();
  const Shape os = pool2d_out_shape(x.shape(), s.oh, s.ow);
  Tensor out = empty(os, x.dtype(), x.device());
  Tensor idx = empty(os, DType::i32, x.device());
  TG_DISPATCH_FLOATING(x.dtype(), "max_pool2d", [&] {
    TG_KERNEL(x.device(), max_pool2d<scalar_t>, cx.data<scalar_t>(), s, out.data<scalar_t>(),
              idx.data<int32_t>());
  });
  return {out, idx};
}

Tensor max_pool2d_backward(const Tensor& gy, const Tensor& indices, const Shape& x_shape,
                           const kernels::Pool2dShape& s) {
  const Shape os = pool2d_out_shape(x_shape, s.oh, s.ow);
  check_grad("max_pool2d_backward", indices, os, DType::i32);
  check_grad("max_pool2d_backward", gy, os, gy.dtype());
  detail::same_device("max_pool2d_backward", gy, indices);
  const Tensor cg = gy.detach().contiguous(), ci = indices.contiguous();
  Tensor gx = empty(x_shape, gy.dtype(), gy.device());
  TG_DISPATCH_FLOATING(gy.dtype(), "max_pool2d_backward", [&] {
    TG_KERNEL(gy.device(), max_pool2d_backward<scalar_t>, cg.data<scalar_t>(), ci.data<int32_t>(),
              s, gx.data<scalar_t>());
  });
  return gx;
}

Tensor avg_pool2d(const Tensor& x, const kernels::Pool2dShape& s, bool count_include_pad) {
  check_input("avg_pool2d", x);
  const Tensor cx = x.detach().contiguous();
  Tensor out = empty(pool2d_out_shape(x.shape(), s.oh, s.ow), x.dtype(), x.device());
  TG_DISPATCH_FLOATING(x.dtype(), "avg_pool2d", [&] {
    TG_KERNEL(x.device(), avg_pool2d<scalar_t>, cx.data<scalar_t>(), s, count_include_pad,
              out.data<scalar_t>());
  });
  return out;
}

Tensor avg_pool2d_backward(const Tensor& gy, const Shape& x_shape, const kernels::Pool2dShape& s,
                           bool count_include_pad) {
  check_grad("avg_pool2d_backward", gy, pool2d_out_shape(x_shape, s.oh, s.ow), gy.dtype());
  const Tensor cg = gy.detach().contiguous();
  Tensor gx = empty(x_shape, gy.dtype(), gy.device());
  TG_DISPATCH_FLOATING(gy.dtype(), "avg_pool2d_backward", [&] {
    TG_KERNEL(gy.device(), avg_pool2d_backward<scalar_t>, cg.data<scalar_t>(), s, count_include_pad,
              gx.data<scalar_t>());
  });
  return gx;
}

namespace {

kernels::Pool2dShape adaptive_shape(const Shape& x, Size2 out) {
  kernels::Pool2dShape s;
  s.h = x[x.size() - 2];
  s.w = x[x.size() - 1];
  s.planes = shape_numel(x) / (s.h * s.w);
  s.oh = out.h;
  s.ow = out.w;
  return s;
}

}  // namespace

Tensor adaptive_avg_pool2d(const Tensor& x, Size2 output_size) {
  check_input("adaptive_avg_pool2d", x);
  TG_CHECK(output_size.h > 0 && output_size.w > 0, "adaptive_avg_pool2d", "output_size ",
           pair_str(output_size), " must be positive (input of shape ", x.shape_str(), ")");
  const kernels::Pool2dShape s = adaptive_shape(x.shape(), output_size);
  const Tensor cx = x.detach().contiguous();
  Tensor out = empty(pool2d_out_shape(x.shape(), s.oh, s.ow), x.dtype(), x.device());
  TG_DISPATCH_FLOATING(x.dtype(), "adaptive_avg_pool2d", [&] {
    TG_KERNEL(x.device(), adaptive_avg_pool2d<scalar_t>, cx.data<scalar_t>(), s,
              out.data<scalar_t>());
  });
  return out;
}

Tensor adaptive_avg_pool2d_backward(const Tensor& gy, const Shape& x_shape) {
  detail::require_defined("adaptive_avg_pool2d_backward", gy);
  TG_CHECK(gy.dim() == static_cast<int64_t>(x_shape.size()) && gy.dim() >= 3,
           "adaptive_avg_pool2d_backward", "gradient of shape ", gy.shape_str(), " for input ",
           shape_str(x_shape));
  const kernels::Pool2dShape s = adaptive_shape(x_shape, Size2(gy.size(-2), gy.size(-1)));
  check_grad("adaptive_avg_pool2d_backward", gy, pool2d_out_shape(x_shape, s.oh, s.ow), gy.dtype());
  const Tensor cg = gy.detach().contiguous();
  Tensor gx = empty(x_shape, gy.dtype(), gy.device());
  TG_DISPATCH_FLOATING(gy.dtype(), "adaptive_avg_pool2d_backward", [&] {
    TG_KERNEL(gy.device(), adaptive_avg_pool2d_backward<scalar_t>, cg.data<scalar_t>(), s,
              gx.data<scalar_t>());
  });
  return gx;
}

}  // namespace tg::ops
