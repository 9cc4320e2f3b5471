// Softmax, log-softmax and the fused cross-entropy on the CPU, row-wise over contiguous
// (rows, cols) arrays, each row in one pass of max, one of exp-sum (numerically stable:
// x - max). Rows are spread over OpenMP threads; each row is computed by one thread in a
// fixed order. Cost: about 4*rows*cols FLOPs plus rows*cols exp.
#pragma once

#include <cstdint>

#include "base/error.h"

// The size check shared by the CPU and CUDA twins (same message on every device).
namespace tg::kernels::detail {
inline void softmax_sizes_check(const char* op, int64_t rows, int64_t cols) {
  TG_CHECK(rows >= 0 && cols >= 0, op, "negative size (", rows, ", ", cols, ")");
}
}  // namespace tg::kernels::detail

namespace tg::kernels::cpu {

template <typename T>
void softmax(const T* x, int64_t rows, int64_t cols, T* y);
template <typename T>
void log_softmax(const T* x, int64_t rows, int64_t cols, T* y);
// gx = y * (gy - sum_j(gy * y)), y the softmax output.
template <typename T>
void softmax_backward(const T* y, const T* gy, int64_t rows, int64_t cols, T* gx);
// gx = gy - exp(y) * sum_j(gy), y the log-softmax output.
template <typename T>
void log_softmax_backward(const T* y, const T* gy, int64_t rows, int64_t cols, T* gx);

// Mean cross-entropy of logits (rows, cols) against int32 labels in [0, cols): returns
// mean_i(logsumexp(x_i) - x_i[label_i]). When probs is not null it receives softmax(x) for the
// backward pass. A label out of range throws tg::Error naming the row and the label.
template <typename T>
T cross_entropy(const T* logits, const int32_t* labels, int64_t rows, int64_t cols, T* probs);
// glogits = scale * (probs - onehot(labels)); scale is d(loss)/d(mean) / rows.
template <typename T>
void cross_entropy_backward(const T* probs, const int32_t* labels, int64_t rows, int64_t cols,
                            T scale, T* glogits);

}  // namespace tg::kernels::cpu

// The CUDA twins (kernels/cuda/softmax.cu), one block (or warp) per row, queued on the current
// stream. cross_entropy writes the mean loss to *loss in device memory instead of returning it
// (returning would synchronise the host). A label out of range cannot throw from the device:
// the kernel records it with report_device_error (kernels/cuda/runtime.h), writes NaN to the
// loss, and the host raises tg::Error naming the row and label at its next synchronisation.
// cross_entropy_backward takes the upstream gradient of the loss as a device scalar (gloss,
// may be null for 1) so that the backward pass never reads it on the host:
//   glogits = (*gloss) * scale * (probs - onehot(labels)).
namespace tg::kernels::cuda {

template <typename T>
void softmax(const T* x, int64_t rows, int64_t cols, T* y);
template <typename T>
void log_softmax(const T* x, int64_t rows, int64_t cols, T* y);
template <typename T>
void softmax_backward(const T* y, const T* gy, int64_t rows, int64_t cols, T* gx);
template <typename T>
void log_softmax_backward(const T* y, const T* gy, int64_t rows, int64_t cols, T* gx);
template <typename T>
void cross_entropy(const T* logits, const int32_t* labels, int64_t rows, int64_t cols, T* probs,
                   T* loss);
template <typename T>
void cross_entropy_backward(const T* probs, const int32_t* labels, int64_t rows, int64_t cols,
                            const T* gloss, T scale, T* glogits);

}  // namespace tg::kernels::cuda
