// Tensor: a view (shape, strides, offset, dtype) onto shared Storage, plus the autograd fields
// that the tape in autograd/ reads and writes.
//
//   tg::Tensor x = tg::randn({64, 784});          // float32, CPU, contiguous
//   tg::Tensor w = x.narrow(1, 0, 10).t();         // a view: no copy, shares x's storage
//   float v = w.at<float>({3, 2});                 // one element
//   std::cout << w;                                // tensor([[...]], shape=[10, 64], ...)
//
// Copying a Tensor copies a handle: both refer to the same TensorImpl. Methods here never
// record on the autograd tape: the differentiable ops (tg::reshape, tg::matmul, operator+ ...)
// are in autograd/. So that a gradient is never lost silently, the view and copy methods refuse
// a tensor that requires grad while grad mode is on (use the autograd op, or tg::NoGrad).
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/hook_handle.h"
#include "kernels/strided.h"
#include "tensor/dtype.h"
#include "tensor/storage.h"

namespace tg {

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);     // "[2, 3]"
int64_t shape_numel(const Shape& s);       // throws when the count overflows int64
Shape contiguous_strides(const Shape& s);  // throws when a stride overflows int64

struct TensorImpl;

class Tensor {
 public:
  Tensor() = default;  // undefined: defined() is false
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }

  // Metadata.
  const Shape& shape() const;
  const std::vector<int64_t>& strides() const;
  int64_t offset() const;
  int64_t dim() const;
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const;
  DType dtype() const;
  Device device() const;
  bool is_contiguous() const;
  std::string shape_str() const;
  kernels::Strided strided() const;  // for kernels; throws if dim() > kMaxDims

  // Data. data<T>() checks the dtype and points at element 0 of this view (offset applied).
  template <typename T>
  T* data() const;
  void* raw_data() const;  // element 0 of this view
  const std::shared_ptr<Storage>& storage() const;
  bool shares_storage(const Tensor& other) const;
  template <typename T>
  T item() const;  // the value of a one-element tensor, converted to T
  template <typename T>
  T at(std::initializer_list<int64_t> index) const;  // one element, bounds-checked
  template <typename T>
  std::vector<T> to_vector() const;  // all elements in row-major order

  // Views: no copy, share storage. Negative dims count from the end.
  Tensor view(Shape shape) const;     // needs compatible strides; one -1 allowed
  Tensor reshape(Shape shape) const;  // a view when possible, else a contiguous copy
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor t() const;  // 2-d transpose
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;  // Python-like
  Tensor select(int64_t dim, int64_t index) const;                                // removes dim
  Tensor squeeze() const;
  Tensor squeeze(int64_t dim) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor expand(const Shape& shape) const;  // size-1 dims to any size (stride 0); -1 keeps
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;

  // Copies.
  Tensor contiguous() const;  // this tensor itself when already contiguous
  Tensor clone() const;       // always a new contiguous copy
  Tensor to(DType dtype) const;
  Tensor to(Device device) const;
  // Moves this tensor's data to device in place: every handle to this tensor (an optimizer's,
  // a module's) sees it there; its gradient moves too. Views made earlier keep the old data.
  // How Module::to moves parameters. Allowed on tensors that require grad (leaves only).
  Tensor& to_(Device device);
  Tensor index_select(int64_t dim, const Tensor& index) const;  // int32 index, 1-d
  Tensor gather(int64_t dim, const Tensor& index) const;        // torch.gather

  // In place (raw: never recorded; allowed on leaves that require grad only under NoGrad).
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0); }
  Tensor& copy_(const Tensor& src);  // src broadcast to this shape, dtype converted

  // Autograd fields (the tape lives in autograd/).
  bool requires_grad() const;
  Tensor& requires_grad_(bool on = true);  // leaves only
  Tensor grad() const;                     // undefined until a backward reaches it
  void set_grad(const Tensor& g);
  bool is_leaf() const;
  Tensor detach() const;  // same storage, no autograd history, requires_grad false

  std::string str() const;
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// A gradient hook (autograd/hooks.h): called in backward with the tensor's gradient; returns a
// replacement, or an undefined Tensor to keep it.
using GradHook = std::function<Tensor(const Tensor& grad)>;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  std::vector<int64_t> strides;
  int64_t offset = 0;  // in elements
  DType dtype = DType::f32;

  // Autograd. node: the tape sequence number of the op that produced this tensor (0 for a
  // leaf or a tensor made without recording); grad: accumulated gradient (leaves keep it).
  bool requires_grad = false;
  uint64_t node = 0;
  Tensor grad;
  // Gradient hooks (tg::register_hook), made on the first; null when there are none.
  std::shared_ptr<detail::HookList<GradHook>> grad_hooks;
};

// Every tensor is built by one of these two, and both check the shape first
// (detail::check_shape): every size >= 0, at most kMaxDims of them, and the element count, the
// byte size and every stride fit in int64, so no later shape arithmetic can overflow.
// Makes a new contiguous, uninitialised tensor.
Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
// A view onto existing storage.
Tensor make_view(const Tensor& base, Shape shape, std::vector<int64_t> strides, int64_t offset);

namespace detail {
// Refuses (tg::Error from op, naming the shape and what overflows) a shape with a negative
// size or more than kMaxDims dims, or whose product of non-zero sizes (which bounds the element
// count and every contiguous stride, even when a zero size leaves no elements) or byte size
// (elements x itemsize) does not fit in int64.
void check_shape(const char* op, const Shape& shape, size_t itemsize);
// Throws when x requires grad while grad mode is on: raw ops would lose its gradient.
void refuse_grad(const char* op, const Tensor& x);
// d in [-ndim, ndim) mapped to [0, ndim); anything else throws naming op, d and ndim.
int64_t wrap_dim(const char* op, int64_t d, int64_t ndim);
// Throws unless x is defined and on the CPU (for host-only code paths).
void require_cpu(const char* op, const Tensor& x);
// Throws unless x is defined.
void require_defined(const char* op, const Tensor& x);
}  // namespace detail

}  // namespace tg
