// The fused SGD update on the GPU, torch.optim.SGD's semantics (see sgd.h for the formulas): the
// CUDA twin of kernels/cpu/sgd.cpp.
//
// Algorithm: one grid-stride pass over the parameters; per element, weight decay, the momentum
// buffer and the step, with every quantity in T as on the CPU. The branches on the
// hyper-parameters are uniform across the grid, so they cost no divergence. sgd_step takes the
// hyper-parameters from the host (doubles rounded to T once, 1 - dampening formed in double
// first, as on the CPU). sgd_step_dev reads lr, momentum, dampening and weight_decay from
// hyper_dev[0..3] (float) in the kernel, so that a step captured in a CUDA Graph follows a
// scheduler that rewrites those floats between replays; the branches on "momentum != 0" and
// "weight_decay != 0" are then taken on the device.
// Cost: up to 7n FLOPs; reads p, grad (and buf), writes p (and buf): 3n to 5n * sizeof(T) bytes.
#include <cstdint>

#include "base/error.h"
#include "kernels/cuda/device.cuh"
#include "kernels/cuda/runtime.h"
#include "kernels/sgd.h"

namespace tg::kernels::cuda {

namespace {

constexpr int kThreads = 256;

template <typename T>
struct Hyper {
  T lr, mom, keep, wd;  // keep = 1 - dampening, the weight of the new gradient
  bool use_mom, use_wd;
};

template <typename T>
__device__ __forceinline__ void sgd_element(T* p, const T* grad, T* buf, int64_t i,
                                            const Hyper<T>& h, bool nesterov, bool first) {
  const T g = h.use_wd ? grad[i] + h.wd * p[i] : grad[i];
  if (!h.use_mom) {
    p[i] -= h.lr * g;
  } else if (first) {
    // First step: the buffer is the gradient itself, without dampening (torch.clone(grad)).
    buf[i] = g;
    p[i] -= h.lr * (nesterov ? g + h.mom * g : g);
  } else {
    const T b = h.mom * buf[i] + h.keep * g;
    buf[i] = b;
    p[i] -= h.lr * (nesterov ? g + h.mom * b : b);
  }
}

template <typename T>
__global__ void sgd_kernel(T* p, const T* grad, T* buf, int64_t n, Hyper<T> h, bool nesterov,
                           bool first) {
  TG_GRID_STRIDE(i, n) sgd_element(p, grad, buf, i, h, nesterov, first);
}

// lr, momentum, dampening and weight decay as the host wrote them (hyper[0..3], float). A null
// buf means the caller keeps no momentum buffer: the momentum read from hyper is then ignored
// rather than written through a null pointer (the host cannot see its value).
template <typename T>
__device__ __forceinline__ Hyper<T> hyper_from(const float* hyper, const T* buf) {
  Hyper<T> h;
  h.lr = static_cast<T>(hyper[0]);
  h.mom = static_cast<T>(hyper[1]);
  h.keep = static_cast<T>(1.0 - static_cast<double>(hyper[2]));
  h.wd = static_cast<T>(hyper[3]);
  h.use_mom = hyper[1] != 0.0f && buf != nullptr;
  h.use_wd = hyper[3] != 0.0f;
  return h;
}

template <typename T>
__global__ void sgd_dev_kernel(T* p, const T* grad, T* buf, int64_t n, const float* hyper,
                               bool nesterov, bool first) {
  const Hyper<T> h = hyper_from(hyper, buf);
  TG_GRID_STRIDE(i, n) sgd_element(p, grad, buf, i, h, nesterov, first);
}

// The kernel's view of up to kSgdMultiChunk tensors, passed by value (2.3 KB of the 4 KB of
// kernel parameters): start[j] is the offset of tensor j in the concatenation of all of them.
template <typename T>
struct MultiArgs {
  SgdTensor<T> t[kSgdMultiChunk];
  int64_t start[kSgdMultiChunk + 1];
  int count;
};

// A grid-stride walk over the concatenation; each element finds its tensor by binary search
// over start (threads of a warp almost always land in the same one).
template <typename T>
__global__ void sgd_dev_multi_kernel(MultiArgs<T> a, const float* hyper, bool nesterov,
                                     const double* skip) {
  // x - x is 0 for a finite x and NaN for NaN and the infinities: one uniform branch.
  if (skip != nullptr && !(*skip - *skip == 0.0)) return;
  const Hyper<T> h = hyper_from<T>(hyper, nullptr);  // use_mom is set per tensor below
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
    const SgdTensor<T>& t = a.t[lo];
    Hyper<T> ht = h;
    ht.use_mom = h.mom != T(0) && t.buf != nullptr;
    sgd_element(t.p, t.grad, t.buf, i - a.start[lo], ht, nesterov, t.first);
  }
}

}  // namespace

template <typename T>
void sgd_step(T* p, const T* grad, T* buf, int64_t n, const SgdHyper& h, bool first) {
  kernels::detail::sgd_step_check(n, buf, h);
  if (n == 0) return;
  Hyper<T> hy;
  hy.lr = static_cast<T>(h.lr);
  hy.mom = static_cast<T>(h.momentum);
  hy.keep = static_cast<T>(1.0 - h.dampening);
  hy.wd = static_cast<T>(h.weight_decay);
  hy.use_mom = h.momentum != 0;
  hy.use_wd = h.weight_decay != 0;
  sgd_kernel<<<blocks_for(n, kThreads), kThreads, 0, current_stream()>>>(p, grad, buf, n, hy,
                                                                         h.nesterov, first);
  TG_CUDA_CHECK_LAUNCH("sgd_kernel");
}

template <typename T>
void sgd_step_dev(T* p, const T* grad, T* buf, int64_t n, const float* hyper_dev, bool nesterov,
                  bool first) {
  TG_CHECK(n >= 0, "sgd_step", "negative size ", n);
  TG_CHECK(hyper_dev != nullptr, "sgd_step", "the device hyper-parameters pointer is null");
  // The values live on the device; what the host can check is that nesterov has a buffer.
  TG_CHECK(!nesterov || buf != nullptr, "sgd_step",
           "nesterov momentum needs a momentum buffer, got null");
  if (n == 0) return;
  sgd_dev_kernel<<<blocks_for(n, kThreads), kThreads, 0, current_stream()>>>(
      p, grad, buf, n, hyper_dev, nesterov, first);
  TG_CUDA_CHECK_LAUNCH("sgd_dev_kernel");
}

template <typename T>
void sgd_step_dev_multi(const SgdTensor<T>* tensors, int64_t count, const float* hyper_dev,
                        bool nesterov, const double* skip_if_nonfinite) {
  TG_CHECK(count >= 0, "sgd_step", "negative tensor count ", count);
  TG_CHECK(count == 0 || tensors != nullptr, "sgd_step", "null tensor list of ", count);
  TG_CHECK(hyper_dev != nullptr, "sgd_step", "the device hyper-parameters pointer is null");
  for (int64_t base = 0; base < count; base += kSgdMultiChunk) {
    MultiArgs<T> a{};
    a.count = 0;
    a.start[0] = 0;
    for (int64_t j = base; j < count && j < base + kSgdMultiChunk; ++j) {
      const SgdTensor<T>& t = tensors[j];
      TG_CHECK(t.n >= 0, "sgd_step", "tensor ", j, ": negative size ", t.n);
      TG_CHECK(!nesterov || t.n == 0 || t.buf != nullptr, "sgd_step", "tensor ", j,
               ": nesterov momentum needs a momentum buffer, got null");
      if (t.n == 0) continue;
      a.t[a.count] = t;
      a.start[a.count + 1] = a.start[a.count] + t.n;
      ++a.count;
    }
    if (a.count == 0) continue;
    const int64_t total = a.start[a.count];
    sgd_dev_multi_kernel<T><<<blocks_for(total, kThreads), kThreads, 0, current_stream()>>>(
        a, hyper_dev, nesterov, skip_if_nonfinite);
    TG_CUDA_CHECK_LAUNCH("sgd_dev_multi_kernel");
  }
}

template void sgd_step<float>(float*, const float*, float*, int64_t, const SgdHyper&, bool);
template void sgd_step<double>(double*, const double*, double*, int64_t, const SgdHyper&, bool);
template void sgd_step_dev<float>(float*, const float*, float*, int64_t, const float*, bool, bool);
template void sgd_step_dev<double>(double*, const double*, double*, int64_t, const float*, bool,
                                   bool);

template void sgd_step_dev_multi<float>(const SgdTensor<float>*, int64_t, const float*, bool,
                                        const double*);
template void sgd_step_dev_multi<double>(const SgdTensor<double>*, int64_t, const float*, bool,
                                         const double*);

}  // namespace tg::kernels::cuda
