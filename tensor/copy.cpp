// Copy methods: contiguous, clone, to (dtype, device), index_select, gather, fill_ and copy_.
// Each makes new memory (or writes in place) through the kernels in kernels/cpu; each refuses
// a tensor that requires grad while grad mode is on, because its result would carry no
// gradient (tensor.h says why).
#include <cmath>
#include <limits>

#include "kernels/elementwise.h"
#include "kernels/index.h"
#include "tensor/dispatch.h"
#include "tensor/grad_mode.h"
#include "tensor/tensor.h"

namespace tg {

namespace {

using detail::refuse_grad;
using detail::require_defined;

// The converting copy on the tensors' device (cast<S, D> has a comma, which TG_KERNEL's
// argument list cannot take).
template <typename S, typename D>
void cast_on(Device dev, const S* src, D* dst, int64_t n) {
  if (dev.is_cuda()) {
#if TG_WITH_CUDA
    kernels::cuda::cast<S, D>(src, dst, n);
#else
    detail::no_cuda_kernel("cast");
#endif
  } else {
    kernels::cpu::cast<S, D>(src, dst, n);
  }
}

// Writes through a non-contiguous destination walk the host's memory; on the GPU that walk
// would need a strided-destination kernel, which no op has needed yet.
void require_contiguous_on_cuda(const char* op, const Tensor& dst) {
  TG_CHECK(dst.device().is_cpu() || dst.is_contiguous(), op,
           "writing into a non-contiguous CUDA tensor (shape ", dst.shape_str(), ", strides ",
           shape_str(dst.strides()), ") is not supported; write into a contiguous one");
}

// f(i, off) for every element in row-major order: i its position, off its storage offset
// relative to element 0 of the view. For writes through a non-contiguous destination.
template <typename F>
void walk(const Shape& shape, const Shape& strides, F f) {
  const int64_t n = shape_numel(shape), nd = static_cast<int64_t>(shape.size());
  std::vector<int64_t> idx(shape.size(), 0);
  int64_t off = 0;
  for (int64_t i = 0; i < n; ++i) {
    f(i, off);
    for (int64_t d = nd - 1; d >= 0; --d) {
      if (++idx[d] < shape[d]) {
        off += strides[d];
        break;
      }
      off -= strides[d] * (shape[d] - 1);
      idx[d] = 0;
    }
  }
}

// A new contiguous copy of x (same dtype), whatever its strides.
Tensor copy_contiguous(const Tensor& x) {
  Tensor out = empty(x.shape(), x.dtype(), x.device());
  TG_DISPATCH_ALL(x.dtype(), "Tensor::contiguous", [&] {
    TG_KERNEL(x.device(), copy, x.data<scalar_t>(), x.strided(), out.data<scalar_t>());
  });
  return out;
}

// (outer, r, inner) of x around dim d.
struct Split {
  int64_t outer = 1, r = 1, inner = 1;
};
Split split_at(const Shape& s, int64_t d) {
  Split sp;
  for (int64_t i = 0; i < static_cast<int64_t>(s.size()); ++i)
    (i < d ? sp.outer : i == d ? sp.r : sp.inner) *= s[i];
  return sp;
}

}  // namespace

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  refuse_grad("Tensor::contiguous", *this);
  return copy_contiguous(*this);
}

Tensor Tensor::clone() const {
  refuse_grad("Tensor::clone", *this);
  require_defined("Tensor::clone", *this);
  return copy_contiguous(*this);
}

Tensor Tensor::to(DType dtype) const {
  if (dtype == this->dtype()) return *this;
  refuse_grad("Tensor::to", *this);
  require_defined("Tensor::to", *this);
  Tensor src = contiguous();
  Tensor out = empty(shape(), dtype, device());
  TG_DISPATCH_ALL(src.dtype(), "Tensor::to", [&] {
    using S = scalar_t;
    TG_DISPATCH_ALL(dtype, "Tensor::to", [&] {
      cast_on<S, scalar_t>(device(), src.data<S>(), out.data<scalar_t>(), src.numel());
    });
  });
  return out;
}

// CPU to CPU is free; anything else asks allocator_for, which throws a clear tg::Error when
// the build has no CUDA backend, and then copies bytes through the CUDA side's allocator.
Tensor Tensor::to(Device device) const {
  if (device == this->device()) return *this;
  refuse_grad("Tensor::to", *this);
  Allocator& dst = allocator_for(device);
  Tensor src = contiguous();
  Tensor out = empty(shape(), dtype(), device);
  Allocator& copier = device.is_cpu() ? allocator_for(src.device()) : dst;
  copier.copy_bytes(out.raw_data(), src.raw_data(), numel() * dtype_size(dtype()));
  return out;
}

Tensor& Tensor::to_(Device device) {
  require_defined("Tensor::to_", *this);
  if (device == this->device()) return *this;
  TG_CHECK(is_leaf(), "Tensor::to_", "only leaf tensors can move in place (this one of shape ",
           shape_str(), " was computed by an op)");
  Tensor moved, grad_moved;
  {
    NoGrad guard;
    moved = detach().to(device);
    if (impl()->grad.defined()) grad_moved = impl()->grad.detach().to(device);
  }
  TensorImpl& i = *impl();
  i.storage = moved.storage();
  i.strides = moved.strides();
  i.offset = 0;
  i.grad = grad_moved;
  return *this;
}

Tensor Tensor::index_select(int64_t d, const Tensor& index) const {
  refuse_grad("Tensor::index_select", *this);
  const Device dev = detail::same_device("Tensor::index_select", *this, index);
  d = detail::wrap_dim("Tensor::index_select", d, dim());
  TG_CHECK(index.dtype() == DType::i32 && index.dim() == 1, "Tensor::index_select",
           "the index must be a 1-d int32 tensor, got ", dtype_name(index.dtype()), " of shape ",
           index.shape_str());
  Tensor x = contiguous(), idx = index.detach().contiguous();
  const Split sp = split_at(shape(), d);
  const int64_t n = index.numel();
  Shape sh = shape();
  sh[d] = n;
  Tensor out = empty(sh, dtype(), dev);
  TG_DISPATCH_ALL(dtype(), "Tensor::index_select", [&] {
    const scalar_t* src = x.data<scalar_t>();
    scalar_t* dst = out.data<scalar_t>();
    for (int64_t o = 0; o < sp.outer; ++o)
      TG_KERNEL(dev, index_select_rows, src + o * sp.r * sp.inner, sp.r, sp.inner,
                idx.data<int32_t>(), n, dst + o * n * sp.inner);
  });
  return out;
}

// Like torch.gather, except that the index must match x in every dim but `dim` (torch
// allows it to be smaller there).
Tensor Tensor::gather(int64_t d, const Tensor& index) const {
  refuse_grad("Tensor::gather", *this);
  const Device dev = detail::same_device("Tensor::gather", *this, index);
  d = detail::wrap_dim("Tensor::gather", d, dim());
  TG_CHECK(index.dtype() == DType::i32, "Tensor::gather", "the index must be int32, got ",
           dtype_name(index.dtype()));
  bool match = index.dim() == dim();
  for (int64_t i = 0; match && i < dim(); ++i) match = i == d || index.size(i) == size(i);
  TG_CHECK(match, "Tensor::gather", "index of shape ", index.shape_str(),
           " must match the input's shape ", shape_str(), " in every dim but ", d);
  Tensor x = contiguous(), idx = index.detach().contiguous();
  const Split sp = split_at(shape(), d);
  Tensor out = empty(index.shape(), dtype(), dev);
  TG_DISPATCH_ALL(dtype(), "Tensor::gather", [&] {
    TG_KERNEL(dev, gather, x.data<scalar_t>(), sp.outer, sp.r, sp.inner, idx.data<int32_t>(),
              index.size(d), out.data<scalar_t>());
  });
  return out;
}

Tensor& Tensor::fill_(double value) {
  refuse_grad("Tensor::fill_", *this);
  require_defined("Tensor::fill_", *this);
  require_contiguous_on_cuda("Tensor::fill_", *this);
  TG_DISPATCH_ALL(dtype(), "Tensor::fill_", [&] {
    if constexpr (std::is_integral_v<scalar_t>) {
      using L = std::numeric_limits<scalar_t>;
      TG_CHECK(std::isfinite(value) && value >= L::min() && value <= L::max(), "Tensor::fill_",
               "value ", value, " does not fit ", dtype_name(dtype()));
    }
    const auto v = static_cast<scalar_t>(value);
    scalar_t* p = data<scalar_t>();
    if (is_contiguous()) {
      TG_KERNEL(device(), fill, p, numel(), v);
    } else {
      walk(shape(), strides(), [&](int64_t, int64_t off) { p[off] = v; });
    }
  });
  return *this;
}

// src is broadcast to this shape and converted to this dtype; an overlapping src is copied
// first, so x.copy_(x.t()) reads the old values.
Tensor& Tensor::copy_(const Tensor& src) {
  refuse_grad("Tensor::copy_", *this);
  require_defined("Tensor::copy_", *this);
  require_defined("Tensor::copy_", src);
  require_contiguous_on_cuda("Tensor::copy_", *this);
  bool ok = src.dim() <= dim();
  for (int64_t i = 1; ok && i <= src.dim(); ++i) ok = src.size(-i) == 1 || src.size(-i) == size(-i);
  TG_CHECK(ok, "Tensor::copy_", "source of shape ", src.shape_str(),
           " cannot be broadcast to shape ", shape_str());
  Tensor s = src.detach().to(device()).to(dtype());
  if (s.shares_storage(*this)) s = s.clone();
  s = s.expand(shape());
  TG_DISPATCH_ALL(dtype(), "Tensor::copy_", [&] {
    if (is_contiguous()) {
      TG_KERNEL(device(), copy, s.data<scalar_t>(), s.strided(), data<scalar_t>());
    } else {
      Tensor tmp = empty(shape(), dtype());
      const scalar_t* t = tmp.data<scalar_t>();
      kernels::cpu::copy(s.data<scalar_t>(), s.strided(), tmp.data<scalar_t>());
      scalar_t* p = data<scalar_t>();
      walk(shape(), strides(), [&](int64_t i, int64_t off) { p[off] = t[i]; });
    }
  });
  return *this;
}

}  // namespace tg
