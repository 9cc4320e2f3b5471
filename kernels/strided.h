// Strided: the shape and element strides of an n-d array, the only "tensor" kernels see.
//
// Broadcasting is expressed by the caller as stride 0 on a broadcast axis, so a kernel that
// walks a Strided input in the output's shape needs to know nothing about broadcasting.
#pragma once

#include <cstdint>

namespace tg::kernels {

inline constexpr int kMaxDims = 8;

struct Strided {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};  // in elements, may be 0 (broadcast) or negative

  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < ndim; ++i) n *= shape[i];
    return n;
  }
  // True when the elements are laid out densely in row-major order.
  bool contiguous() const {
    int64_t expect = 1;
    for (int i = ndim - 1; i >= 0; --i) {
      if (shape[i] != 1 && strides[i] != expect) return false;
      expect *= shape[i];
    }
    return true;
  }
};

}  // namespace tg::kernels
