// A (height, width) pair for the 2-d ops (conv2d's stride, padding and dilation; the pooling
// ops' kernel, stride and padding): Size2(2) is (2, 2), Size2(2, 3) or {2, 3} is (2, 3).
#pragma once

#include <cstdint>

namespace tg {

struct Size2 {
  int64_t h = 0, w = 0;
  Size2(int64_t v) : h(v), w(v) {}  // NOLINT(google-explicit-constructor): as PyTorch's ints
  Size2(int64_t h_, int64_t w_) : h(h_), w(w_) {}
  bool operator==(const Size2&) const = default;
};

}  // namespace tg
