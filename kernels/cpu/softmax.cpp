// Row-wise softmax, log-softmax, their backward passes, and the fused cross-entropy, on the CPU.
//
// Algorithm: each row of a contiguous (rows, cols) array is handled by one thread, start to
// end, in a fixed order: a max pass, then exp(x - max) stored (in the output or a per-thread
// row buffer) and summed by the fixed-order tree (subtracting the max keeps every exp in
// (0, 1], so x = 1000 neither overflows nor loses the row), then a scaling pass.
// Rows are spread over OpenMP threads above kParallelMin elements. cross_entropy checks every
// label first (so a bad label throws before anything is written and never from inside an
// OpenMP region), keeps each row's loss in a scratch buffer and sums them with the fixed-order
// tree, so the mean is bit-identical for any thread count.
// Cost: about 4 * rows * cols FLOPs plus rows * cols exp (the exp dominates); the input read
// twice from memory, the output written once (the row buffer stays in cache).
#include <cmath>
#include <limits>

#include "base/error.h"
#include "kernels/cpu/common.h"
#include "kernels/softmax.h"

namespace tg::kernels::cpu {

namespace {

using detail::kParallelMin;

template <typename T>
T row_max(const T* x, int64_t n) {
  T m = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : m)
  for (int64_t j = 0; j < n; ++j) m = x[j] > m ? x[j] : m;
  return m;
}

// e[j] = exp(x[j] - m); returns their sum, taken by the fixed-order tree. softmax, log_softmax
// and cross_entropy all sum this way, so they agree to the last bit on the normaliser.
template <typename T>
T exp_sum(const T* x, int64_t n, T m, T* e) {
  for (int64_t j = 0; j < n; ++j) e[j] = std::exp(x[j] - m);
  return detail::tree_sum(e, n);
}

// A row of exps for kernels with no output to keep them in: one buffer per OpenMP thread
// (scratch is thread_local), tagged apart from cross_entropy's per-row losses.
template <typename T>
T* row_buffer(int64_t cols) {
  return detail::scratch<T, 1>(cols);
}

// The first row whose label is outside [0, cols), or -1. Serial and outside any OpenMP region,
// so the throw that follows is an ordinary one.
int64_t first_bad_label(const int32_t* labels, int64_t rows, int64_t cols) {
  for (int64_t i = 0; i < rows; ++i)
    if (labels[i] < 0 || labels[i] >= cols) return i;
  return -1;
}

void check_labels(const char* op, const int32_t* labels, int64_t rows, int64_t cols) {
  const int64_t bad = first_bad_label(labels, rows, cols);
  TG_CHECK(bad < 0, op, "label ", bad < 0 ? 0 : labels[bad], " at row ", bad,
           " is out of range for ", cols, " classes");
}

}  // namespace

template <typename T>
void softmax(const T* x, int64_t rows, int64_t cols, T* y) {
  kernels::detail::softmax_sizes_check("softmax", rows, cols);
  detail::parallel_for(rows, rows * cols >= kParallelMin, [&](int64_t i) {
    const T* xr = x + i * cols;
    T* yr = y + i * cols;
    const T s = exp_sum(xr, cols, row_max(xr, cols), yr);  // in place even when y == x
    for (int64_t j = 0; j < cols; ++j) yr[j] /= s;
  });
}

template <typename T>
void log_softmax(const T* x, int64_t rows, int64_t cols, T* y) {
  kernels::detail::softmax_sizes_check("log_softmax", rows, cols);
  detail::parallel_for(rows, rows * cols >= kParallelMin, [&](int64_t i) {
    const T* xr = x + i * cols;
    T* yr = y + i * cols;
    const T m = row_max(xr, cols);
    // y = (x - m) - log(sum exp(x - m)); the exps go to a side buffer, so y may alias x.
    const T lse = std::log(exp_sum(xr, cols, m, row_buffer<T>(cols)));
    for (int64_t j = 0; j < cols; ++j) yr[j] = (xr[j] - m) - lse;
  });
}

template <typename T>
void softmax_backward(const T* y, const T* gy, int64_t rows, int64_t cols, T* gx) {
  kernels::detail::softmax_sizes_check("softmax_backward", rows, cols);
  detail::parallel_for(rows, rows * cols >= kParallelMin, [&](int64_t i) {
    const T* yr = y + i * cols;
    const T* gr = gy + i * cols;
    T* gxr = gx + i * cols;
    T dot = 0;
    for (int64_t j = 0; j < cols; ++j) dot += gr[j] * yr[j];
    for (int64_t j = 0; j < cols; ++j) gxr[j] = yr[j] * (gr[j] - dot);
  });
}

template <typename T>
void log_softmax_backward(const T* y, const T* gy, int64_t rows, int64_t cols, T* gx) {
  kernels::detail::softmax_sizes_check("log_softmax_backward", rows, cols);
  detail::parallel_for(rows, rows * cols >= kParallelMin, [&](int64_t i) {
    const T* yr = y + i * cols;
    const T* gr = gy + i * cols;
    T* gxr = gx + i * cols;
    T s = 0;
    for (int64_t j = 0; j < cols; ++j) s += gr[j];
    for (int64_t j = 0; j < cols; ++j) gxr[j] = gr[j] - std::exp(yr[j]) * s;
  });
}

template <typename T>
T cross_entropy(const T* logits, const int32_t* labels, int64_t rows, int64_t cols, T* probs) {
  kernels::detail::softmax_sizes_check("cross_entropy", rows, cols);
  check_labels("cross_entropy", labels, rows, cols);
  // The mean over no rows is 0/0, as torch.nn.functional.cross_entropy gives for an empty batch.
  if (rows == 0) return std::numeric_limits<T>::quiet_NaN();
  T* loss = detail::scratch<T>(rows);
  detail::parallel_for(rows, rows * cols >= kParallelMin, [&](int64_t i) {
    const T* xr = logits + i * cols;
    const T m = row_max(xr, cols);
    // With probs the exps are kept there (one exp per logit); without, in a side buffer.
    T* e = probs ? probs + i * cols : row_buffer<T>(cols);
    const T s = exp_sum(xr, cols, m, e);
    // loss = logsumexp(x) - x[label] = log(s) - (x[label] - m): both terms stay small when the
    // logits are large, where m + log(s) - x[label] would cancel.
    loss[i] = std::log(s) - (xr[labels[i]] - m);
    if (probs)
      for (int64_t j = 0; j < cols; ++j) e[j] /= s;
  });
  return detail::tree_sum(loss, rows) / static_cast<T>(rows);
}

template <typename T>
void cross_entropy_backward(const T* probs, const int32_t* labels, int64_t rows, int64_t cols,
                            T scale, T* glogits) {
  kernels::detail::softmax_sizes_check("cross_entropy_backward", rows, cols);
  check_labels("cross_entropy_backward", labels, rows, cols);
  detail::parallel_for(rows, rows * cols >= kParallelMin, [&](int64_t i) {
    const T* pr = probs + i * cols;
    T* gr = glogits + i * cols;
    for (int64_t j = 0; j < cols; ++j) gr[j] = scale * pr[j];
    gr[labels[i]] = scale * (pr[labels[i]] - T(1));
  });
}

#define TG_INSTANTIATE(T)                                                          \
  template void softmax<T>(const T*, int64_t, int64_t, T*);                        \
  template void log_softmax<T>(const T*, int64_t, int64_t, T*);                    \
  template void softmax_backward<T>(const T*, const T*, int64_t, int64_t, T*);     \
  template void log_softmax_backward<T>(const T*, const T*, int64_t, int64_t, T*); \
  template T cross_entropy<T>(const T*, const int32_t*, int64_t, int64_t, T*);     \
  template void cross_entropy_backward<T>(const T*, const int32_t*, int64_t, int64_t, T, T*);
TG_INSTANTIATE(float)
TG_INSTANTIATE(double)
#undef TG_INSTANTIATE

}  // namespace tg::kernels::cpu
