// View methods: new shape, strides and offset over the same storage, no data copied.
// Each refuses a tensor that requires grad while grad mode is on (the autograd versions in
// autograd/ record the view so the gradient flows back).
#include <algorithm>
#include <optional>

#include "tensor/tensor.h"

namespace tg {

namespace {

using detail::refuse_grad;
using detail::wrap_dim;

void check_ndim(const char* op, const Shape& shape) {
  TG_CHECK(shape.size() <= static_cast<size_t>(kernels::kMaxDims), op, "shape ", shape_str(shape),
           " has ", shape.size(), " dims; at most ", kernels::kMaxDims, " are supported");
}

// Resolves one -1 in `shape` so that it holds numel elements; checks the count.
Shape infer_shape(const char* op, Shape shape, int64_t numel) {
  check_ndim(op, shape);
  int64_t infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      TG_CHECK(infer < 0, op, "only one dim can be -1, got shape ", shape_str(shape));
      infer = static_cast<int64_t>(i);
    } else {
      TG_CHECK(shape[i] >= 0, op, "negative size ", shape[i], " in shape ", shape_str(shape));
    }
  }
  if (infer >= 0) {
    // The product of the other sizes, overflow-checked before it is taken (a 0 among them
    // leaves no size to infer, refused below).
    int64_t known = 1;
    bool has_zero = false;
    for (size_t i = 0; i < shape.size(); ++i) {
      if (int64_t(i) == infer) continue;
      has_zero = has_zero || shape[i] == 0;
      TG_CHECK(!__builtin_mul_overflow(known, std::max<int64_t>(shape[i], 1), &known), op, "shape ",
               shape_str(shape), " is too large: the product of its other sizes ",
               "overflows int64");
    }
    if (has_zero) known = 0;
    TG_CHECK(known != 0 && numel % known == 0, op, "shape ", shape_str(shape), " is invalid for ",
             numel, " elements");
    shape[infer] = numel / known;
  }
  detail::check_shape(op, shape, 1);  // the dtype's byte size is make_view's to check
  TG_CHECK(shape_numel(shape) == numel, op, "shape ", shape_str(shape), " (", shape_numel(shape),
           " elements) is invalid for ", numel, " elements");
  return shape;
}

// Strides that lay `shape` over the same memory as (old_shape, old_strides), or nothing when
// no such strides exist (the elements are not evenly spaced within the dims being merged).
// Walks the old dims from the back in "chunks" of dims that are contiguous with each other;
// each chunk must be covered exactly by a run of new dims (PyTorch's computeStride).
std::optional<Shape> view_strides(Shape old_shape, Shape old_strides, const Shape& shape) {
  Shape strides(shape.size());
  if (shape_numel(shape) == 0) return contiguous_strides(shape);
  if (old_shape.empty()) old_shape = {1}, old_strides = {1};
  int64_t view_d = static_cast<int64_t>(shape.size()) - 1;
  int64_t chunk_stride = old_strides.back(), tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(old_shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= old_shape[d];
    if (d == 0 || (old_shape[d - 1] != 1 && old_strides[d - 1] != tensor_numel * chunk_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        strides[view_d] = view_numel * chunk_stride;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) chunk_stride = old_strides[d - 1], tensor_numel = 1, view_numel = 1;
    }
  }
  if (view_d != -1) return std::nullopt;
  return strides;
}

}  // namespace

Tensor Tensor::view(Shape shape) const {
  refuse_grad("Tensor::view", *this);
  shape = infer_shape("Tensor::view", std::move(shape), numel());
  auto st = view_strides(this->shape(), strides(), shape);
  TG_CHECK(st.has_value(), "Tensor::view", "a tensor of shape ", shape_str(), " and strides ",
           tg::shape_str(strides()), " cannot be viewed as ", tg::shape_str(shape),
           " (incompatible strides); use reshape(), which copies");
  return make_view(*this, std::move(shape), std::move(*st), offset());
}

Tensor Tensor::reshape(Shape shape) const {
  refuse_grad("Tensor::reshape", *this);
  shape = infer_shape("Tensor::reshape", std::move(shape), numel());
  if (auto st = view_strides(this->shape(), strides(), shape))
    return make_view(*this, std::move(shape), std::move(*st), offset());
  return contiguous().view(std::move(shape));
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  refuse_grad("Tensor::transpose", *this);
  d0 = wrap_dim("Tensor::transpose", d0, dim());
  d1 = wrap_dim("Tensor::transpose", d1, dim());
  Shape sh = shape(), st = strides();
  std::swap(sh[d0], sh[d1]);
  std::swap(st[d0], st[d1]);
  return make_view(*this, std::move(sh), std::move(st), offset());
}

Tensor Tensor::t() const {
  refuse_grad("Tensor::t", *this);
  TG_CHECK(dim() <= 2, "Tensor::t", "expects a tensor of at most 2 dims, got shape ", shape_str());
  return dim() < 2 ? make_view(*this, shape(), strides(), offset()) : transpose(0, 1);
}

Tensor Tensor::permute(const std::vector<int64_t>& dims) const {
  refuse_grad("Tensor::permute", *this);
  TG_CHECK(static_cast<int64_t>(dims.size()) == dim(), "Tensor::permute", "got ", dims.size(),
           " dims ", tg::shape_str(dims), " for a tensor of shape ", shape_str());
  Shape sh(dims.size()), st(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = wrap_dim("Tensor::permute", dims[i], dim());
    TG_CHECK(!seen[d], "Tensor::permute", "dim ", dims[i], " repeats in ", tg::shape_str(dims));
    seen[d] = true;
    sh[i] = shape()[d];
    st[i] = strides()[d];
  }
  return make_view(*this, std::move(sh), std::move(st), offset());
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  refuse_grad("Tensor::narrow", *this);
  d = wrap_dim("Tensor::narrow", d, dim());
  const int64_t n = shape()[d];
  if (start < 0 && start >= -n) start += n;
  TG_CHECK(start >= 0 && length >= 0 && start + length <= n, "Tensor::narrow", "start ", start,
           " and length ", length, " do not fit dim ", d, " of size ", n, " (shape ", shape_str(),
           ")");
  Shape sh = shape();
  sh[d] = length;
  return make_view(*this, std::move(sh), strides(), offset() + start * strides()[d]);
}

// Python semantics: negative start/end count from the end, then both clamp to [0, size].
Tensor Tensor::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
  refuse_grad("Tensor::slice", *this);
  d = wrap_dim("Tensor::slice", d, dim());
  TG_CHECK(step > 0, "Tensor::slice", "step must be positive, got ", step);
  const int64_t n = shape()[d];
  auto clamp = [n](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + n : i, 0, n); };
  start = clamp(start);
  end = std::max(clamp(end), start);
  Shape sh = shape(), st = strides();
  sh[d] = (end - start + step - 1) / step;
  st[d] *= step;
  return make_view(*this, std::move(sh), std::move(st), offset() + start * strides()[d]);
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  refuse_grad("Tensor::select", *this);
  d = wrap_dim("Tensor::select", d, dim());
  const int64_t n = shape()[d];
  TG_CHECK(index >= -n && index < n, "Tensor::select", "index ", index, " is out of range for dim ",
           d, " of size ", n, " (shape ", shape_str(), ")");
  if (index < 0) index += n;
  Shape sh = shape(), st = strides();
  sh.erase(sh.begin() + d);
  st.erase(st.begin() + d);
  return make_view(*this, std::move(sh), std::move(st), offset() + index * strides()[d]);
}

Tensor Tensor::squeeze() const {
  refuse_grad("Tensor::squeeze", *this);
  Shape sh, st;
  for (int64_t i = 0; i < dim(); ++i)
    if (shape()[i] != 1) sh.push_back(shape()[i]), st.push_back(strides()[i]);
  return make_view(*this, std::move(sh), std::move(st), offset());
}

// Like PyTorch, squeezing a dim whose size is not 1 leaves the shape as it is.
Tensor Tensor::squeeze(int64_t d) const {
  refuse_grad("Tensor::squeeze", *this);
  d = wrap_dim("Tensor::squeeze", d, dim());
  Shape sh = shape(), st = strides();
  if (sh[d] == 1) sh.erase(sh.begin() + d), st.erase(st.begin() + d);
  return make_view(*this, std::move(sh), std::move(st), offset());
}

Tensor Tensor::unsqueeze(int64_t d) const {
  refuse_grad("Tensor::unsqueeze", *this);
  d = wrap_dim("Tensor::unsqueeze", d, dim() + 1);
  Shape sh = shape(), st = strides();
  const int64_t stride = d < dim() ? sh[d] * st[d] : 1;
  sh.insert(sh.begin() + d, 1);
  st.insert(st.begin() + d, stride);
  check_ndim("Tensor::unsqueeze", sh);
  return make_view(*this, std::move(sh), std::move(st), offset());
}

// New leading dims and size-1 dims take stride 0, so every index along them reads the same
// element; -1 keeps an existing size.
Tensor Tensor::expand(const Shape& shape) const {
  refuse_grad("Tensor::expand", *this);
  const int64_t lead = static_cast<int64_t>(shape.size()) - dim();
  TG_CHECK(lead >= 0, "Tensor::expand", "cannot expand shape ", shape_str(), " to ",
           tg::shape_str(shape), " (fewer dims)");
  check_ndim("Tensor::expand", shape);
  Shape sh(shape.size()), st(shape.size(), 0);
  for (int64_t i = 0; i < static_cast<int64_t>(shape.size()); ++i) {
    const int64_t j = i - lead;  // the matching dim of this tensor, if any
    const int64_t want = shape[i];
    TG_CHECK(want >= 0 || (want == -1 && j >= 0), "Tensor::expand", "invalid size ", want,
             " at dim ", i, " of ", tg::shape_str(shape));
    if (j < 0) {
      sh[i] = want;
    } else if (want == -1 || want == this->shape()[j]) {
      sh[i] = this->shape()[j], st[i] = strides()[j];
    } else {
      TG_CHECK(this->shape()[j] == 1, "Tensor::expand", "cannot expand shape ", shape_str(), " to ",
               tg::shape_str(shape), " (dim ", j, " has size ", this->shape()[j], ", not 1)");
      sh[i] = want;
    }
  }
  detail::check_shape("Tensor::expand", sh, dtype_size(dtype()));
  return make_view(*this, std::move(sh), std::move(st), offset());
}

Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const {
  refuse_grad("Tensor::flatten", *this);
  if (dim() == 0) return reshape({1});
  start_dim = wrap_dim("Tensor::flatten", start_dim, dim());
  end_dim = wrap_dim("Tensor::flatten", end_dim, dim());
  TG_CHECK(start_dim <= end_dim, "Tensor::flatten", "start_dim ", start_dim,
           " comes after end_dim ", end_dim, " (shape ", shape_str(), ")");
  Shape sh(shape().begin(), shape().begin() + start_dim);
  int64_t merged = 1;
  for (int64_t i = start_dim; i <= end_dim; ++i) merged *= shape()[i];
  sh.push_back(merged);
  sh.insert(sh.end(), shape().begin() + end_dim + 1, shape().end());
  return reshape(std::move(sh));
}

}  // namespace tg
