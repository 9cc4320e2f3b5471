// Reductions on the CPU: sum, mean, max, min and argmax over the middle axis of a contiguous
// (outer, r, inner) array, which covers "whole tensor" (1, n, 1) and "along axis d" (product of
// the dims before d, dim d, product of the dims after d).
//
// Determinism: every output is combined in a fixed order that depends only on the sizes —
// never on the number of OpenMP threads — so results are bit-identical for any
// OMP_NUM_THREADS. Long reductions are split into fixed-size chunks whose partial results are
// combined in chunk order. Cost: outer*r*inner FLOPs and reads, outer*inner writes.
// max/min/argmax of an empty axis (r == 0) throw tg::Error; sum of it is 0, mean is NaN.
// argmax returns the first index of the maximum; NaN counts as the maximum.
// argmax_hits is a classification accuracy built on argmax: the fraction of rows whose argmax
// equals a label, in one pass.
#pragma once

#include <cstdint>

#include "base/error.h"

namespace tg::kernels {
enum class ReduceOp { sum, mean, max, min };
// "sum", "mean", "max", "min": how messages name the op, on every device.
inline const char* reduce_op_name(ReduceOp op) {
  return op == ReduceOp::sum    ? "sum"
         : op == ReduceOp::mean ? "mean"
         : op == ReduceOp::max  ? "max"
                                : "min";
}
}  // namespace tg::kernels

// The argument checks shared by the CPU and CUDA versions (same messages on every device).
namespace tg::kernels::detail {
inline void reduce_sizes_check(const char* op, int64_t outer, int64_t r, int64_t inner) {
  TG_CHECK(outer >= 0 && r >= 0 && inner >= 0, op, "negative size in (outer, r, inner) = (", outer,
           ", ", r, ", ", inner, ")");
}
// reduce's: the sizes, and an empty axis only for the ops with an identity (sum, mean).
inline void reduce_check(ReduceOp op, int64_t outer, int64_t r, int64_t inner) {
  const char* name = reduce_op_name(op);
  reduce_sizes_check(name, outer, r, inner);
  TG_CHECK(r > 0 || op == ReduceOp::sum || op == ReduceOp::mean, name,
           "cannot reduce an empty axis (r = 0) of (outer, r, inner) = (", outer, ", 0, ", inner,
           "): it has no identity");
}
// argmax's: the sizes, a non-empty axis, and indices that fit int32.
inline void argmax_check(int64_t outer, int64_t r, int64_t inner) {
  reduce_sizes_check("argmax", outer, r, inner);
  TG_CHECK(r > 0, "argmax", "cannot reduce an empty axis (r = 0) of (outer, r, inner) = (", outer,
           ", 0, ", inner, ")");
  TG_CHECK(r <= INT32_MAX, "argmax", "axis of size ", r, " does not fit int32 indices");
}
// argmax_hits'.
inline void argmax_hits_check(const void* x, int64_t rows, int64_t cols, const void* labels,
                              const void* out) {
  TG_CHECK(rows > 0 && cols > 0, "accuracy", "needs a non-empty (rows, classes) array, got (", rows,
           ", ", cols, ")");
  TG_CHECK(cols <= INT32_MAX, "accuracy", cols, " classes do not fit int32 indices");
  TG_CHECK(x != nullptr && labels != nullptr && out != nullptr, "accuracy", "null pointer (x = ", x,
           ", labels = ", labels, ", out = ", out, ")");
}
}  // namespace tg::kernels::detail

namespace tg::kernels::cpu {

template <typename T>
void reduce(ReduceOp op, const T* x, int64_t outer, int64_t r, int64_t inner, T* out);
template <typename T>
void argmax(const T* x, int64_t outer, int64_t r, int64_t inner, int32_t* out);
// Classification accuracy in one pass: out[0] = (number of rows i of the (rows, cols) array x
// whose argmax, as argmax() picks it, equals labels[i]) / rows, as a float. A label outside
// [0, cols) is simply never matched. rows and cols must be positive.
template <typename T>
void argmax_hits(const T* x, int64_t rows, int64_t cols, const int32_t* labels, float* out);

}  // namespace tg::kernels::cpu

// The CUDA twins (kernels/cuda/reduce.cu), queued on the current stream. Deterministic too:
// each output is combined by one thread block in a fixed tree order. An empty axis for
// max/min/argmax cannot throw from the device, so the host wrapper checks r > 0 first.
namespace tg::kernels::cuda {

template <typename T>
void reduce(ReduceOp op, const T* x, int64_t outer, int64_t r, int64_t inner, T* out);
template <typename T>
void argmax(const T* x, int64_t outer, int64_t r, int64_t inner, int32_t* out);
// One launch (one block, a warp per row), where argmax + compare + mean would be five.
template <typename T>
void argmax_hits(const T* x, int64_t rows, int64_t cols, const int32_t* labels, float* out);

}  // namespace tg::kernels::cuda

// The explicit instantiations (float, double), one list for both twins: kernels/cpu/reduce.cpp
// and kernels/cuda/reduce.cu each expand TG_REDUCE_INSTANTIATE() once, after their definitions,
// inside their own namespace.
#define TG_REDUCE_INSTANTIATE_T(T)                                            \
  template void reduce<T>(ReduceOp, const T*, int64_t, int64_t, int64_t, T*); \
  template void argmax<T>(const T*, int64_t, int64_t, int64_t, int32_t*);     \
  template void argmax_hits<T>(const T*, int64_t, int64_t, const int32_t*, float*);
#define TG_REDUCE_INSTANTIATE() TG_REDUCE_INSTANTIATE_T(float) TG_REDUCE_INSTANTIATE_T(double)
