// Elementwise ops: broadcasting, unary, scalar and binary math, relu's backward and axpy.
// Broadcasting never copies: each input is handed to the kernel as a stride-0 view in the
// output's shape (an expand), and the output is always a new contiguous tensor.
#include "tensor/dispatch.h"
#include "tensor/ops.h"

namespace tg {

namespace {

const char* binary_name(BinaryOp op) {
  static const char* names[] = {"add", "sub", "mul", "div", "max", "min",
                                "eq",  "ne",  "lt",  "le",  "gt",  "ge"};
  return names[static_cast<int>(op)];
}

}  // namespace

Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    // Align from the right; a missing dim acts as 1.
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    TG_CHECK(da == db || da == 1 || db == 1, op, "shapes ", shape_str(a), " and ", shape_str(b),
             " cannot be broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

namespace ops {

Tensor unary(UnaryOp op, const Tensor& x) {
  detail::require_defined("unary", x);
  Tensor out = empty(x.shape(), x.dtype(), x.device());
  TG_DISPATCH_FLOATING(x.dtype(), "unary", [&] {
    TG_KERNEL(x.device(), unary, op, x.data<scalar_t>(), x.strided(), out.data<scalar_t>());
  });
  return out;
}

Tensor scalar(ScalarOp op, const Tensor& x, double s) {
  detail::require_defined("scalar", x);
  Tensor out = empty(x.shape(), x.dtype(), x.device());
  TG_DISPATCH_FLOATING(x.dtype(), "scalar", [&] {
    TG_KERNEL(x.device(), scalar_op, op, x.data<scalar_t>(), x.strided(), static_cast<scalar_t>(s),
              out.data<scalar_t>());
  });
  return out;
}

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  const char* name = binary_name(op);
  const Device dev = detail::same_device(name, a, b);
  TG_CHECK(a.dtype() == b.dtype(), name, "dtypes differ: ", dtype_name(a.dtype()), " ",
           a.shape_str(), " and ", dtype_name(b.dtype()), " ", b.shape_str());
  const Shape shape = broadcast_shapes(name, a.shape(), b.shape());
  const Tensor ea = a.detach().expand(shape), eb = b.detach().expand(shape);
  Tensor out = empty(shape, a.dtype(), dev);
  TG_DISPATCH_FLOATING(a.dtype(), name, [&] {
    TG_KERNEL(dev, binary, op, ea.data<scalar_t>(), ea.strided(), eb.data<scalar_t>(), eb.strided(),
              out.data<scalar_t>());
  });
  return out;
}

Tensor relu_backward(const Tensor& x, const Tensor& gy) {
  const Device dev = detail::same_device("relu_backward", x, gy);
  TG_CHECK(x.shape() == gy.shape() && x.dtype() == gy.dtype(), "relu_backward", "x ",
           dtype_name(x.dtype()), " ", x.shape_str(), " and gy ", dtype_name(gy.dtype()), " ",
           gy.shape_str(), " must have the same shape and dtype");
  const Tensor cx = x.detach().contiguous(), cg = gy.detach().contiguous();
  Tensor out = empty(x.shape(), x.dtype(), dev);
  TG_DISPATCH_FLOATING(x.dtype(), "relu_backward", [&] {
    TG_KERNEL(dev, relu_backward, cx.data<scalar_t>(), cg.data<scalar_t>(), out.data<scalar_t>(),
              x.numel());
  });
  return out;
}

void axpy_(Tensor& y, double alpha, const Tensor& x) {
  const Device dev = detail::same_device("axpy_", y, x);
  TG_CHECK(y.is_contiguous(), "axpy_", "y must be contiguous, got shape ", y.shape_str(),
           " with strides ", shape_str(y.strides()));
  TG_CHECK(x.shape() == y.shape() && x.dtype() == y.dtype(), "axpy_", "x ", dtype_name(x.dtype()),
           " ", x.shape_str(), " and y ", dtype_name(y.dtype()), " ", y.shape_str(),
           " must have the same shape and dtype");
  const Tensor cx = x.detach().contiguous();
  TG_DISPATCH_FLOATING(y.dtype(), "axpy_", [&] {
    TG_KERNEL(dev, axpy, y.numel(), static_cast<scalar_t>(alpha), cx.data<scalar_t>(),
              y.data<scalar_t>());
  });
}

}  // namespace ops

}  // namespace tg
