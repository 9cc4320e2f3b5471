// Differentiable views: reshape, view, flatten, transpose. The gradient of a view is the output
// gradient put back into the input's shape (or transposed back).
#include "autograd/functions.h"
#include "autograd/tape.h"
#include "tensor/ops.h"

namespace tg {

namespace {

// Runs a raw view op with recording suspended (the raw method refuses grad tensors otherwise).
template <typename F>
Tensor raw(F f) {
  NoGrad guard;
  return f();
}

Tensor record_reshape(const char* name, Tensor out, const Tensor& x) {
  Shape in_shape = x.shape();
  return tape().record(name, std::move(out), {x}, [in_shape](const Tensor& gy) {
    return std::vector<Tensor>{gy.reshape(in_shape)};
  });
}

}  // namespace

Tensor reshape(const Tensor& x, const Shape& shape) {
  Tensor out = raw([&] { return x.reshape(shape); });
  if (!needs_grad({&x})) return out;
  // A view of x must not become a second identity of x on the tape: give it its own impl.
  if (out.impl() == x.impl()) out = raw([&] { return x.view(x.shape()); });
  return record_reshape("reshape", out, x);
}

Tensor view(const Tensor& x, const Shape& shape) {
  Tensor out = raw([&] { return x.view(shape); });
  if (!needs_grad({&x})) return out;
  return record_reshape("view", out, x);
}

Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim) {
  Tensor out = raw([&] { return x.flatten(start_dim, end_dim); });
  if (!needs_grad({&x})) return out;
  if (out.impl() == x.impl()) out = raw([&] { return x.view(x.shape()); });
  return record_reshape("flatten", out, x);
}

Tensor transpose(const Tensor& x, int64_t d0, int64_t d1) {
  Tensor out = raw([&] { return x.transpose(d0, d1); });
  if (!needs_grad({&x})) return out;
  return tape().record("transpose", out, {x}, [d0, d1](const Tensor& gy) {
    return std::vector<Tensor>{gy.transpose(d0, d1)};
  });
}

Tensor t(const Tensor& x) {
  TG_CHECK(x.dim() == 2, "t", "expects a 2-d tensor, got shape ", x.shape_str());
  return transpose(x, 0, 1);
}

}  // namespace tg
