// Elementwise kernels on the CPU: unary, binary with broadcasting (via Strided), scalar ops,
// relu backward, fill, copy and cast.
//
// Outputs are contiguous in the shape given; inputs may be any Strided view, broadcast axes
// having stride 0. Contiguous inputs take a flat, vectorised, OpenMP-parallel loop; others an
// n-d index walk. Cost: one pass, numel FLOPs, (inputs + 1) * numel * sizeof(T) bytes.
// Instantiated for float and double (fill, copy: also int32_t and uint8_t).
#pragma once

#include <cstdint>

#include "base/error.h"
#include "kernels/strided.h"

namespace tg::kernels {

// The op tables, shared by the CPU and CUDA twins.
enum class UnaryOp { neg, exp, log, relu, sqrt, abs, tanh, sigmoid, square, reciprocal };
// Scalar ops: out = f(x, s).
enum class ScalarOp { add, mul, pow, rsub /* s - x */, rdiv /* s / x */, max, min };
enum class BinaryOp { add, sub, mul, div, max, min, eq, ne, lt, le, gt, ge /* 1 or 0 */ };

}  // namespace tg::kernels

// The argument checks shared by the CPU and CUDA twins (same messages on every device).
namespace tg::kernels::detail {

// A Strided view: ndim in [0, kMaxDims] and no negative size.
inline void strided_check(const char* op, const Strided& s) {
  TG_CHECK(s.ndim >= 0 && s.ndim <= kMaxDims, op, "ndim ", s.ndim, " is outside [0, ", kMaxDims,
           "]");
  for (int d = 0; d < s.ndim; ++d)
    TG_CHECK(s.shape[d] >= 0, op, "negative size ", s.shape[d], " at dim ", d);
}

// binary's inputs: a valid view, and both already broadcast to one shape.
inline void binary_check(const char* op, const Strided& as, const Strided& bs) {
  strided_check(op, as);
  TG_CHECK(as.ndim == bs.ndim, op, "inputs have ", as.ndim, " and ", bs.ndim,
           " dims; broadcast them to one shape first");
  for (int d = 0; d < as.ndim; ++d)
    TG_CHECK(as.shape[d] == bs.shape[d], op, "size ", as.shape[d], " vs ", bs.shape[d], " at dim ",
             d, "; broadcast them to one shape first");
}

}  // namespace tg::kernels::detail

namespace tg::kernels::cpu {

template <typename T>
void unary(UnaryOp op, const T* x, const Strided& xs, T* out);
template <typename T>
void scalar_op(ScalarOp op, const T* x, const Strided& xs, T s, T* out);
// a, b walked in the shape of `shape` (their strides already broadcast to it).
template <typename T>
void binary(BinaryOp op, const T* a, const Strided& as, const T* b, const Strided& bs, T* out);

// gx = gy where x > 0, else 0 (the derivative at 0 is taken as 0, as PyTorch does).
template <typename T>
void relu_backward(const T* x, const T* gy, T* gx, int64_t n);
// y += alpha * x (contiguous); used to accumulate gradients.
template <typename T>
void axpy(int64_t n, T alpha, const T* x, T* y);

template <typename T>
void fill(T* dst, int64_t n, T value);
// dst (contiguous, src's shape) = src (any strides).
template <typename T>
void copy(const T* src, const Strided& ss, T* dst);
// Converting copy between dtypes, contiguous to contiguous. Float to integer truncates
// toward zero, as a C++ cast does.
template <typename S, typename D>
void cast(const S* src, D* dst, int64_t n);

}  // namespace tg::kernels::cpu

// The CUDA twins (kernels/cuda/elementwise.cu): the same contracts on device pointers, queued
// on the current stream (kernels/cuda/runtime.h) without synchronising the host. Built only
// when CMake found nvcc (TG_WITH_CUDA).
namespace tg::kernels::cuda {

template <typename T>
void unary(UnaryOp op, const T* x, const Strided& xs, T* out);
template <typename T>
void scalar_op(ScalarOp op, const T* x, const Strided& xs, T s, T* out);
template <typename T>
void binary(BinaryOp op, const T* a, const Strided& as, const T* b, const Strided& bs, T* out);
template <typename T>
void relu_backward(const T* x, const T* gy, T* gx, int64_t n);
template <typename T>
void axpy(int64_t n, T alpha, const T* x, T* y);
template <typename T>
void fill(T* dst, int64_t n, T value);  // float, double, int32_t, uint8_t
template <typename T>
void copy(const T* src, const Strided& ss, T* dst);  // float, double, int32_t, uint8_t
template <typename S, typename D>
void cast(const S* src, D* dst, int64_t n);  // every pair of the four dtypes

}  // namespace tg::kernels::cuda

// The explicit instantiations, one list for both twins: kernels/cpu/elementwise.cpp and
// kernels/cuda/elementwise.cu each expand TG_ELEMENTWISE_INSTANTIATE() once, after their
// definitions, inside their own namespace.
#define TG_ELEMENTWISE_INSTANTIATE_FLOATING(T)                                               \
  template void unary<T>(UnaryOp, const T*, const Strided&, T*);                             \
  template void scalar_op<T>(ScalarOp, const T*, const Strided&, T, T*);                     \
  template void binary<T>(BinaryOp, const T*, const Strided&, const T*, const Strided&, T*); \
  template void relu_backward<T>(const T*, const T*, T*, int64_t);                           \
  template void axpy<T>(int64_t, T, const T*, T*);
#define TG_ELEMENTWISE_INSTANTIATE_ANY(S)                      \
  template void fill<S>(S*, int64_t, S);                       \
  template void copy<S>(const S*, const Strided&, S*);         \
  template void cast<S, float>(const S*, float*, int64_t);     \
  template void cast<S, double>(const S*, double*, int64_t);   \
  template void cast<S, int32_t>(const S*, int32_t*, int64_t); \
  template void cast<S, uint8_t>(const S*, uint8_t*, int64_t);
#define TG_ELEMENTWISE_INSTANTIATE()          \
  TG_ELEMENTWISE_INSTANTIATE_FLOATING(float)  \
  TG_ELEMENTWISE_INSTANTIATE_FLOATING(double) \
  TG_ELEMENTWISE_INSTANTIATE_ANY(float)       \
  TG_ELEMENTWISE_INSTANTIATE_ANY(double)      \
  TG_ELEMENTWISE_INSTANTIATE_ANY(int32_t)     \
  TG_ELEMENTWISE_INSTANTIATE_ANY(uint8_t)
