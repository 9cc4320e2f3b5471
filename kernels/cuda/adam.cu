// The fused Adam / AdamW update on the GPU, torch.optim.Adam's and AdamW's semantics (see
// adam.h for the formulas): the CUDA twin of kernels/cpu/adam.cpp, multi-tensor.
//
// Algorithm: one grid-stride walk over the concatenation of up to kAdamMultiChunk tensors per
// launch (as sgd_step_dev_multi); per element, the decay, both moving averages and the step,
// every quantity in T with the same expressions as the CPU loop. The scalars come from
// hyper_dev (double, formed on the host as the CPU forms them), rounded to T once per thread,
// so that a step captured in a CUDA Graph follows the schedule and the bias correction the
// host writes before each replay. The branch on weight_decay != 0 is uniform across the grid.
// Cost: about 12n FLOPs + n sqrt; 7n * sizeof(T) bytes.
#include <cstdint>
#include <type_traits>

#include "base/error.h"
#include "kernels/adam.h"
#include "kernels/cuda/device.cuh"
#include "kernels/cuda/runtime.h"

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
  AdamTensor<T> t[kAdamMultiChunk];
  int64_t start[kAdamMultiChunk + 1];
  int count;
};

template <typename T>
__global__ void adam_dev_multi_kernel(MultiArgs<T> a, const double* hyper, bool decoupled,
                                      const double* skip) {
  // x - x is 0 for a finite x and NaN for NaN and the infinities: one uniform branch.
  if (skip != nullptr && !(*skip - *skip == 0.0)) return;
  const T b1 = static_cast<T>(hyper[1]), k1 = static_cast<T>(hyper[2]);
  const T b2 = static_cast<T>(hyper[3]), k2 = static_cast<T>(hyper[4]);
  const T eps = static_cast<T>(hyper[5]), wd = static_cast<T>(hyper[6]);
  const T decay = static_cast<T>(hyper[7]), neg_step = static_cast<T>(-hyper[8]);
  const T bc2 = static_cast<T>(hyper[9]);
  const bool use_wd = hyper[6] != 0.0;
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
    const AdamTensor<T>& t = a.t[lo];
    const int64_t k = i - a.start[lo];
    const T g0 = t.grad[k], p0 = t.p[k];
    T pd, g;
    if (decoupled) {
      pd = use_wd ? p0 * decay : p0;
      g = g0;
    } else {
      pd = p0;
      g = use_wd ? g0 + wd * p0 : g0;
    }
    const T mi = b1 * t.m[k] + k1 * g;
    const T vi = b2 * t.v[k] + k2 * g * g;
    t.m[k] = mi;
    t.v[k] = vi;
    t.p[k] = pd + neg_step * mi / (dsqrt(vi) / bc2 + eps);
  }
}

}  // namespace

template <typename T>
void adam_step_dev_multi(const AdamTensor<T>* tensors, int64_t count, const double* hyper_dev,
                         bool decoupled, const double* skip_if_nonfinite) {
  TG_CHECK(count >= 0, "adam_step", "negative tensor count ", count);
  TG_CHECK(count == 0 || tensors != nullptr, "adam_step", "null tensor list of ", count);
  TG_CHECK(hyper_dev != nullptr, "adam_step", "the device hyper-parameters pointer is null");
  for (int64_t base = 0; base < count; base += kAdamMultiChunk) {
    MultiArgs<T> a{};
    a.count = 0;
    a.start[0] = 0;
    for (int64_t j = base; j < count && j < base + kAdamMultiChunk; ++j) {
      const AdamTensor<T>& t = tensors[j];
      TG_CHECK(t.n >= 0, "adam_step", "tensor ", j, ": negative size ", t.n);
      if (t.n == 0) continue;
      TG_CHECK(t.p != nullptr && t.grad != nullptr && t.m != nullptr && t.v != nullptr, "adam_step",
               "tensor ", j, ": the parameter, gradient, exp_avg and exp_avg_sq must not be null");
      a.t[a.count] = t;
      a.start[a.count + 1] = a.start[a.count] + t.n;
      ++a.count;
    }
    if (a.count == 0) continue;
    const int64_t total = a.start[a.count];
    adam_dev_multi_kernel<T><<<blocks_for(total, kThreads), kThreads, 0, current_stream()>>>(
        a, hyper_dev, decoupled, skip_if_nonfinite);
    TG_CUDA_CHECK_LAUNCH("adam_dev_multi_kernel");
  }
}

template void adam_step_dev_multi<float>(const AdamTensor<float>*, int64_t, const double*, bool,
                                         const double*);
template void adam_step_dev_multi<double>(const AdamTensor<double>*, int64_t, const double*, bool,
                                          const double*);

}  // namespace tg::kernels::cuda
