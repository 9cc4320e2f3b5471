// Reductions: sum/mean/max/min over any set of dims, argmax, and sum_to (the gradient of a
// broadcast). The kernel reduces the middle axis of (outer, r, inner); a set of dims that is
// not one contiguous run is first brought to that form by permuting the reduced dims to the
// end and copying, so every reduction is one kernel call and a mean is one division by the
// full count.
#include <algorithm>

#include "tensor/dispatch.h"
#include "tensor/ops.h"

namespace tg::ops {

Tensor reduce(ReduceOp op, const Tensor& x, std::vector<int64_t> dims, bool keepdim) {
  const char* name = kernels::reduce_op_name(op);
  detail::require_defined(name, x);
  const int64_t nd = x.dim();
  std::vector<bool> red(nd, dims.empty());
  for (int64_t d : dims) {
    if (nd == 0) {  // a 0-d tensor accepts dim 0 or -1, as PyTorch does
      TG_CHECK(d == 0 || d == -1, name, "dim ", d, " is out of range for a 0-d tensor");
      continue;
    }
    const int64_t w = detail::wrap_dim(name, d, nd);
    TG_CHECK(!red[w], name, "dim ", d, " appears twice in ", shape_str(dims));
    red[w] = true;
  }
  // Output shape, and the permutation: kept dims (in order), then reduced dims.
  Shape out_shape, kept_shape, perm, tail;
  int64_t r = 1;
  for (int64_t d = 0; d < nd; ++d) {
    if (red[d]) {
      r *= x.size(d), tail.push_back(d);
      if (keepdim) out_shape.push_back(1);
    } else {
      perm.push_back(d), kept_shape.push_back(x.size(d)), out_shape.push_back(x.size(d));
    }
  }
  const int64_t first = tail.empty() ? 0 : tail.front();
  const bool run = tail.empty() || tail.back() - first + 1 == static_cast<int64_t>(tail.size());
  Tensor src = x.detach();
  int64_t outer = shape_numel(kept_shape), inner = 1;
  if (run && src.is_contiguous()) {  // (dims before, the run, dims after): no copy needed
    outer = 1;
    for (int64_t d = 0; d < first; ++d) outer *= x.size(d);
    for (int64_t d = first + static_cast<int64_t>(tail.size()); d < nd; ++d) inner *= x.size(d);
  } else {
    perm.insert(perm.end(), tail.begin(), tail.end());
    src = src.permute(perm).contiguous();
  }
  Tensor out = empty(out_shape, x.dtype(), x.device());
  TG_DISPATCH_FLOATING(x.dtype(), name, [&] {
    TG_KERNEL(x.device(), reduce, op, src.data<scalar_t>(), outer, r, inner, out.data<scalar_t>());
  });
  return out;
}

Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
  detail::require_defined("argmax", x);
  dim = detail::wrap_dim("argmax", dim, x.dim());
  const Tensor src = x.detach().contiguous();
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < x.dim(); ++d) (d < dim ? outer : inner) *= d == dim ? 1 : x.size(d);
  Shape shape = x.shape();
  if (keepdim)
    shape[dim] = 1;
  else
    shape.erase(shape.begin() + dim);
  Tensor out = empty(shape, DType::i32, x.device());
  TG_DISPATCH_FLOATING(x.dtype(), "argmax", [&] {
    TG_KERNEL(x.device(), argmax, src.data<scalar_t>(), outer, x.size(dim), inner,
              out.data<int32_t>());
  });
  return out;
}

Tensor accuracy(const Tensor& logits, const Tensor& labels) {
  const char* op = "accuracy";
  detail::require_defined(op, logits);
  detail::require_defined(op, labels);
  const Device dev = detail::same_device(op, logits, labels);
  TG_CHECK(logits.dim() == 2 && logits.size(0) > 0 && logits.size(1) > 0, op,
           "logits must be a non-empty (n, classes) array, got shape ", logits.shape_str());
  TG_CHECK(labels.dtype() == DType::i32, op, "labels must be int32, got ",
           dtype_name(labels.dtype()));
  TG_CHECK(labels.dim() == 1 && labels.size(0) == logits.size(0), op, "labels of shape ",
           labels.shape_str(), " do not match logits of shape ", logits.shape_str());
  const Tensor x = logits.detach().contiguous(), y = labels.detach().contiguous();
  Tensor out = empty({}, DType::f32, dev);
  TG_DISPATCH_FLOATING(x.dtype(), op, [&] {
    TG_KERNEL(dev, argmax_hits, x.data<scalar_t>(), x.size(0), x.size(1), y.data<int32_t>(),
              out.data<float>());
  });
  return out;
}

Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  const int64_t lead = g.dim() - static_cast<int64_t>(shape.size());
  bool ok = true;
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < g.dim(); ++d) {
    const int64_t j = d - lead;  // the matching dim of `shape` (aligned from the right)
    if (j < 0)
      dims.push_back(d);
    else if (shape[j] == 1 && g.size(d) != 1)
      dims.push_back(d);
    else
      ok = ok && shape[j] == g.size(d);
  }
  // Extra leading 1s in `shape` (more dims than g) only reshape.
  for (int64_t j = 0; j < -lead; ++j) ok = ok && shape[j] == 1;
  TG_CHECK(ok, "sum_to", "a gradient of shape ", g.shape_str(), " cannot be summed to shape ",
           shape_str(shape));
  Tensor s = dims.empty() ? g.detach().contiguous() : reduce(ReduceOp::sum, g, dims, true);
  return s.detach().reshape(shape);
}

}  // namespace tg::ops
