// The fused RMSprop update on the GPU, torch.optim.RMSprop's semantics (see rmsprop.h): the
// CUDA twin of kernels/cpu/rmsprop.cpp, multi-tensor.
//
// Algorithm: one grid-stride walk over the concatenation of up to kRmspropMultiChunk tensors
// per launch (as sgd_step_dev_multi); per element the decay, the square average, the centred
// average and the momentum buffer when the tensor has them (a null buffer: none, a branch
// uniform across each tensor), with the CPU loop's expressions in T. The scalars come from
// hyper_dev (double), so a captured step follows a schedule written between replays.
// Cost: about 10n FLOPs + n sqrt; 5n to 9n * sizeof(T) bytes.
#include <cstdint>
#include <type_traits>

#include "base/error.h"
#include "kernels/cuda/device.cuh"
#include "kernels/cuda/runtime.h"
#include "kernels/rmsprop.h"

namespace tg::kernels::cuda {

namespace {

constexpr int kThreads = 256;

template <typename T>
__device__ __forceinline__ T dsqrt(T v) {
  if constexpr (std::is_same_v<T, float>)
    return sqrtf(v);
  else
    return sqrt(v);
}

template <typename T>
struct MultiArgs {
  RmspropTensor<T> t[kRmspropMultiChunk];
  int64_t start[kRmspropMultiChunk + 1];
  int count;
};

template <typename T>
__global__ void rmsprop_dev_multi_kernel(MultiArgs<T> a, const double* hyper, const double* skip) {
  if (skip != nullptr && !(*skip - *skip == 0.0)) return;  // NaN or infinite: no update
  const T lr = static_cast<T>(hyper[0]), alpha = static_cast<T>(hyper[1]);
  const T keep = static_cast<T>(hyper[2]), eps = static_cast<T>(hyper[3]);
  const T wd = static_cast<T>(hyper[4]), mom = static_cast<T>(hyper[5]);
  const bool use_wd = hyper[4] != 0.0;
  const int64_t total = a.start[a.count];
  TG_GRID_STRIDE(i, total) {
    int lo = 0, hi = a.count - 1;
    while (lo < hi) {  // the last j with start[j] <= i
      const int mid = (lo + hi + 1) / 2;
      if (a.start[mid] <= i)
        lo = mid;
      else
        hi = mid - 1;
    }
    const RmspropTensor<T>& t = a.t[lo];
    const int64_t k = i - a.start[lo];
    const T g = use_wd ? t.grad[k] + wd * t.p[k] : t.grad[k];
    const T s = alpha * t.sq[k] + keep * g * g;
    t.sq[k] = s;
    T d;
    if (t.grad_avg != nullptr) {
      const T av = alpha * t.grad_avg[k] + keep * g;
      t.grad_avg[k] = av;
      d = dsqrt(s - av * av) + eps;
    } else {
      d = dsqrt(s) + eps;
    }
    if (t.buf != nullptr) {
      const T b = mom * t.buf[k] + g / d;
      t.buf[k] = b;
      t.p[k] -= lr * b;
    } else {
      t.p[k] -= lr * g / d;
    }
  }
}

}  // namespace

template <typename T>
void rmsprop_step_dev_multi(const RmspropTensor<T>* tensors, int64_t count, const double* hyper_dev,
                            const double* skip_if_nonfinite) {
  TG_CHECK(count >= 0, "rmsprop_step", "negative tensor count ", count);
  TG_CHECK(count == 0 || tensors != nullptr, "rmsprop_step", "null tensor list of ", count);
  TG_CHECK(hyper_dev != nullptr, "rmsprop_step", "the device hyper-parameters pointer is null");
  for (int64_t base = 0; base < count; base += kRmspropMultiChunk) {
    MultiArgs<T> a{};
    a.count = 0;
    a.start[0] = 0;
    for (int64_t j = base; j < count && j < base + kRmspropMultiChunk; ++j) {
      const RmspropTensor<T>& t = tensors[j];
      TG_CHECK(t.n >= 0, "rmsprop_step", "tensor ", j, ": negative size ", t.n);
      if (t.n == 0) continue;
      TG_CHECK(t.p != nullptr && t.grad != nullptr && t.sq != nullptr, "rmsprop_step", "tensor ", j,
               ": the parameter, gradient and square_avg must not be null");
      a.t[a.count] = t;
      a.start[a.count + 1] = a.start[a.count] + t.n;
      ++a.count;
    }
    if (a.count == 0) continue;
    const int64_t total = a.start[a.count];
    rmsprop_dev_multi_kernel<T><<<blocks_for(total, kThreads), kThreads, 0, current_stream()>>>(
        a, hyper_dev, skip_if_nonfinite);
    TG_CUDA_CHECK_LAUNCH("rmsprop_dev_multi_kernel");
  }
}

template void rmsprop_step_dev_multi<float>(const RmspropTensor<float>*, int64_t, const double*,
                                            const double*);
template void rmsprop_step_dev_multi<double>(const RmspropTensor<double>*, int64_t, const double*,
                                             const double*);

}  // namespace tg::kernels::cuda
