// The fused training-mode batch norm ops (tensor/ops_norm.h) over kernels/norm.h. The shape
// checks with messages are the autograd layer's (autograd/norm.cpp), made before these run;
// here only what a caller inside the library could get wrong is checked.
#include "tensor/ops_norm.h"

#include "kernels/norm.h"
#include "tensor/dtype.h"

namespace tg::ops {

namespace {

struct Ncs {
  int64_t n, c, s;
};
Ncs ncs_of(const Tensor& x) {
  const int64_t n = x.size(0), c = x.size(1);
  return {n, c, n * c > 0 ? x.numel() / (n * c) : 0};
}

const Tensor& dense_or_none(const Tensor& t, Tensor& keep) {
  if (t.defined()) keep = t.detach().contiguous();
  return keep;
}

}  // namespace

bool batch_norm_fused_supports(const Tensor& x) {
  return x.defined() && x.dim() >= 2 && !x.device().is_cuda() &&
         (x.dtype() == DType::f32 || x.dtype() == DType::f64);
}

BatchNormTrain batch_norm_train(const Tensor& x_in, const Tensor& weight, const Tensor& bias,
                                double eps) {
  TG_CHECK(batch_norm_fused_supports(x_in), "batch_norm_train",
           "expects a floating CPU tensor (N, C, *), got ", x_in.shape_str());
  const Tensor x = x_in.detach().contiguous();
  Tensor w, b;
  dense_or_none(weight, w), dense_or_none(bias, b);
  const Ncs d = ncs_of(x);
  BatchNormTrain r{empty(x.shape(), x.dtype()), empty({d.c}, x.dtype()), empty({d.c}, x.dtype()),
                   empty({d.c}, x.dtype())};
  TG_DISPATCH_FLOATING(x.dtype(), "batch_norm_train", [&] {
    kernels::cpu::batch_norm_train_forward<scalar_t>(
        x.data<scalar_t>(), d.n, d.c, d.s, w.defined() ? w.data<scalar_t>() : nullptr,
        b.defined() ? b.data<scalar_t>() : nullptr, eps, r.y.data<scalar_t>(),
        r.mean.data<scalar_t>(), r.var.data<scalar_t>(), r.invstd.data<scalar_t>());
  });
  return r;
}

BatchNormGrads batch_norm_train_backward(const Tensor& gy_in, const Tensor& x_in,
                                         const Tensor& weight, const Tensor& mean,
                                         const Tensor& invstd, bool need_x, bool need_w,
                                         bool need_b) {
  TG_CHECK(batch_norm_fused_supports(x_in) && gy_in.shape() == x_in.shape() &&
               gy_in.dtype() == x_in.dtype(),
           "batch_norm_train_backward", "gy ", gy_in.shape_str(), " must match x ",
           x_in.shape_str());
  const Tensor x = x_in.detach().contiguous(), gy = gy_in.detach().contiguous();
  Tensor w;
  dense_or_none(weight, w);
  const Ncs d = ncs_of(x);
  BatchNormGrads g;
  if (need_x) g.gx = empty(x.shape(), x.dtype());
  if (need_w) g.gw = empty({d.c}, x.dtype());
  if (need_b) g.gb = empty({d.c}, x.dtype());
  TG_DISPATCH_FLOATING(x.dtype(), "batch_norm_train_backward", [&] {
    auto ptr = [](Tensor& t) { return t.defined() ? t.data<scalar_t>() : nullptr; };
    kernels::cpu::batch_norm_train_backward<scalar_t>(
        x.data<scalar_t>(), gy.data<scalar_t>(), d.n, d.c, d.s,
        w.defined() ? w.data<scalar_t>() : nullptr, mean.data<scalar_t>(), invstd.data<scalar_t>(),
        ptr(g.gx), ptr(g.gw), ptr(g.gb));
  });
  return g;
}

}  // namespace tg::ops
