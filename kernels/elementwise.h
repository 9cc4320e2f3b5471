// Elementwise kernels on the CPU: unary, binary with broadcasting (via Strided), scalar ops,
// relu backward, fill, copy and cast.
//
// Outputs are contiguous in the shape given; inputs may be any Strided view, broadcast axes
// having stride 0. Contiguous inputs take a flat, vectorised, OpenMP-parallel loop; others an
// n-d index walk. Cost: one pass, numel FLOPs, (inputs + 1) * numel * sizeof(T) bytes.
// Instantiated for float and double (fill, copy: also int32_t and uint8_t).
#pragma once

#include <cstdint>

#include "kernels/strided.h"

namespace tg::kernels {

// The op tables, shared by the CPU and CUDA twins.
enum class UnaryOp { neg, exp, log, relu, sqrt, abs, tanh, sigmoid, square, reciprocal };
// Scalar ops: out = f(x, s).
enum class ScalarOp { add, mul, pow, rsub /* s - x */, rdiv /* s / x */, max, min };
enum class BinaryOp { add, sub, mul, div, max, min, eq, ne, lt, le, gt, ge /* 1 or 0 */ };

}  // namespace tg::kernels

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
