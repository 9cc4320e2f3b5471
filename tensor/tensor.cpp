// Tensor metadata and construction: shape helpers, the accessors, empty() and make_view(),
// and the checks every other file leans on (wrap_dim, refuse_grad, require_cpu).
#include "tensor/tensor.h"

#include <algorithm>
#include <sstream>
#include <string_view>

#include "tensor/dispatch.h"
#include "tensor/grad_mode.h"

namespace tg {

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

int64_t shape_numel(const Shape& s) {
  if (std::find(s.begin(), s.end(), 0) != s.end()) return 0;
  int64_t n = 1;
  for (int64_t d : s)
    TG_CHECK(!__builtin_mul_overflow(n, d, &n), "shape_numel", "shape ", shape_str(s),
             " has more elements than int64 can count");
  return n;
}

Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    TG_CHECK(!__builtin_mul_overflow(acc, std::max<int64_t>(s[i], 1), &acc), "contiguous_strides",
             "the strides of shape ", shape_str(s), " overflow int64");
  }
  return st;
}

namespace detail {

void check_shape(const char* op, const Shape& shape, size_t itemsize) {
  TG_CHECK(shape.size() <= static_cast<size_t>(kernels::kMaxDims), op, "shape ", shape_str(shape),
           " has ", shape.size(), " dims; at most ", kernels::kMaxDims, " are supported");
  for (int64_t d : shape) TG_CHECK(d >= 0, op, "negative size ", d, " in shape ", shape_str(shape));
  // extent: the product of the non-zero sizes. It is the element count when no size is 0, and
  // bounds every contiguous stride either way (an empty tensor still has strides).
  const bool has_zero = std::find(shape.begin(), shape.end(), 0) != shape.end();
  int64_t extent = 1;
  for (int64_t d : shape) {
    TG_CHECK(!__builtin_mul_overflow(extent, std::max<int64_t>(d, 1), &extent), op, "shape ",
             shape_str(shape), " is too large: the product of its non-zero sizes (",
             has_zero ? "the strides" : "the element count and the strides", ") overflows int64");
  }
  const int64_t numel = has_zero ? 0 : extent;
  int64_t bytes = 0;
  TG_CHECK(!__builtin_mul_overflow(numel, static_cast<int64_t>(itemsize), &bytes), op, "shape ",
           shape_str(shape), " is too large: ", numel, " elements of ", itemsize,
           " bytes are more bytes than int64 can count");
}

}  // namespace detail

namespace {

const TensorImpl& get(const TensorImpl* impl, const char* op) {
  TG_CHECK(impl != nullptr, op, "the tensor is undefined");
  return *impl;
}

}  // namespace

const Shape& Tensor::shape() const {
  return get(impl_.get(), "Tensor::shape").shape;
}
const std::vector<int64_t>& Tensor::strides() const {
  return get(impl_.get(), "Tensor::strides").strides;
}
int64_t Tensor::offset() const {
  return get(impl_.get(), "Tensor::offset").offset;
}
int64_t Tensor::dim() const {
  return static_cast<int64_t>(shape().size());
}
int64_t Tensor::size(int64_t d) const {
  return shape()[detail::wrap_dim("Tensor::size", d, dim())];
}
int64_t Tensor::numel() const {
  return shape_numel(shape());
}
DType Tensor::dtype() const {
  return get(impl_.get(), "Tensor::dtype").dtype;
}
Device Tensor::device() const {
  return storage()->device();
}
std::string Tensor::shape_str() const {
  return tg::shape_str(shape());
}
const std::shared_ptr<Storage>& Tensor::storage() const {
  return get(impl_.get(), "Tensor::storage").storage;
}
bool Tensor::shares_storage(const Tensor& other) const {
  return defined() && other.defined() && impl_->storage == other.impl_->storage;
}

bool Tensor::is_contiguous() const {
  const Shape& s = shape();
  if (numel() == 0) return true;
  int64_t expect = 1;
  for (size_t i = s.size(); i-- > 0;) {
    if (s[i] != 1 && impl_->strides[i] != expect) return false;
    expect *= s[i];
  }
  return true;
}

kernels::Strided Tensor::strided() const {
  TG_CHECK(dim() <= kernels::kMaxDims, "Tensor::strided", "shape ", shape_str(), " has ", dim(),
           " dims; kernels support at most ", kernels::kMaxDims);
  kernels::Strided st;
  st.ndim = static_cast<int>(dim());
  for (int i = 0; i < st.ndim; ++i) {
    st.shape[i] = impl_->shape[i];
    st.strides[i] = impl_->strides[i];
  }
  return st;
}

void* Tensor::raw_data() const {
  const auto& s = storage();
  return static_cast<char*>(s->data()) + impl_->offset * static_cast<int64_t>(dtype_size(dtype()));
}

template <typename T>
T* Tensor::data() const {
  TG_CHECK(dtype() == dtype_of<T>(), "Tensor::data", "requested ", dtype_name(dtype_of<T>()),
           " but the tensor is ", dtype_name(dtype()), " (shape ", shape_str(), ")");
  return static_cast<T*>(raw_data());
}
template float* Tensor::data<float>() const;
template double* Tensor::data<double>() const;
template int32_t* Tensor::data<int32_t>() const;
template uint8_t* Tensor::data<uint8_t>() const;

Tensor empty(const Shape& shape, DType dtype, Device device) {
  detail::check_shape("empty", shape, dtype_size(dtype));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(shape_numel(shape) * dtype_size(dtype), device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor make_view(const Tensor& base, Shape shape, std::vector<int64_t> strides, int64_t offset) {
  const TensorImpl& b = get(base.impl(), "make_view");
  detail::check_shape("make_view", shape, dtype_size(b.dtype));
  TG_CHECK(shape.size() == strides.size() && offset >= 0, "make_view", "shape ", shape_str(shape),
           " with strides ", shape_str(strides), " and offset ", offset, " is malformed");
  // The last element this view can reach must lie inside the storage (an overflow on the way
  // reaches outside it too).
  if (shape_numel(shape) > 0) {
    int64_t lo = offset, hi = offset, step = 0;
    bool overflow = false;
    for (size_t i = 0; i < shape.size(); ++i) {
      int64_t& end = strides[i] < 0 ? lo : hi;
      overflow = overflow || __builtin_mul_overflow(strides[i], shape[i] - 1, &step) ||
                 __builtin_add_overflow(end, step, &end);
    }
    const int64_t cap = static_cast<int64_t>(b.storage->nbytes() / dtype_size(b.dtype));
    TG_CHECK(!overflow && lo >= 0 && hi < cap, "make_view", "shape ", shape_str(shape),
             " with strides ", shape_str(strides), " and offset ", offset,
             " reaches outside its storage of ", cap, " elements");
  }
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = b.storage;
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = b.dtype;
  return Tensor(std::move(impl));
}

namespace detail {

void refuse_grad(const char* op, const Tensor& x) {
  if (!x.defined() || !x.requires_grad() || !GradMode::enabled()) return;
  std::string_view name(op);
  if (auto p = name.rfind("::"); p != std::string_view::npos) name.remove_prefix(p + 2);
  if (!name.empty() && name.back() == '_')
    TG_FAIL(op,
            "the tensor requires grad; an in-place raw update of it is allowed only under "
            "tg::NoGrad (as optimizers do)");
  TG_FAIL(op,
          "the tensor requires grad, and this raw op would drop its gradient; use the "
          "autograd op (tg::",
          name, ") or run it under tg::NoGrad");
}

int64_t wrap_dim(const char* op, int64_t d, int64_t ndim) {
  if (ndim == 0) TG_FAIL(op, "dim ", d, " is out of range for a 0-d tensor");
  TG_CHECK(d >= -ndim && d < ndim, op, "dim ", d, " is out of range for a tensor with ", ndim,
           " dims (expected [", -ndim, ", ", ndim - 1, "])");
  return d < 0 ? d + ndim : d;
}

void require_cpu(const char* op, const Tensor& x) {
  TG_CHECK(x.defined(), op, "an input tensor is undefined");
  TG_CHECK(x.device().is_cpu(), op, "the tensor is on ", x.device().str(),
           ": this op runs on the CPU only");
}

void require_defined(const char* op, const Tensor& x) {
  TG_CHECK(x.defined(), op, "an input tensor is undefined");
}

Device same_device(const char* op, const Tensor& a, const Tensor& b) {
  TG_CHECK(a.defined() && b.defined(), op, "an input tensor is undefined");
  TG_CHECK(a.device() == b.device(), op, "tensors are on different devices: ", a.device().str(),
           " ", a.shape_str(), " and ", b.device().str(), " ", b.shape_str(),
           " (move one with .to(device))");
  return a.device();
}

void no_cuda_kernel(const char* fn) {
  TG_FAIL(fn, "this build has no CUDA backend (configured without nvcc, or with -DTG_CUDA=OFF)");
}

}  // namespace detail

// Autograd fields: plain data here; the tape in autograd/ gives them meaning.
bool Tensor::requires_grad() const {
  return get(impl_.get(), "Tensor::requires_grad").requires_grad;
}

Tensor& Tensor::requires_grad_(bool on) {
  const TensorImpl& i = get(impl_.get(), "Tensor::requires_grad_");
  TG_CHECK(!on || is_floating(i.dtype), "Tensor::requires_grad_",
           "only floating tensors can require grad, this one is ", dtype_name(i.dtype));
  TG_CHECK(i.node == 0, "Tensor::requires_grad_",
           "only leaves can be changed; this tensor is the output of tape node #", i.node,
           " (detach() it first)");
  impl_->requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const {
  return get(impl_.get(), "Tensor::grad").grad;
}

void Tensor::set_grad(const Tensor& g) {
  const TensorImpl& i = get(impl_.get(), "Tensor::set_grad");
  if (g.defined()) {
    TG_CHECK(g.shape() == i.shape && g.dtype() == i.dtype, "Tensor::set_grad", "gradient of shape ",
             g.shape_str(), " and dtype ", dtype_name(g.dtype()), " for a tensor of shape ",
             tg::shape_str(i.shape), " and dtype ", dtype_name(i.dtype));
  }
  impl_->grad = g;
}

bool Tensor::is_leaf() const {
  return get(impl_.get(), "Tensor::is_leaf").node == 0;
}

Tensor Tensor::detach() const {
  const TensorImpl& i = get(impl_.get(), "Tensor::detach");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = i.storage;
  impl->shape = i.shape;
  impl->strides = i.strides;
  impl->offset = i.offset;
  impl->dtype = i.dtype;
  return Tensor(std::move(impl));
}

}  // namespace tg
