// Differentiable activations and dropout, built from the elementwise kernels' op tables
// (kernels/elementwise.h) through tensor/ops.h: no loops of their own.
#include "autograd/functions.h"
#include "autograd/tape.h"
#include "tensor/creation.h"
#include "tensor/ops.h"

namespace tg {

namespace {

Tensor record_unary(const char* name, Tensor out, const Tensor& a,
                    std::function<Tensor(const Tensor&)> f) {
  return tape().record(name, std::move(out), {a},
                       [f](const Tensor& gy) -> std::vector<Tensor> { return {f(gy)}; });
}

}  // namespace

Tensor sigmoid(const Tensor& a) {
  Tensor out = ops::unary(UnaryOp::sigmoid, a);
  if (!needs_grad({&a})) return out;
  Tensor sy = out.detach();
  return record_unary("sigmoid", out, a, [sy](const Tensor& gy) {
    // y' = y * (1 - y)
    Tensor d = ops::binary(BinaryOp::mul, sy, ops::scalar(ScalarOp::rsub, sy, 1.0));
    return ops::binary(BinaryOp::mul, gy, d);
  });
}

Tensor tanh(const Tensor& a) {
  Tensor out = ops::unary(UnaryOp::tanh, a);
  if (!needs_grad({&a})) return out;
  Tensor sy = out.detach();
  return record_unary("tanh", out, a, [sy](const Tensor& gy) {
    // y' = 1 - y^2
    Tensor d = ops::scalar(ScalarOp::rsub, ops::unary(UnaryOp::square, sy), 1.0);
    return ops::binary(BinaryOp::mul, gy, d);
  });
}

Tensor leaky_relu(const Tensor& a, double slope) {
  detail::require_defined("leaky_relu", a);
  // max(x, 0) + slope * min(x, 0): x where x > 0, slope * x elsewhere.
  Tensor out = ops::binary(BinaryOp::add, ops::scalar(ScalarOp::max, a, 0.0),
                           ops::scalar(ScalarOp::mul, ops::scalar(ScalarOp::min, a, 0.0), slope));
  if (!needs_grad({&a})) return out;
  Tensor sa = a.detach();
  return record_unary("leaky_relu", out, a, [sa, slope](const Tensor& gy) {
    // d = 1 where x > 0, else slope (at 0 the slope, as PyTorch).
    Tensor pos = ops::binary(BinaryOp::gt, sa, zeros({}, sa.dtype(), sa.device()));
    Tensor d = ops::scalar(ScalarOp::add, ops::scalar(ScalarOp::mul, pos, 1.0 - slope), slope);
    return ops::binary(BinaryOp::mul, gy, d);
  });
}

Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) {
  detail::require_defined("dropout", x);
  TG_CHECK(p >= 0 && p < 1, "dropout", "p must be in [0, 1), got ", p, " (input of shape ",
           x.shape_str(), ")");
  TG_CHECK(x.dtype() == DType::f32 || x.dtype() == DType::f64, "dropout",
           "expected float32 or float64, got ", dtype_name(x.dtype()), " of shape ", x.shape_str());
  if (!training || p == 0) return x;
  // keep = (u >= p) / (1 - p) with u ~ U[0, 1): each element survives with probability 1 - p.
  Tensor u = rand(x.shape(), gen, x.dtype());
  Tensor keep = ops::binary(BinaryOp::ge, u, full({}, p, x.dtype()));
  keep = ops::scalar(ScalarOp::mul, keep, 1.0 / (1.0 - p));
  if (x.device().is_cuda()) keep = keep.to(x.device());
  return mul(x, keep);  // the gradient is gy * keep
}

Tensor dropout(const Tensor& x, double p, bool training) {
  return dropout(x, p, training, default_generator());
}

}  // namespace tg
