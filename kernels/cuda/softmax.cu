// Row-wise softmax, log-softmax, their backward passes and the fused cross-entropy on the GPU
// (the twins of kernels/cpu/softmax.cpp; kernels/softmax.h has the contract).
//
// Algorithm. A row of a contiguous (rows, cols) array belongs to one group of threads: a warp
// when cols <= kWarpColsMax (MNIST's 10 classes: 8 rows per 256-thread block), otherwise a
// block of kBlockThreads. Thread t of the group takes elements t, t + group size, ... in
// order, and a row reduction combines the threads in a fixed tree (warp shuffles, then the
// warps' results in order), so every result depends only on the sizes. Passes per row, as on
// the CPU: the max (NaN skipped, as the CPU's row_max), then sum exp(x - max) (every exp in
// (0, 1], so large logits neither overflow nor lose the row), then the outputs
// (softmax: exp(x - m) / s, recomputed rather than stored; log_softmax: (x - m) - log(s)).
// Each element is read and written by one thread only, so y may alias x.
// cross_entropy is two launches: per-row losses log(s) - (x[label] - m) into a per-stream
// scratch buffer (and softmax into probs), then one block sums them in a fixed order and
// writes the mean to the device scalar. A label outside [0, cols) is recorded with
// report_device_error, and its row's loss (so the mean) is NaN.
// Cost per element: about 4 FLOPs, and one exp per pass that needs it (softmax 2, as the exps
// are recomputed rather than stored; log_softmax, log_softmax_backward and cross_entropy 1,
// plus 1 for probs); the input is read two or three times (the later reads hit L1/L2 for rows
// of up to tens of thousands of columns) and the output written once.
#include <cstdint>
#include <limits>
#include <type_traits>
#include <utility>

#include "base/error.h"
#include "kernels/cuda/device.cuh"
#include "kernels/cuda/runtime.h"
#include "kernels/softmax.h"

namespace tg::kernels::cuda {

namespace {

constexpr int kWarp = 32;
constexpr unsigned kFullMask = 0xffffffffu;
constexpr int64_t kWarpColsMax = 1024;  // rows up to this long take one warp each
constexpr int kWarpModeThreads = 256;   // block size in warp mode: 8 rows per block
constexpr int kBlockThreads = 512;      // one row per block beyond kWarpColsMax
constexpr int kMeanThreads = 256;       // the block that averages cross_entropy's row losses
constexpr int64_t kMaxBlocks = 65535;   // grid-stride loops cover more rows than this

// Threads per row -> threads per block and rows per block.
template <int kGroup>
constexpr int kBlockDim = kGroup == kWarp ? kWarpModeThreads : kGroup;
template <int kGroup>
constexpr int kGroupsPerBlock = kBlockDim<kGroup> / kGroup;

__device__ inline float dexp(float v) {
  return expf(v);
}
__device__ inline double dexp(double v) {
  return exp(v);
}
__device__ inline float dlog(float v) {
  return logf(v);
}
__device__ inline double dlog(double v) {
  return log(v);
}

struct MaxOp {  // as the CPU's row_max: x > m ? x : m, so NaN never becomes the max
  template <typename T>
  __device__ T operator()(T m, T v) const {
    return v > m ? v : m;
  }
};
struct AddOp {
  template <typename T>
  __device__ T operator()(T a, T b) const {
    return a + b;
  }
};

// The f-reduction of v over the row's group, returned to every thread of the group; all of
// them must call it. Warp: an xor butterfly (a commutative f gives every lane the same bits).
// Block: the warps' results go through smem (kBlockThreads / 32 slots) and every thread
// combines them in the same order. It ends with a barrier, so every thread's earlier reads of
// the row are done before any thread writes, and smem can be reused at once.
template <int kGroup, typename T, class F>
__device__ T row_reduce(T v, F f, T* smem) {
  for (int off = kWarp / 2; off > 0; off /= 2) v = f(v, __shfl_xor_sync(kFullMask, v, off));
  if constexpr (kGroup == kWarp) {
    __syncwarp();
    return v;
  } else {
    constexpr int kWarps = kGroup / kWarp;
    if (threadIdx.x % kWarp == 0) smem[threadIdx.x / kWarp] = v;
    __syncthreads();
    T r = smem[0];
    for (int w = 1; w < kWarps; ++w) r = f(r, smem[w]);
    __syncthreads();
    return r;
  }
}

// The thread's place in its group, the group's first row and the stride between its rows. The
// row is the same for every thread of a group, so groups enter and leave row loops whole.
template <int kGroup>
__device__ int group_thread() {
  return static_cast<int>(threadIdx.x % kGroup);
}
template <int kGroup>
__device__ int64_t first_row() {
  return static_cast<int64_t>(blockIdx.x) * kGroupsPerBlock<kGroup> + threadIdx.x / kGroup;
}
template <int kGroup>
__device__ int64_t row_stride() {
  return static_cast<int64_t>(gridDim.x) * kGroupsPerBlock<kGroup>;
}

// m = max_j x[j] and s = sum_j exp(x[j] - m) of one row.
template <int kGroup, typename T>
__device__ void max_and_sum(const T* xr, int64_t cols, T* smem, T& m, T& s) {
  const int t = group_thread<kGroup>();
  m = -std::numeric_limits<T>::infinity();
  for (int64_t j = t; j < cols; j += kGroup) m = MaxOp{}(m, xr[j]);
  m = row_reduce<kGroup>(m, MaxOp{}, smem);
  s = T(0);
  for (int64_t j = t; j < cols; j += kGroup) s += dexp(xr[j] - m);
  s = row_reduce<kGroup>(s, AddOp{}, smem);
}

template <int kGroup, bool kLog, typename T>
__global__ void __launch_bounds__(kBlockDim<kGroup>)
    softmax_kernel(const T* x, int64_t rows, int64_t cols, T* y) {
  __shared__ T smem[kBlockThreads / kWarp];
  const int t = group_thread<kGroup>();
  for (int64_t i = first_row<kGroup>(); i < rows; i += row_stride<kGroup>()) {
    const T* xr = x + i * cols;
    T* yr = y + i * cols;
    T m, s;
    max_and_sum<kGroup>(xr, cols, smem, m, s);
    if constexpr (kLog) {
      const T lse = dlog(s);
      for (int64_t j = t; j < cols; j += kGroup) yr[j] = (xr[j] - m) - lse;
    } else {
      for (int64_t j = t; j < cols; j += kGroup) yr[j] = dexp(xr[j] - m) / s;
    }
  }
}

// softmax: gx = y * (gy - sum_j(gy * y)); log_softmax: gx = gy - exp(y) * sum_j(gy).
template <int kGroup, bool kLog, typename T>
__global__ void __launch_bounds__(kBlockDim<kGroup>)
    softmax_backward_kernel(const T* y, const T* gy, int64_t rows, int64_t cols, T* gx) {
  __shared__ T smem[kBlockThreads / kWarp];
  const int t = group_thread<kGroup>();
  for (int64_t i = first_row<kGroup>(); i < rows; i += row_stride<kGroup>()) {
    const T* yr = y + i * cols;
    const T* gr = gy + i * cols;
    T* gxr = gx + i * cols;
    T acc = T(0);
    for (int64_t j = t; j < cols; j += kGroup) acc += kLog ? gr[j] : gr[j] * yr[j];
    acc = row_reduce<kGroup>(acc, AddOp{}, smem);
    if constexpr (kLog) {
      for (int64_t j = t; j < cols; j += kGroup) gxr[j] = gr[j] - dexp(yr[j]) * acc;
    } else {
      for (int64_t j = t; j < cols; j += kGroup) gxr[j] = yr[j] * (gr[j] - acc);
    }
  }
}

// Per-row losses of cross_entropy (and softmax into probs when it is not null).
template <int kGroup, typename T>
__global__ void __launch_bounds__(kBlockDim<kGroup>)
    cross_entropy_rows_kernel(const T* x, const int32_t* labels, int64_t rows, int64_t cols,
                              T* probs, T* row_loss, DeviceErrorRecord* rec) {
  __shared__ T smem[kBlockThreads / kWarp];
  const int t = group_thread<kGroup>();
  for (int64_t i = first_row<kGroup>(); i < rows; i += row_stride<kGroup>()) {
    const T* xr = x + i * cols;
    // The label's logit is read before the row reductions, whose barriers order it before any
    // write to probs (which may then alias the logits).
    int32_t label = 0;
    bool ok = false;
    T xl = T(0);
    if (t == 0) {
      label = labels[i];
      ok = label >= 0 && label < cols;
      if (ok) xl = xr[label];
    }
    T m, s;
    max_and_sum<kGroup>(xr, cols, smem, m, s);
    if (probs) {
      T* pr = probs + i * cols;
      for (int64_t j = t; j < cols; j += kGroup) pr[j] = dexp(xr[j] - m) / s;
    }
    if (t == 0) {
      if (ok) {
        // log(s) - (x[label] - m) rather than m + log(s) - x[label], which cancels when the
        // logits are large.
        row_loss[i] = dlog(s) - (xl - m);
      } else {
        report_device_error(rec, kLabelOutOfRange, i, label, cols);
        row_loss[i] = std::numeric_limits<T>::quiet_NaN();
      }
    }
  }
}

// *loss = mean of row_loss[0..rows), by one block in a fixed order (NaN for rows == 0).
template <typename T>
__global__ void __launch_bounds__(kMeanThreads)
    mean_kernel(const T* row_loss, int64_t rows, T* loss) {
  __shared__ T smem[kMeanThreads / kWarp];
  T acc = T(0);
  for (int64_t i = threadIdx.x; i < rows; i += kMeanThreads) acc += row_loss[i];
  acc = row_reduce<kMeanThreads>(acc, AddOp{}, smem);
  if (threadIdx.x == 0)
    *loss = rows > 0 ? acc / static_cast<T>(rows) : std::numeric_limits<T>::quiet_NaN();
}

// glogits = (*gloss) * scale * (probs - onehot(labels)), one thread per element.
template <typename T>
__global__ void cross_entropy_backward_kernel(const T* probs, const int32_t* labels, int64_t rows,
                                              int64_t cols, const T* gloss, T scale, T* glogits,
                                              DeviceErrorRecord* rec) {
  const T g = gloss ? *gloss * scale : scale;
  TG_GRID_STRIDE(k, rows * cols) {
    const int64_t i = k / cols, j = k - i * cols;
    const int32_t label = labels[i];
    if (label < 0 || label >= cols) {
      if (j == 0) report_device_error(rec, kLabelOutOfRange, i, label, cols);
      glogits[k] = std::numeric_limits<T>::quiet_NaN();
    } else {
      glogits[k] = g * (probs[k] - (j == label ? T(1) : T(0)));
    }
  }
}

// Launches kernel<kGroup> for the row length: a warp per row or a block per row.
template <class Launch>
void launch_rows(int64_t rows, int64_t cols, Launch launch) {
  if (cols <= kWarpColsMax) {
    launch(std::integral_constant<int, kWarp>{},
           blocks_for(rows, kGroupsPerBlock<kWarp>, kMaxBlocks));
  } else {
    launch(std::integral_constant<int, kBlockThreads>{}, blocks_for(rows, 1, kMaxBlocks));
  }
}

// Every label is out of range when there are no classes: known on the host, so thrown here.
void check_classes(const char* op, int64_t rows, int64_t cols) {
  TG_CHECK(rows == 0 || cols > 0, op, "label of row 0 is out of range for 0 classes (", rows,
           " rows)");
}

}  // namespace

template <typename T>
void softmax(const T* x, int64_t rows, int64_t cols, T* y) {
  kernels::detail::softmax_sizes_check("softmax", rows, cols);
  if (rows * cols == 0) return;
  TG_CHECK(x != nullptr && y != nullptr, "softmax", "null pointer");
  launch_rows(rows, cols, [&](auto group, unsigned blocks) {
    constexpr int kGroup = decltype(group)::value;
    softmax_kernel<kGroup, false>
        <<<blocks, kBlockDim<kGroup>, 0, current_stream()>>>(x, rows, cols, y);
    TG_CUDA_CHECK_LAUNCH("softmax");
  });
}

template <typename T>
void log_softmax(const T* x, int64_t rows, int64_t cols, T* y) {
  kernels::detail::softmax_sizes_check("log_softmax", rows, cols);
  if (rows * cols == 0) return;
  TG_CHECK(x != nullptr && y != nullptr, "log_softmax", "null pointer");
  launch_rows(rows, cols, [&](auto group, unsigned blocks) {
    constexpr int kGroup = decltype(group)::value;
    softmax_kernel<kGroup, true>
        <<<blocks, kBlockDim<kGroup>, 0, current_stream()>>>(x, rows, cols, y);
    TG_CUDA_CHECK_LAUNCH("log_softmax");
  });
}

template <typename T>
void softmax_backward(const T* y, const T* gy, int64_t rows, int64_t cols, T* gx) {
  kernels::detail::softmax_sizes_check("softmax_backward", rows, cols);
  if (rows * cols == 0) return;
  TG_CHECK(y != nullptr && gy != nullptr && gx != nullptr, "softmax_backward", "null pointer");
  launch_rows(rows, cols, [&](auto group, unsigned blocks) {
    constexpr int kGroup = decltype(group)::value;
    softmax_backward_kernel<kGroup, false>
        <<<blocks, kBlockDim<kGroup>, 0, current_stream()>>>(y, gy, rows, cols, gx);
    TG_CUDA_CHECK_LAUNCH("softmax_backward");
  });
}

template <typename T>
void log_softmax_backward(const T* y, const T* gy, int64_t rows, int64_t cols, T* gx) {
  kernels::detail::softmax_sizes_check("log_softmax_backward", rows, cols);
  if (rows * cols == 0) return;
  TG_CHECK(y != nullptr && gy != nullptr && gx != nullptr, "log_softmax_backward", "null pointer");
  launch_rows(rows, cols, [&](auto group, unsigned blocks) {
    constexpr int kGroup = decltype(group)::value;
    softmax_backward_kernel<kGroup, true>
        <<<blocks, kBlockDim<kGroup>, 0, current_stream()>>>(y, gy, rows, cols, gx);
    TG_CUDA_CHECK_LAUNCH("log_softmax_backward");
  });
}

template <typename T>
void cross_entropy(const T* logits, const int32_t* labels, int64_t rows, int64_t cols, T* probs,
                   T* loss) {
  kernels::detail::softmax_sizes_check("cross_entropy", rows, cols);
  check_classes("cross_entropy", rows, cols);
  TG_CHECK(loss != nullptr, "cross_entropy", "null loss pointer");
  const cudaStream_t s = current_stream();
  T* row_loss = nullptr;
  if (rows > 0) {
    TG_CHECK(logits != nullptr && labels != nullptr, "cross_entropy", "null pointer");
    row_loss = static_cast<T*>(scratch("cross_entropy", static_cast<size_t>(rows) * sizeof(T)));
    DeviceErrorRecord* rec = device_error_record();
    launch_rows(rows, cols, [&](auto group, unsigned blocks) {
      constexpr int kGroup = decltype(group)::value;
      cross_entropy_rows_kernel<kGroup>
          <<<blocks, kBlockDim<kGroup>, 0, s>>>(logits, labels, rows, cols, probs, row_loss, rec);
      TG_CUDA_CHECK_LAUNCH("cross_entropy (rows)");
    });
  }
  // With no rows the mean is 0/0, NaN, as on the CPU: the same kernel writes it.
  mean_kernel<<<1, kMeanThreads, 0, s>>>(row_loss, rows, loss);
  TG_CUDA_CHECK_LAUNCH("cross_entropy (mean)");
}

template <typename T>
void cross_entropy_backward(const T* probs, const int32_t* labels, int64_t rows, int64_t cols,
                            const T* gloss, T scale, T* glogits) {
  kernels::detail::softmax_sizes_check("cross_entropy_backward", rows, cols);
  check_classes("cross_entropy_backward", rows, cols);
  const int64_t n = rows * cols;
  if (n == 0) return;
  TG_CHECK(probs != nullptr && labels != nullptr && glogits != nullptr, "cross_entropy_backward",
           "null pointer");
  cross_entropy_backward_kernel<<<blocks_for(n, 256), 256, 0, current_stream()>>>(
      probs, labels, rows, cols, gloss, scale, glogits, device_error_record());
  TG_CUDA_CHECK_LAUNCH("cross_entropy_backward");
}

#define TG_INSTANTIATE(T)                                                                          \
  template void softmax<T>(const T*, int64_t, int64_t, T*);                                        \
  template void log_softmax<T>(const T*, int64_t, int64_t, T*);                                    \
  template void softmax_backward<T>(const T*, const T*, int64_t, int64_t, T*);                     \
  template void log_softmax_backward<T>(const T*, const T*, int64_t, int64_t, T*);                 \
  template void cross_entropy<T>(const T*, const int32_t*, int64_t, int64_t, T*, T*);              \
  template void cross_entropy_backward<T>(const T*, const int32_t*, int64_t, int64_t, const T*, T, \
                                          T*);
TG_INSTANTIATE(float)
TG_INSTANTIATE(double)
#undef TG_INSTANTIATE

}  // namespace tg::kernels::cuda
