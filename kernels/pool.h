// Pooling kernels on NCHW planes: max (with argmax indices), average and adaptive average,
// forward and backward.
//
// A kernel sees `planes` contiguous (h, w) input planes (N*C of them) and writes `planes`
// contiguous (oh, ow) output planes. Window (i, j) of a max or average pool covers rows
// i*sh - ph + a*dh for a in [0, kh) (dh = 1 for average) and likewise columns; positions in the
// padding are skipped. The output sizes come from the caller (pool2d_out_size below, PyTorch's
// formula). OpenMP runs over planes; each plane is one thread's, summed in a fixed order, so
// results do not depend on the thread count. Cost: planes*oh*ow*kh*kw compares or adds,
// (h*w + oh*ow) * planes * sizeof(T) bytes (plus the int32 indices of max).
// The CUDA twins (kernels/cuda/pool.cu) compute the same sums in the same order (backward as a
// gather over the windows that cover each input element, no atomics), so they match the CPU's
// results bit for bit.
#pragma once

#include <cstdint>

namespace tg::kernels {

struct Pool2dShape {
  int64_t planes = 0;  // N * C
  int64_t h = 0, w = 0;
  int64_t oh = 0, ow = 0;
  int64_t kh = 1, kw = 1;  // kernel
  int64_t sh = 1, sw = 1;  // stride
  int64_t ph = 0, pw = 0;  // padding (each side)
  int64_t dh = 1, dw = 1;  // dilation (max pool only)
};

// PyTorch's output size of one spatial dim: floor or ceil of
// (in + 2*pad - dilation*(kernel-1) - 1) / stride, plus 1; in ceil mode the last window must
// start inside the input or its left padding. May be <= 0 for a too-small input (the caller
// refuses that).
inline int64_t pool2d_out_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad,
                               int64_t dilation, bool ceil_mode) {
  const int64_t span = in + 2 * pad - dilation * (kernel - 1) - 1;
  if (span < 0) return 0;
  int64_t out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

}  // namespace tg::kernels

namespace tg::kernels::cpu {

// y (planes, oh, ow) = the window maxima of x (planes, h, w); idx = each maximum's flat index
// i*w + j in its input plane (PyTorch's indices). Ties keep the first index in row-major window
// order; a NaN wins (and propagates), as in PyTorch.
template <typename T>
void max_pool2d(const T* x, const Pool2dShape& s, T* y, int32_t* idx);
// gx (planes, h, w) = 0, then gy added at each idx (overlapping windows accumulate).
template <typename T>
void max_pool2d_backward(const T* gy, const int32_t* idx, const Pool2dShape& s, T* gx);

// y = window means. The divisor is the window clipped to the padded input when
// count_include_pad, else the number of real input elements in it (PyTorch's rule).
template <typename T>
void avg_pool2d(const T* x, const Pool2dShape& s, bool count_include_pad, T* y);
template <typename T>
void avg_pool2d_backward(const T* gy, const Pool2dShape& s, bool count_include_pad, T* gx);

// Output (i, j) averages rows [floor(i*h/oh), ceil((i+1)*h/oh)) and the same for columns.
// Only s.planes, h, w, oh, ow are read.
template <typename T>
void adaptive_avg_pool2d(const T* x, const Pool2dShape& s, T* y);
template <typename T>
void adaptive_avg_pool2d_backward(const T* gy, const Pool2dShape& s, T* gx);

}  // namespace tg::kernels::cpu

// The CUDA twins: the same contracts on device pointers, queued on the current stream.
namespace tg::kernels::cuda {

template <typename T>
void max_pool2d(const T* x, const Pool2dShape& s, T* y, int32_t* idx);
template <typename T>
void max_pool2d_backward(const T* gy, const int32_t* idx, const Pool2dShape& s, T* gx);
template <typename T>
void avg_pool2d(const T* x, const Pool2dShape& s, bool count_include_pad, T* y);
template <typename T>
void avg_pool2d_backward(const T* gy, const Pool2dShape& s, bool count_include_pad, T* gx);
template <typename T>
void adaptive_avg_pool2d(const T* x, const Pool2dShape& s, T* y);
template <typename T>
void adaptive_avg_pool2d_backward(const T* gy, const Pool2dShape& s, T* gx);

}  // namespace tg::kernels::cuda
