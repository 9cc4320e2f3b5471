// conv2d and its backward pieces: the shape checks (each message names the shapes and the
// option at fault), then the CPU kernels of kernels/conv.h (rung 2, the library's conv) on
// contiguous copies of the operands, or their CUDA twins (kernels/cuda/conv.cu, rung 1:
// im2col and cuBLAS) for CUDA tensors.
#include <ostream>

#include "kernels/conv.h"
#include "tensor/dispatch.h"
#include "tensor/ops.h"

namespace tg::ops {

namespace {

// Streams "(h, w)" into an error message.
struct Pair {
  Size2 p;
};
std::ostream& operator<<(std::ostream& os, Pair p) {
  return os << "(" << p.p.h << ", " << p.p.w << ")";
}
Pair pair_str(Size2 p) {
  return {p};
}

// The kernel's sizes from an input shape and a weight shape, after every check a user can fail.
kernels::Conv2dShape conv_shape(const char* op, const Shape& xs, const Shape& ws,
                                const Conv2dOptions& opt) {
  const std::string xstr = shape_str(xs), wstr = shape_str(ws);
  TG_CHECK(xs.size() == 4, op, "input must be 4-d (N, C, H, W), got ", xstr);
  TG_CHECK(ws.size() == 4, op,
           "weight must be 4-d (out_channels, in_channels/groups, kH, kW), got ", wstr);
  TG_CHECK(opt.stride.h > 0 && opt.stride.w > 0, op, "stride must be positive, got ",
           pair_str(opt.stride));
  TG_CHECK(opt.dilation.h > 0 && opt.dilation.w > 0, op, "dilation must be positive, got ",
           pair_str(opt.dilation));
  TG_CHECK(opt.padding.h >= 0 && opt.padding.w >= 0, op, "padding must be non-negative, got ",
           pair_str(opt.padding));
  TG_CHECK(opt.groups > 0, op, "groups must be positive, got ", opt.groups);
  TG_CHECK(xs[1] % opt.groups == 0, op, "groups=", opt.groups,
           " does not divide the input's channels: input ", xstr, " has ", xs[1]);
  TG_CHECK(ws[0] % opt.groups == 0, op, "groups=", opt.groups,
           " does not divide out_channels: weight ", wstr, " has ", ws[0]);
  TG_CHECK(ws[0] > 0 && ws[1] > 0 && ws[2] > 0 && ws[3] > 0, op,
           "weight must have no zero size, got ", wstr);
  TG_CHECK(ws[1] * opt.groups == xs[1], op, "input ", xstr, " has ", xs[1], " channels but weight ",
           wstr, " with groups=", opt.groups, " expects ", ws[1] * opt.groups,
           " (weight.size(1) * groups)");
  TG_CHECK(xs[2] > 0 && xs[3] > 0, op, "input must have a non-empty image, got ", xstr);
  kernels::Conv2dShape s;
  s.n = xs[0], s.c = xs[1], s.h = xs[2], s.w = xs[3];
  s.o = ws[0], s.kh = ws[2], s.kw = ws[3];
  s.sh = opt.stride.h, s.sw = opt.stride.w, s.ph = opt.padding.h, s.pw = opt.padding.w;
  s.dh = opt.dilation.h, s.dw = opt.dilation.w, s.groups = opt.groups;
  const int64_t eh = s.dh * (s.kh - 1) + 1, ew = s.dw * (s.kw - 1) + 1;
  TG_CHECK(s.h + 2 * s.ph >= eh && s.w + 2 * s.pw >= ew, op, "kernel of weight ", wstr,
           " with dilation ", pair_str(opt.dilation), " spans (", eh, ", ", ew,
           "), larger than input ", xstr, " padded by ", pair_str(opt.padding), " (",
           s.h + 2 * s.ph, ", ", s.w + 2 * s.pw, ")");
  return s;
}

void check_operands(const char* op, const Tensor& a, const Tensor& b) {
  TG_CHECK(a.defined() && b.defined(), op, "an operand is an undefined tensor");
  TG_CHECK(a.dtype() == b.dtype(), op, "dtypes differ: ", dtype_name(a.dtype()), " ", a.shape_str(),
           " and ", dtype_name(b.dtype()), " ", b.shape_str());
  TG_CHECK(a.device() == b.device(), op, "operands are on different devices: ", a.shape_str(),
           " and ", b.shape_str());
}

Tensor dense(const Tensor& t) {
  return t.detach().contiguous();
}

// What the CPU conv keeps of its forward for the weight gradient (kernels/conv.h), in elements.
int64_t lowered_size_of(const kernels::Conv2dShape& s, DType d) {
  return d == DType::f32 ? kernels::cpu::conv2d_lowered_size<float>(s)
                         : kernels::cpu::conv2d_lowered_size<double>(s);
}

}  // namespace

std::pair<Tensor, Tensor> conv2d_keep(const Tensor& x_in, const Tensor& w_in, const Tensor& b_in,
                                      const Conv2dOptions& opt, bool keep) {
  check_operands("conv2d", x_in, w_in);
  const kernels::Conv2dShape s = conv_shape("conv2d", x_in.shape(), w_in.shape(), opt);
  if (b_in.defined()) {
    check_operands("conv2d", x_in, b_in);
    TG_CHECK(b_in.dim() == 1 && b_in.size(0) == s.o, "conv2d", "bias of shape ", b_in.shape_str(),
             " does not match weight of shape ", w_in.shape_str(), " (out_channels=", s.o, ")");
  }
  Tensor x = dense(x_in), w = dense(w_in), b = b_in.defined() ? dense(b_in) : Tensor();
  Tensor y = empty({s.n, s.o, s.out_h(), s.out_w()}, x.dtype(), x.device());
  if (s.n == 0) return {y, Tensor()};
  const int64_t lowered_size = lowered_size_of(s, x.dtype());
  Tensor lowered;
  if (keep && !x.device().is_cuda() && lowered_size > 0 &&
      lowered_size * int64_t(dtype_size(x.dtype())) <= kKeepLoweredBytes)
    lowered = empty({lowered_size}, x.dtype());
  TG_DISPATCH_FLOATING(x.dtype(), "conv2d", [&] {
    const scalar_t* bp = b.defined() ? b.data<scalar_t>() : nullptr;
    if (lowered.defined())
      kernels::cpu::conv2d_keep<scalar_t>(s, x.data<scalar_t>(), w.data<scalar_t>(), bp,
                                          y.data<scalar_t>(), lowered.data<scalar_t>());
    else
      TG_KERNEL(x.device(), conv2d<scalar_t>, s, x.data<scalar_t>(), w.data<scalar_t>(), bp,
                y.data<scalar_t>());
  });
  return {y, lowered};
}

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dOptions& opt) {
  return conv2d_keep(x, w, bias, opt, false).first;
}

Tensor conv2d_backward_input(const Tensor& gy_in, const Tensor& w_in, const Shape& x_shape,
                             const Conv2dOptions& opt) {
  check_operands("conv2d_backward_input", gy_in, w_in);
  const kernels::Conv2dShape s = conv_shape("conv2d_backward_input", x_shape, w_in.shape(), opt);
  const Shape y_shape{s.n, s.o, s.out_h(), s.out_w()};
  TG_CHECK(gy_in.shape() == y_shape, "conv2d_backward_input", "grad_output of shape ",
           gy_in.shape_str(), " does not match the output's ", shape_str(y_shape));
  Tensor gy = dense(gy_in), w = dense(w_in);
  Tensor gx = empty(x_shape, gy.dtype(), gy.device());
  if (s.n == 0) return gx;
  TG_DISPATCH_FLOATING(gy.dtype(), "conv2d_backward_input", [&] {
    TG_KERNEL(gy.device(), conv2d_backward_input<scalar_t>, s, gy.data<scalar_t>(),
              w.data<scalar_t>(), gx.data<scalar_t>());
  });
  return gx;
}

Tensor conv2d_backward_weight(const Tensor& x_in, const Tensor& gy_in, const Shape& w_shape,
                              const Conv2dOptions& opt, const Tensor& lowered) {
  check_operands("conv2d_backward_weight", x_in, gy_in);
  const kernels::Conv2dShape s = conv_shape("conv2d_backward_weight", x_in.shape(), w_shape, opt);
  const Shape y_shape{s.n, s.o, s.out_h(), s.out_w()};
  TG_CHECK(gy_in.shape() == y_shape, "conv2d_backward_weight", "grad_output of shape ",
           gy_in.shape_str(), " does not match the output's ", shape_str(y_shape));
  if (lowered.defined())
    TG_CHECK(lowered.numel() == lowered_size_of(s, x_in.dtype()) &&
                 lowered.dtype() == x_in.dtype() && !lowered.device().is_cuda() &&
                 lowered.is_contiguous(),
             "conv2d_backward_weight", "the kept lowering (", lowered.shape_str(),
             ") is not conv2d_keep's for input ", x_in.shape_str());
  Tensor x = dense(x_in), gy = dense(gy_in);
  Tensor gw = empty(w_shape, x.dtype(), x.device());
  TG_DISPATCH_FLOATING(x.dtype(), "conv2d_backward_weight", [&] {
    if (lowered.defined())
      kernels::cpu::conv2d_backward_weight_kept<scalar_t>(s, x.data<scalar_t>(),
                                                          gy.data<scalar_t>(), gw.data<scalar_t>(),
                                                          lowered.data<scalar_t>());
    else
      TG_KERNEL(x.device(), conv2d_backward_weight<scalar_t>, s, x.data<scalar_t>(),
                gy.data<scalar_t>(), gw.data<scalar_t>());
  });
  return gw;
}

Tensor conv2d_backward_bias(const Tensor& gy_in) {
  TG_CHECK(gy_in.defined() && gy_in.dim() == 4, "conv2d_backward_bias",
           "grad_output must be 4-d (N, O, OH, OW), got ",
           gy_in.defined() ? gy_in.shape_str() : "undefined");
  Tensor gy = dense(gy_in);
  // The bias kernel reads only N, O and the output plane: a 1x1 conv of that plane.
  kernels::Conv2dShape s;
  s.n = gy.size(0), s.o = gy.size(1), s.c = gy.size(1), s.h = gy.size(2), s.w = gy.size(3);
  s.groups = gy.size(1);
  Tensor gb = empty({s.o}, gy.dtype(), gy.device());
  if (s.h == 0 || s.w == 0) return gb.fill_(0);
  TG_DISPATCH_FLOATING(gy.dtype(), "conv2d_backward_bias", [&] {
    TG_KERNEL(gy.device(), conv2d_backward_bias<scalar_t>, s, gy.data<scalar_t>(),
              gb.data<scalar_t>());
  });
  return gb;
}

}  // namespace tg::ops
