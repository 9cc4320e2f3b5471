// ops::scatter_add: the adjoint of gather, used for the gradient of gathered values.
#include "kernels/index.h"
#include "tensor/creation.h"
#include "tensor/dispatch.h"
#include "tensor/ops.h"

namespace tg::ops {

Tensor scatter_add(const Tensor& src, const Shape& shape, int64_t dim, const Tensor& index) {
  const int64_t nd = static_cast<int64_t>(shape.size());
  dim = detail::wrap_dim("scatter_add", dim, nd);
  TG_CHECK(index.dtype() == DType::i32, "scatter_add", "index must be int32, got ",
           dtype_name(index.dtype()));
  TG_CHECK(src.shape() == index.shape() && index.dim() == nd, "scatter_add", "src of shape ",
           src.shape_str(), " and index of shape ", index.shape_str(),
           " must agree and have the rank of ", shape_str(shape));
  for (int64_t d = 0; d < nd; ++d)
    TG_CHECK(d == dim || index.size(d) == shape[d], "scatter_add", "index of shape ",
             index.shape_str(), " does not fit output ", shape_str(shape), " outside dim ", dim);
  const Device dev = detail::same_device("scatter_add", src, index);
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= shape[d];
  for (int64_t d = dim + 1; d < nd; ++d) inner *= shape[d];
  Tensor out = zeros(shape, src.dtype(), dev);
  Tensor s = src.contiguous(), i = index.contiguous();
  TG_DISPATCH_FLOATING(src.dtype(), "scatter_add", [&] {
    TG_KERNEL(dev, scatter_add, s.data<scalar_t>(), outer, shape[dim], inner, i.data<int32_t>(),
              index.size(dim), out.data<scalar_t>());
  });
  return out;
}

}  // namespace tg::ops
