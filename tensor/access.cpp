// Reading elements out: item(), at() and to_vector(), each converting to the caller's type.
// They read and never record, so they work on tensors that require grad (loss.item<float>()).
// A tensor on another device is copied to the CPU first.
#include "tensor/dtype.h"
#include "tensor/tensor.h"

namespace tg {

namespace {

// The tensor on the CPU (itself when it is there already), detached so that to() accepts it.
Tensor on_cpu(const Tensor& x) {
  return x.device().is_cpu() ? x : x.detach().to(Device::cpu());
}

// Element `offset` (in elements, from the start of the storage) of x, converted to T.
template <typename T>
T read(const Tensor& x, int64_t offset) {
  const void* base = x.storage()->data();
  return TG_DISPATCH_ALL(x.dtype(), "Tensor::read", [&] {
    return static_cast<T>(static_cast<const scalar_t*>(base)[offset]);
  });
}

}  // namespace

template <typename T>
T Tensor::item() const {
  TG_CHECK(numel() == 1, "Tensor::item", "needs a tensor of one element, got shape ", shape_str(),
           " (", numel(), " elements)");
  Tensor h = on_cpu(*this);
  return read<T>(h, h.offset());
}

template <typename T>
T Tensor::at(std::initializer_list<int64_t> index) const {
  TG_CHECK(static_cast<int64_t>(index.size()) == dim(), "Tensor::at", "got ", index.size(),
           " indices for a tensor of shape ", shape_str());
  Tensor h = on_cpu(*this);
  int64_t off = h.offset(), d = 0;
  for (int64_t i : index) {
    const int64_t n = h.shape()[d];
    TG_CHECK(i >= -n && i < n, "Tensor::at", "index ", i, " is out of range for dim ", d,
             " of size ", n, " (shape ", shape_str(), ")");
    off += (i < 0 ? i + n : i) * h.strides()[d];
    ++d;
  }
  return read<T>(h, off);
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  Tensor h = on_cpu(*this).detach().contiguous();
  std::vector<T> out(static_cast<size_t>(h.numel()));
  const int64_t off = h.offset();
  TG_DISPATCH_ALL(h.dtype(), "Tensor::to_vector", [&] {
    const scalar_t* p = static_cast<const scalar_t*>(h.storage()->data()) + off;
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<T>(p[i]);
  });
  return out;
}

#define TG_INSTANTIATE_ACCESS(T)                                  \
  template T Tensor::item<T>() const;                             \
  template T Tensor::at<T>(std::initializer_list<int64_t>) const; \
  template std::vector<T> Tensor::to_vector<T>() const;
TG_INSTANTIATE_ACCESS(float)
TG_INSTANTIATE_ACCESS(double)
TG_INSTANTIATE_ACCESS(int32_t)
TG_INSTANTIATE_ACCESS(uint8_t)
TG_INSTANTIATE_ACCESS(int64_t)
#undef TG_INSTANTIATE_ACCESS

}  // namespace tg
