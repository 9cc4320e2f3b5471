// sum, mean, max, min and argmax over the middle axis of a contiguous (outer, r, inner) array,
// on the GPU (the twins of kernels/cpu/reduce.cpp; kernels/reduce.h has the contract).
//
// Algorithm. Every output is combined in an order fixed by the sizes alone (never by the
// device, the grid size or timing), so results are bit-identical from run to run.
//   inner == 1 (runs of r contiguous elements): a run of at most kWarpRunMax elements is
//     reduced by one warp (lane l takes elements l, l+32, ... in order, then a shuffle tree);
//     a longer run is cut into chunks of kRunChunk, each reduced by one block (thread t takes
//     t, t+256, ..., then a shuffle tree per warp and one over the warps), and the chunks'
//     partials, (outer, chunks), are reduced again the same way until one remains per run.
//     A whole-tensor sum of 1e6 elements so takes 245 blocks and then one warp.
//   inner > 1: a block is 32 columns by 8 row groups: the columns make each warp's loads one
//     coalesced 128-byte row, the row groups take rows g, g+8, ... of a chunk of kRowChunk
//     rows in order and are combined by a fixed pairwise tree in shared memory. Axes longer
//     than kRowChunk leave (outer, chunks, inner) partials, reduced again the same way.
// Partials live in a per-stream device scratch buffer that only grows, so a training step
// allocates nothing once warm. argmax carries (value, index) pairs; its combine takes the
// larger value, NaN above everything, and the smaller index on ties, which is associative
// and commutative, so any tree gives the CPU's answer: the first index of the maximum.
// Cost: outer*r*inner combines and reads, outer*inner writes, plus partials of about
// 1/4096 (inner == 1) or 1/512 (inner > 1) of the input for long axes; one launch per level.
// argmax_hits (accuracy) is one block: a warp per row with argmax's combine, a count per warp,
// and thread 0 adding the eight counts; one launch in place of argmax, two casts, a compare
// and a mean.
#include <cstdint>
#include <limits>
#include <utility>

#include "base/error.h"
#include "kernels/cuda/device.cuh"
#include "kernels/cuda/runtime.h"
#include "kernels/reduce.h"

namespace tg::kernels::cuda {

namespace {

constexpr int kWarp = 32;
constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kRunThreads = 256;  // threads of a block on contiguous runs (8 warps)
constexpr int kRunWarps = kRunThreads / kWarp;
constexpr int64_t kWarpRunMax = 1024;  // runs up to this long take one warp each
constexpr int64_t kRunChunk = 4096;    // elements of a run reduced by one block
constexpr int kColTile = 32;           // columns per block when inner > 1
constexpr int kColGroups = 8;          // row groups per block when inner > 1
constexpr int64_t kRowChunk = 512;     // rows reduced by one block when inner > 1
constexpr int64_t kMaxBlocks = 65535;  // grid-stride loops cover more units than this

int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

// Reducers: the accumulator type, its identity, how an element enters it (lift: its index is
// needed by argmax), and the combine. Identities leave every combine exact, so idle lanes
// can take part in the trees.
template <typename T>
struct SumR {
  using Acc = T;
  __device__ static T identity() { return T(0); }
  __device__ static T lift(T v, int64_t) { return v; }
  __device__ static T combine(T a, T b) { return a + b; }
};
// max/min propagate NaN (a NaN on either side wins), as detail::nan_max on the CPU.
template <typename T>
struct MaxR {
  using Acc = T;
  __device__ static T identity() { return -std::numeric_limits<T>::infinity(); }
  __device__ static T lift(T v, int64_t) { return v; }
  __device__ static T combine(T a, T b) { return (a > b || a != a) ? a : b; }
};
template <typename T>
struct MinR {
  using Acc = T;
  __device__ static T identity() { return std::numeric_limits<T>::infinity(); }
  __device__ static T lift(T v, int64_t) { return v; }
  __device__ static T combine(T a, T b) { return (a < b || a != a) ? a : b; }
};
template <typename T>
struct Best {
  T v;
  int32_t i;
};
template <typename T>
struct ArgmaxR {
  using Acc = Best<T>;
  // Index INT32_MAX loses every tie: a real index is at most r - 1 < INT32_MAX.
  __device__ static Acc identity() {
    return {-std::numeric_limits<T>::infinity(), std::numeric_limits<int32_t>::max()};
  }
  __device__ static Acc lift(T v, int64_t j) { return {v, static_cast<int32_t>(j)}; }
  __device__ static Acc combine(Acc a, Acc b) {
    const bool an = a.v != a.v, bn = b.v != b.v;
    if (an || bn) {
      if (an && bn) return a.i < b.i ? a : b;
      return an ? a : b;
    }
    if (a.v != b.v) return a.v > b.v ? a : b;
    return a.i < b.i ? a : b;
  }
};

// What a finished accumulator becomes in the output.
struct Keep {
  template <typename A>
  __device__ A operator()(A a) const {
    return a;
  }
};
template <typename T>
struct DivideBy {  // mean
  T n;
  __device__ T operator()(T v) const { return v / n; }
};
struct IndexOf {  // argmax
  template <typename B>
  __device__ int32_t operator()(B b) const {
    return b.i;
  }
};

// The first level reads elements (lifted with their index along r); later levels read the
// previous level's accumulators as they are.
template <class R, bool kLift, typename In>
__device__ typename R::Acc load(const In& v, int64_t j) {
  if constexpr (kLift) {
    return R::lift(v, j);
  } else {
    return v;
  }
}

template <typename T>
__device__ T shfl_down(T v, int off) {
  return __shfl_down_sync(kFullMask, v, off);
}
template <typename T>
__device__ Best<T> shfl_down(Best<T> b, int off) {
  return {__shfl_down_sync(kFullMask, b.v, off), __shfl_down_sync(kFullMask, b.i, off)};
}

// Fixed tree over the 32 lanes (lane l takes lane l+16, then l+8, ...); lane 0 holds the
// result. Every lane of the warp must call it.
template <class R>
__device__ typename R::Acc warp_reduce(typename R::Acc v) {
  for (int off = kWarp / 2; off > 0; off /= 2) v = R::combine(v, shfl_down(v, off));
  return v;
}

// One warp per run of len <= kWarpRunMax elements: dst[k] = fin(reduction of src[k*len ...]).
template <class R, bool kLift, typename In, typename Out, class Fin>
__global__ void __launch_bounds__(kRunThreads)
    runs_warp_kernel(const In* src, int64_t len, int64_t runs, Out* dst, Fin fin) {
  using Acc = typename R::Acc;
  const int lane = threadIdx.x % kWarp;
  const int64_t nwarps = static_cast<int64_t>(gridDim.x) * kRunWarps;
  // k is the same for all lanes of a warp, so whole warps enter and leave the loop together.
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * kRunWarps + threadIdx.x / kWarp; k < runs;
       k += nwarps) {
    const In* p = src + k * len;
    Acc acc = R::identity();
    for (int64_t j = lane; j < len; j += kWarp) acc = R::combine(acc, load<R, kLift>(p[j], j));
    acc = warp_reduce<R>(acc);
    if (lane == 0) dst[k] = fin(acc);
  }
}

// One block per chunk of kRunChunk elements: unit u = k*nchunk + c reduces chunk c of run k
// into dst[u].
template <class R, bool kLift, typename In, typename Out, class Fin>
__global__ void __launch_bounds__(kRunThreads)
    runs_block_kernel(const In* src, int64_t len, int64_t nchunk, int64_t units, Out* dst,
                      Fin fin) {
  using Acc = typename R::Acc;
  __shared__ Acc part[kRunWarps];
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  for (int64_t u = blockIdx.x; u < units; u += gridDim.x) {
    const int64_t k = u / nchunk, c = u % nchunk;
    const int64_t j0 = c * kRunChunk, j1 = len < j0 + kRunChunk ? len : j0 + kRunChunk;
    const In* p = src + k * len;
    Acc acc = R::identity();
    for (int64_t j = j0 + threadIdx.x; j < j1; j += kRunThreads)
      acc = R::combine(acc, load<R, kLift>(p[j], j));
    acc = warp_reduce<R>(acc);
    if (lane == 0) part[warp] = acc;
    __syncthreads();
    if (warp == 0) {
      acc = lane < kRunWarps ? part[lane] : R::identity();
      acc = warp_reduce<R>(acc);
      if (lane == 0) dst[u] = fin(acc);
    }
    __syncthreads();  // part is written again by the next unit
  }
}

// inner > 1, blockDim (kColTile, kColGroups). src is (outer, len, inner); unit
// u = (o*nchunk + c)*ntile + t reduces rows [c*kRowChunk, ...) of columns [t*kColTile, ...)
// into dst[(o*nchunk + c)*inner + i], i.e. (outer, nchunk, inner).
template <class R, bool kLift, typename In, typename Out, class Fin>
__global__ void __launch_bounds__(kColTile* kColGroups)
    cols_kernel(const In* src, int64_t len, int64_t inner, int64_t nchunk, int64_t ntile,
                int64_t units, Out* dst, Fin fin) {
  using Acc = typename R::Acc;
  __shared__ Acc part[kColGroups][kColTile];
  const int tx = threadIdx.x, ty = threadIdx.y;
  for (int64_t u = blockIdx.x; u < units; u += gridDim.x) {
    const int64_t t = u % ntile, oc = u / ntile, c = oc % nchunk, o = oc / nchunk;
    const int64_t i = t * kColTile + tx;
    const int64_t j0 = c * kRowChunk, j1 = len < j0 + kRowChunk ? len : j0 + kRowChunk;
    Acc acc = R::identity();
    if (i < inner) {
      const In* p = src + o * len * inner + i;
      for (int64_t j = j0 + ty; j < j1; j += kColGroups)
        acc = R::combine(acc, load<R, kLift>(p[j * inner], j));
    }
    part[ty][tx] = acc;
    __syncthreads();
    if (ty == 0 && i < inner) {
      Acc v[kColGroups];
#pragma unroll
      for (int g = 0; g < kColGroups; ++g) v[g] = part[g][tx];
#pragma unroll
      for (int w = kColGroups / 2; w >= 1; w /= 2)
#pragma unroll
        for (int g = 0; g < w; ++g) v[g] = R::combine(v[g], v[g + w]);
      dst[oc * inner + i] = fin(v[0]);
    }
    __syncthreads();  // part is written again by the next unit
  }
}

// Chunks per run at one level (1: the level writes the output).
int64_t run_chunks(int64_t len) {
  return len <= kWarpRunMax ? 1 : ceil_div(len, kRunChunk);
}

// One level over `runs` contiguous runs of len: dst gets runs * run_chunks(len) values.
template <class R, bool kLift, typename In, typename Out, class Fin>
void runs_level(const In* src, int64_t runs, int64_t len, Out* dst, Fin fin) {
  const cudaStream_t s = current_stream();
  if (len <= kWarpRunMax) {
    runs_warp_kernel<R, kLift>
        <<<blocks_for(runs, kRunWarps), kRunThreads, 0, s>>>(src, len, runs, dst, fin);
    TG_CUDA_CHECK_LAUNCH("reduce (warp per run)");
    return;
  }
  const int64_t nchunk = run_chunks(len), units = runs * nchunk;
  runs_block_kernel<R, kLift>
      <<<blocks_for(units, 1, kMaxBlocks), kRunThreads, 0, s>>>(src, len, nchunk, units, dst, fin);
  TG_CUDA_CHECK_LAUNCH("reduce (block per chunk)");
}

// One level over (outer, len, inner): dst gets outer * ceil(len / kRowChunk) * inner values.
template <class R, bool kLift, typename In, typename Out, class Fin>
void cols_level(const In* src, int64_t outer, int64_t len, int64_t inner, Out* dst, Fin fin) {
  const int64_t nchunk = ceil_div(len, kRowChunk), ntile = ceil_div(inner, kColTile);
  const int64_t units = outer * nchunk * ntile;
  cols_kernel<R, kLift>
      <<<blocks_for(units, 1, kMaxBlocks), dim3(kColTile, kColGroups), 0, current_stream()>>>(
          src, len, inner, nchunk, ntile, units, dst, fin);
  TG_CUDA_CHECK_LAUNCH("reduce (columns)");
}

// out[o*inner + i] = fin(R-reduction over j of x[(o*r + j)*inner + i]); r >= 1, outer*inner >= 1.
template <class R, typename T, typename Out, class Fin>
void reduce_axis(const T* x, int64_t outer, int64_t r, int64_t inner, Out* out, Fin fin) {
  using Acc = typename R::Acc;
  if (inner == 1) {
    if (run_chunks(r) == 1) return runs_level<R, true>(x, outer, r, out, fin);
    // The levels' partial counts, all in one scratch buffer, one after another.
    int64_t total = 0;
    for (int64_t len = r; run_chunks(len) > 1; len = run_chunks(len))
      total += outer * run_chunks(len);
    Acc* part = static_cast<Acc*>(scratch("reduce", static_cast<size_t>(total) * sizeof(Acc)));
    runs_level<R, true>(x, outer, r, part, Keep{});
    for (int64_t len = run_chunks(r);; len = run_chunks(len)) {
      if (run_chunks(len) == 1) return runs_level<R, false>(part, outer, len, out, fin);
      runs_level<R, false>(part, outer, len, part + outer * len, Keep{});
      part += outer * len;
    }
  }
  if (r <= kRowChunk) return cols_level<R, true>(x, outer, r, inner, out, fin);
  int64_t total = 0;
  for (int64_t len = r; len > kRowChunk; len = ceil_div(len, kRowChunk))
    total += outer * ceil_div(len, kRowChunk) * inner;
  Acc* part = static_cast<Acc*>(scratch("reduce", static_cast<size_t>(total) * sizeof(Acc)));
  cols_level<R, true>(x, outer, r, inner, part, Keep{});
  for (int64_t len = ceil_div(r, kRowChunk);; len = ceil_div(len, kRowChunk)) {
    if (len <= kRowChunk) return cols_level<R, false>(part, outer, len, inner, out, fin);
    cols_level<R, false>(part, outer, len, inner, part + outer * len * inner, Keep{});
    part += outer * len * inner;
  }
}

template <typename T>
__global__ void fill_kernel(T* out, int64_t n, T v) {
  TG_GRID_STRIDE(i, n) out[i] = v;
}

// argmax_hits: one block; warp w takes rows w, w + kRunWarps, ...; each row's argmax by the
// same lanes-then-tree order as argmax (so the same index), lane 0 counts a match, and thread 0
// sums the warps' counts in warp order (integers: exact in any order anyway).
template <typename T>
__global__ void __launch_bounds__(kRunThreads)
    argmax_hits_kernel(const T* x, int64_t rows, int64_t cols, const int32_t* labels, float* out) {
  using R = ArgmaxR<T>;
  __shared__ long long part[kRunWarps];
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  long long hits = 0;
  for (int64_t i = warp; i < rows; i += kRunWarps) {
    const T* p = x + i * cols;
    typename R::Acc acc = R::identity();
    for (int64_t j = lane; j < cols; j += kWarp) acc = R::combine(acc, R::lift(p[j], j));
    acc = warp_reduce<R>(acc);
    if (lane == 0 && acc.i == labels[i]) ++hits;
  }
  if (lane == 0) part[warp] = hits;
  __syncthreads();
  if (threadIdx.x == 0) {
    long long total = 0;
    for (int w = 0; w < kRunWarps; ++w) total += part[w];
    out[0] = static_cast<float>(static_cast<double>(total) / static_cast<double>(rows));
  }
}

}  // namespace

template <typename T>
void reduce(ReduceOp op, const T* x, int64_t outer, int64_t r, int64_t inner, T* out) {
  const char* name = reduce_op_name(op);
  kernels::detail::reduce_check(op, outer, r, inner);
  const int64_t m = outer * inner;
  if (r == 0) {  // sum or mean (reduce_check refused the others)
    if (m == 0) return;
    TG_CHECK(out != nullptr, name, "null output pointer");
    const T v = op == ReduceOp::sum ? T(0) : std::numeric_limits<T>::quiet_NaN();
    fill_kernel<<<blocks_for(m, 256), 256, 0, current_stream()>>>(out, m, v);
    TG_CUDA_CHECK_LAUNCH("reduce (fill of an empty axis)");
    return;
  }
  if (m == 0) return;
  TG_CHECK(x != nullptr && out != nullptr, name, "null pointer (x = ", x, ", out = ", out, ")");
  switch (op) {
    case ReduceOp::sum:
      return reduce_axis<SumR<T>>(x, outer, r, inner, out, Keep{});
    case ReduceOp::mean:
      return reduce_axis<SumR<T>>(x, outer, r, inner, out, DivideBy<T>{static_cast<T>(r)});
    case ReduceOp::max:
      return reduce_axis<MaxR<T>>(x, outer, r, inner, out, Keep{});
    case ReduceOp::min:
      return reduce_axis<MinR<T>>(x, outer, r, inner, out, Keep{});
  }
  TG_FAIL(name, "unknown ReduceOp ", static_cast<int>(op));
}

template <typename T>
void argmax(const T* x, int64_t outer, int64_t r, int64_t inner, int32_t* out) {
  kernels::detail::argmax_check(outer, r, inner);
  if (outer * inner == 0) return;
  TG_CHECK(x != nullptr && out != nullptr, "argmax", "null pointer (x = ", x, ", out = ", out, ")");
  reduce_axis<ArgmaxR<T>>(x, outer, r, inner, out, IndexOf{});
}

template <typename T>
void argmax_hits(const T* x, int64_t rows, int64_t cols, const int32_t* labels, float* out) {
  kernels::detail::argmax_hits_check(x, rows, cols, labels, out);
  argmax_hits_kernel<T><<<1, kRunThreads, 0, current_stream()>>>(x, rows, cols, labels, out);
  TG_CUDA_CHECK_LAUNCH("argmax_hits_kernel");
}

TG_REDUCE_INSTANTIATE()

}  // namespace tg::kernels::cuda
