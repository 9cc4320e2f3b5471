// Differentiable sum and mean: the gradient of a reduction is the output gradient broadcast
// back over the reduced dims (divided by their count for mean).
#include "autograd/functions.h"
#include "autograd/tape.h"
#include "tensor/ops.h"

namespace tg {

namespace {

// The shape of x with the reduced dims kept as size 1 (dims empty: all of them).
Shape kept_shape(const Shape& x, std::vector<int64_t> dims) {
  Shape s = x;
  if (dims.empty()) {
    for (auto& v : s) v = 1;
    return s;
  }
  for (int64_t d : dims) s[detail::wrap_dim("sum", d, static_cast<int64_t>(x.size()))] = 1;
  return s;
}

// gy (reduced shape) broadcast to x's shape, times scale.
Tensor spread(const Tensor& gy, const Shape& kept, const Shape& full, double scale) {
  Tensor g = gy.reshape(kept).expand(full).contiguous();
  return scale == 1.0 ? g : ops::scalar(ScalarOp::mul, g, scale);
}

Tensor reduce_op(const char* name, ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims,
                 bool keepdim) {
  Tensor out = ops::reduce(op, x, dims, keepdim);
  if (!needs_grad({&x})) return out;
  Shape full = x.shape();
  Shape kept = kept_shape(full, dims);
  double scale = 1.0;
  if (op == ReduceOp::mean) {
    int64_t count = shape_numel(full) / std::max<int64_t>(1, shape_numel(kept));
    scale = 1.0 / static_cast<double>(count);
  }
  return tape().record(name, out, {x}, [=](const Tensor& gy) -> std::vector<Tensor> {
    return {spread(gy, kept, full, scale)};
  });
}

}  // namespace

Tensor sum(const Tensor& x) {
  return reduce_op("sum", ReduceOp::sum, x, {}, false);
}
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  TG_CHECK(!dims.empty(), "sum", "no dims given; use sum(x) for the whole tensor");
  return reduce_op("sum", ReduceOp::sum, x, dims, keepdim);
}
Tensor mean(const Tensor& x) {
  return reduce_op("mean", ReduceOp::mean, x, {}, false);
}
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  TG_CHECK(!dims.empty(), "mean", "no dims given; use mean(x) for the whole tensor");
  return reduce_op("mean", ReduceOp::mean, x, dims, keepdim);
}

}  // namespace tg
