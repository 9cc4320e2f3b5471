// The LAMB update on the GPU (see lamb.h for the formulas): the CUDA twin of
// kernels/cpu/lamb.cpp, multi-tensor, in two launches per chunk of tensors.
//
// Algorithm: each tensor of a chunk is cut into blocks of kLambBlock elements, one CUDA block
// each. lamb_moments_kernel updates m and v, keeps u in the scratch (so the step uses exactly
// the values the norm was taken of, as on the CPU) and reduces its block's p^2 and u^2 in
// double through a fixed shared-memory tree. lamb_apply_kernel: every block of a tensor adds
// that tensor's block sums in the same fixed order (thread t takes blocks t, t + kThreads, ...,
// then a tree), so all its blocks, and every run, get the same r1, r2 and trust ratio; it then
// steps its elements by -lr * q * u. The per-element expressions are the CPU loop's, in T; the
// scalars come from hyper_dev (double), so a captured step follows the schedule and bias
// correction written before each replay. The sums differ from the CPU's only in their order.
// Cost: about 20n FLOPs + n sqrt; 11n * sizeof(T) bytes, plus 16 bytes per 2048 elements.
#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "base/error.h"
#include "kernels/cuda/device.cuh"
#include "kernels/cuda/runtime.h"
#include "kernels/lamb.h"

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

// The kernels' view of a chunk: start[j] is tensor j's offset in the chunk's concatenation
// (and in the scratch u), bstart[j] its first block.
template <typename T>
struct MultiArgs {
  LambTensor<T> t[kLambMultiChunk];
  int64_t start[kLambMultiChunk + 1];
  int64_t bstart[kLambMultiChunk + 1];
  int count;
};

// The tensor of block b: the last j with bstart[j] <= b (the same for the whole block).
template <typename T>
__device__ __forceinline__ int tensor_of(const MultiArgs<T>& a, int64_t b) {
  int lo = 0, hi = a.count - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (a.bstart[mid] <= b)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

// Sums sp and su over the block's threads in a fixed tree; thread 0 holds the result.
__device__ __forceinline__ void block_sum2(double* sp, double* su, double p, double u) {
  sp[threadIdx.x] = p;
  su[threadIdx.x] = u;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.x) < half) {
      sp[threadIdx.x] += sp[threadIdx.x + half];
      su[threadIdx.x] += su[threadIdx.x + half];
    }
    __syncthreads();
  }
}

template <typename T>
__global__ void lamb_moments_kernel(MultiArgs<T> a, const double* hyper, T* uu, double* partials,
                                    const double* skip) {
  if (skip != nullptr && !(*skip - *skip == 0.0)) return;  // NaN or infinite: no update
  __shared__ double sp[kThreads];
  __shared__ double su[kThreads];
  const T b1 = static_cast<T>(hyper[1]), k1 = static_cast<T>(hyper[2]);
  const T b2 = static_cast<T>(hyper[3]), k2 = static_cast<T>(hyper[4]);
  const T eps = static_cast<T>(hyper[5]), wd = static_cast<T>(hyper[6]);
  const T d1 = static_cast<T>(hyper[7]), d2 = static_cast<T>(hyper[8]);
  const bool use_wd = hyper[6] != 0.0;
  const int64_t b = blockIdx.x;
  const int j = tensor_of(a, b);
  const LambTensor<T>& t = a.t[j];
  const int64_t lo = (b - a.bstart[j]) * kLambBlock;
  const int64_t hi = lo + kLambBlock < t.n ? lo + kLambBlock : t.n;
  T* u_of = uu + a.start[j];
  double p2 = 0, u2 = 0;
  for (int64_t k = lo + threadIdx.x; k < hi; k += kThreads) {
    const T g = t.grad[k];
    const T mi = b1 * t.m[k] + k1 * g;
    const T vi = b2 * t.v[k] + k2 * g * g;
    t.m[k] = mi;
    t.v[k] = vi;
    const T u0 = (mi / d1) / (dsqrt(vi / d2) + eps);
    const T p = t.p[k];
    const T u = use_wd ? u0 + wd * p : u0;
    u_of[k] = u;
    const double pd = p, ud = u;
    p2 += pd * pd;
    u2 += ud * ud;
  }
  block_sum2(sp, su, p2, u2);
  if (threadIdx.x == 0) {
    partials[2 * b] = sp[0];
    partials[2 * b + 1] = su[0];
  }
}

template <typename T>
__global__ void lamb_apply_kernel(MultiArgs<T> a, const double* hyper, const T* uu,
                                  const double* partials, const double* skip) {
  if (skip != nullptr && !(*skip - *skip == 0.0)) return;
  __shared__ double sp[kThreads];
  __shared__ double su[kThreads];
  __shared__ T neg;
  const int64_t b = blockIdx.x;
  const int j = tensor_of(a, b);
  const LambTensor<T>& t = a.t[j];
  double p2 = 0, u2 = 0;
  for (int64_t c = a.bstart[j] + threadIdx.x; c < a.bstart[j + 1]; c += kThreads) {
    p2 += partials[2 * c];
    u2 += partials[2 * c + 1];
  }
  block_sum2(sp, su, p2, u2);
  if (threadIdx.x == 0) {
    const double n = static_cast<double>(t.n);
    const double r1 = sqrt(sp[0] / n), r2 = sqrt(su[0] / n);
    const double q = (r1 == 0 || r2 == 0) ? 1.0 : (r1 / r2 < 10.0 ? r1 / r2 : 10.0);
    neg = static_cast<T>(-hyper[0] * q);
  }
  __syncthreads();
  const T s = neg;
  const int64_t lo = (b - a.bstart[j]) * kLambBlock;
  const int64_t hi = lo + kLambBlock < t.n ? lo + kLambBlock : t.n;
  const T* u_of = uu + a.start[j];
  for (int64_t k = lo + threadIdx.x; k < hi; k += kThreads) t.p[k] += s * u_of[k];
}

// Bytes of u, rounded up so that the block sums after it are aligned.
int64_t u_bytes(int64_t elems, size_t size) {
  return (elems * static_cast<int64_t>(size) + 255) / 256 * 256;
}

}  // namespace

template <typename T>
void lamb_step_dev_multi(const LambTensor<T>* tensors, int64_t count, const double* hyper_dev,
                         const double* skip_if_nonfinite) {
  TG_CHECK(count >= 0, "lamb_step", "negative tensor count ", count);
  TG_CHECK(count == 0 || tensors != nullptr, "lamb_step", "null tensor list of ", count);
  TG_CHECK(hyper_dev != nullptr, "lamb_step", "the device hyper-parameters pointer is null");
  // Every chunk's arguments first, checked, and the scratch the largest needs.
  std::vector<MultiArgs<T>> chunks;
  int64_t need = 0;
  for (int64_t base = 0; base < count; base += kLambMultiChunk) {
    MultiArgs<T> a{};
    a.count = 0;
    a.start[0] = a.bstart[0] = 0;
    for (int64_t j = base; j < count && j < base + kLambMultiChunk; ++j) {
      const LambTensor<T>& t = tensors[j];
      TG_CHECK(t.n >= 0, "lamb_step", "tensor ", j, ": negative size ", t.n);
      if (t.n == 0) continue;
      TG_CHECK(t.p != nullptr && t.grad != nullptr && t.m != nullptr && t.v != nullptr, "lamb_step",
               "tensor ", j, ": the parameter, gradient, exp_avg and exp_avg_sq must not be null");
      a.t[a.count] = t;
      a.start[a.count + 1] = a.start[a.count] + t.n;
      a.bstart[a.count + 1] = a.bstart[a.count] + (t.n + kLambBlock - 1) / kLambBlock;
      ++a.count;
    }
    if (a.count == 0) continue;
    need = std::max(need, u_bytes(a.start[a.count], sizeof(T)) +
                              a.bstart[a.count] * 2 * static_cast<int64_t>(sizeof(double)));
    chunks.push_back(a);
  }
  if (chunks.empty()) return;
  // One scratch for every chunk in turn: the launches follow each other on the stream.
  char* base = static_cast<char*>(scratch("lamb_step", static_cast<size_t>(need)));
  for (const MultiArgs<T>& a : chunks) {
    T* uu = reinterpret_cast<T*>(base);
    double* partials = reinterpret_cast<double*>(base + u_bytes(a.start[a.count], sizeof(T)));
    const unsigned blocks = static_cast<unsigned>(a.bstart[a.count]);
    lamb_moments_kernel<T>
        <<<blocks, kThreads, 0, current_stream()>>>(a, hyper_dev, uu, partials, skip_if_nonfinite);
    TG_CUDA_CHECK_LAUNCH("lamb_moments_kernel");
    lamb_apply_kernel<T>
        <<<blocks, kThreads, 0, current_stream()>>>(a, hyper_dev, uu, partials, skip_if_nonfinite);
    TG_CUDA_CHECK_LAUNCH("lamb_apply_kernel");
  }
}

template void lamb_step_dev_multi<float>(const LambTensor<float>*, int64_t, const double*,
                                         const double*);
template void lamb_step_dev_multi<double>(const LambTensor<double>*, int64_t, const double*,
                                          const double*);

}  // namespace tg::kernels::cuda
