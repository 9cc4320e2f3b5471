// 2-d convolution (cross-correlation, as torch.nn.functional.conv2d) on raw NCHW pointers.
//
//   x    (N, C, H, W)            input, contiguous
//   w    (O, C/groups, KH, KW)   weight, contiguous
//   b    (O) or nullptr          bias
//   y    (N, O, OH, OW)          output, contiguous, written (never read)
//   OH = (H + 2*PH - DH*(KH-1) - 1) / SH + 1, likewise OW.
//   y[n, o, i, j] = b[o] + sum_{c in group(o), p, q} w[o, c, p, q] *
//                   x[n, g*C/groups + c, i*SH - PH + p*DH, j*SW - PW + q*DW]   (0 outside x)
// Cost: 2 * N * O * OH * OW * (C/groups) * KH * KW FLOPs.
//
// The ladder, slowest first, all with the same signature so tests and bench/ treat them alike:
//  0. conv2d_naive     direct seven-deep loop, double accumulation, one thread: the reference.
//  1. conv2d_im2col    per image and group, im2col into a (C/g*KH*KW, OH*OW) matrix, then the
//                      library's GEMM (kernels/gemm.h) with the weight as the left operand.
//  2. conv2d_chunked   rung 1 with several small images side by side in one column matrix (one
//                      GEMM of B*OH*OW columns), OpenMP over the chunks, small output planes
//                      lowered through a table of taps, no im2col at all for 1x1 stride-1
//                      unpadded kernels; in training the forward's lowering is kept for the
//                      weight gradient (conv2d_keep).
//  3. conv2d_implicit  implicit GEMM, float only: the lowered input is never written; each of
//                      its elements is broadcast from a padded copy of the image, the output
//                      channels are the vector lanes (kernels/cpu/conv_implicit.cpp).
//  conv2d, the library's conv, is rung 3 for float where output rows are under 16 pixels (the
//  course CNN's layers) and rung 2 elsewhere (and for double).
// Backward, each with a ladder (naive, im2col, chunked, implicit):
//   conv2d_backward_input   gx = col2im(W^T @ gy)       gx written
//   conv2d_backward_weight  gw = sum_n gy[n] @ col[n]^T gw written
//   conv2d_backward_bias    gb[o] = sum_{n,i,j} gy      gb written
// Determinism: every output element is the same sum in the same order whatever the thread count
// (threads only decide who computes a chunk; sums over the batch in backward_weight run over
// fixed ranges of images combined in range order), so results are bit-identical for any
// OMP_NUM_THREADS. Rungs 1 and 2 agree bit for bit in forward and backward input (the GEMMs
// do; kernels/gemm.h); rung 3 and rung 2's weight gradient differ from them by rounding.
#pragma once

#include <cstdint>

#include "base/error.h"

namespace tg::kernels {

// The sizes of one conv2d: input, weight, and the per-axis stride, padding and dilation.
struct Conv2dShape {
  int64_t n = 1, c = 1, h = 1, w = 1;  // input (N, C, H, W)
  int64_t o = 1, kh = 1, kw = 1;       // weight (O, C/groups, KH, KW)
  int64_t sh = 1, sw = 1;              // stride
  int64_t ph = 0, pw = 0;              // padding (zeros on both sides)
  int64_t dh = 1, dw = 1;              // dilation
  int64_t groups = 1;

  int64_t out_h() const { return (h + 2 * ph - dh * (kh - 1) - 1) / sh + 1; }
  int64_t out_w() const { return (w + 2 * pw - dw * (kw - 1) - 1) / sw + 1; }
  int64_t cg() const { return c / groups; }        // input channels per group
  int64_t og() const { return o / groups; }        // output channels per group
  int64_t kdim() const { return cg() * kh * kw; }  // the GEMM's k: one column of im2col
};

namespace detail {
// The size checks every conv2d entry point makes (the tensor layer makes them first, with the
// tensors' shapes in its messages).
inline void conv2d_check(const char* op, const Conv2dShape& s) {
  TG_CHECK(s.n >= 0 && s.c > 0 && s.h > 0 && s.w > 0 && s.o > 0 && s.kh > 0 && s.kw > 0, op,
           "non-positive size: input [", s.n, ", ", s.c, ", ", s.h, ", ", s.w, "], weight [", s.o,
           ", ", s.c, "/", s.groups, ", ", s.kh, ", ", s.kw, "]");
  TG_CHECK(s.sh > 0 && s.sw > 0 && s.dh > 0 && s.dw > 0 && s.ph >= 0 && s.pw >= 0, op, "stride (",
           s.sh, ", ", s.sw, ") and dilation (", s.dh, ", ", s.dw,
           ") must be positive and padding (", s.ph, ", ", s.pw, ") non-negative");
  TG_CHECK(s.groups > 0 && s.c % s.groups == 0 && s.o % s.groups == 0, op, "groups=", s.groups,
           " must divide in_channels=", s.c, " and out_channels=", s.o);
  TG_CHECK(s.h + 2 * s.ph >= s.dh * (s.kh - 1) + 1 && s.w + 2 * s.pw >= s.dw * (s.kw - 1) + 1, op,
           "kernel (", s.kh, ", ", s.kw, ") with dilation (", s.dh, ", ", s.dw,
           ") is larger than the padded input (", s.h + 2 * s.ph, ", ", s.w + 2 * s.pw, ")");
}
}  // namespace detail

namespace cpu {

// T is float or double (explicitly instantiated in kernels/cpu/conv_*.cpp).
template <typename T>
using Conv2dFn = void (*)(const Conv2dShape& s, const T* x, const T* w, const T* b, T* y);
template <typename T>
using Conv2dBackwardInputFn = void (*)(const Conv2dShape& s, const T* gy, const T* w, T* gx);
template <typename T>
using Conv2dBackwardWeightFn = void (*)(const Conv2dShape& s, const T* x, const T* gy, T* gw);

// Rung 0 (kernels/cpu/conv_naive.cpp).
template <typename T>
void conv2d_naive(const Conv2dShape& s, const T* x, const T* w, const T* b, T* y);
template <typename T>
void conv2d_backward_input_naive(const Conv2dShape& s, const T* gy, const T* w, T* gx);
template <typename T>
void conv2d_backward_weight_naive(const Conv2dShape& s, const T* x, const T* gy, T* gw);

// Rung 1 (kernels/cpu/conv_im2col.cpp).
template <typename T>
void conv2d_im2col(const Conv2dShape& s, const T* x, const T* w, const T* b, T* y);
template <typename T>
void conv2d_backward_input_im2col(const Conv2dShape& s, const T* gy, const T* w, T* gx);
template <typename T>
void conv2d_backward_weight_im2col(const Conv2dShape& s, const T* x, const T* gy, T* gw);

// The library's conv (rung 3 or 2, see above) and backward (kernels/cpu/conv_batched.cpp).
template <typename T>
void conv2d(const Conv2dShape& s, const T* x, const T* w, const T* b, T* y);
template <typename T>
void conv2d_backward_input(const Conv2dShape& s, const T* gy, const T* w, T* gx);
template <typename T>
void conv2d_backward_weight(const Conv2dShape& s, const T* x, const T* gy, T* gw);

// Rung 2's forward keeping its lowering for the weight gradient, which then lowers nothing: in
// training the course CNN otherwise lowers each batch twice (im2col was about a quarter of its
// step). lowered holds conv2d_lowered_size(s) elements (0 for a 1x1 stride-1 unpadded conv,
// which lowers nothing; nullptr allowed then); y and gw are bit-identical to conv2d's and
// conv2d_backward_weight's.
// (0 too where rung 3 runs instead: it lowers nothing.)
template <typename T>
int64_t conv2d_lowered_size(const Conv2dShape& s);
template <typename T>
void conv2d_keep(const Conv2dShape& s, const T* x, const T* w, const T* b, T* y, T* lowered);
template <typename T>
void conv2d_backward_weight_kept(const Conv2dShape& s, const T* x, const T* gy, T* gw,
                                 const T* lowered);

// Rung 3, implicit GEMM for small images, float only (kernels/cpu/conv_implicit.cpp): the
// forward and the weight gradient with the lowered input never written (each element loaded
// from a zero-padded copy of the image and broadcast, the output channels in the vector
// lanes). conv2d and conv2d_backward_weight use it for float where conv2d_implicit_applies
// (output rows under 16 pixels: the course CNN's layers); conv2d_backward_input stays on rung 2
// (rung 3's was not faster there: kernels/cpu/conv_batched.cpp); conv2d_chunked,
// conv2d_backward_input_chunked and conv2d_backward_weight_chunked are rung 2 alone. Deterministic
// for any thread count; equal to rung 2 up to rounding.
bool conv2d_implicit_applies(const Conv2dShape& s);
void conv2d_implicit(const Conv2dShape& s, const float* x, const float* w, const float* b,
                     float* y);
void conv2d_backward_weight_implicit(const Conv2dShape& s, const float* x, const float* gy,
                                     float* gw);
// Backward input as a transposed convolution: the input pixels in SH x SW classes by their
// position modulo the stride, each class an implicit GEMM over the taps that reach it, from a
// zero-padded copy of gy, the input channels in the lanes (kernels/cpu/conv_implicit.cpp).
void conv2d_backward_input_implicit(const Conv2dShape& s, const float* gy, const float* w,
                                    float* gx);
template <typename T>
void conv2d_chunked(const Conv2dShape& s, const T* x, const T* w, const T* b, T* y);
template <typename T>
void conv2d_backward_input_chunked(const Conv2dShape& s, const T* gy, const T* w, T* gx);
template <typename T>
void conv2d_backward_weight_chunked(const Conv2dShape& s, const T* x, const T* gy, T* gw);

// gb[o] = sum over n, then i, j of gy[n, o, i, j], in that order; OpenMP over o.
template <typename T>
void conv2d_backward_bias(const Conv2dShape& s, const T* gy, T* gb);

// The column matrix of one image and group: col (C/g*KH*KW rows, OH*OW columns), row (c, p, q)
// holding x[c, i*SH - PH + p*DH, j*SW - PW + q*DW] for output pixel (i, j), 0 in the padding,
// rows ld >= OH*OW elements apart (ld > OH*OW: several images side by side in one matrix). x
// points at the group's first channel of the image. col2im is its adjoint: x += scatter(col).
template <typename T>
void im2col(const Conv2dShape& s, const T* x, T* col, int64_t ld);
template <typename T>
void col2im(const Conv2dShape& s, const T* col, int64_t ld, T* x);

}  // namespace cpu

// The CUDA twins (kernels/cuda/conv.cu): the same contract on device pointers, queued on the
// current stream, float and double. A ladder of two rungs, each with its backward:
//  0. conv2d_naive   one thread per output element (backward input: a gather over the taps
//                    that reach each input element, no atomics), no workspace.
//  1. conv2d_im2col  images in chunks, im2col of a chunk (all groups) into the per-stream
//                    scratch buffer, one cuBLAS GEMM per group (kernels::cuda::gemm), col2im
//                    as a gather for backward input.
//  conv2d (and its backward) is rung 1, the library's conv on the GPU.
// Every result is the same sums in the same order for a given shape, run after run; they match
// the CPU's to rounding, not bit for bit (different summation orders).
namespace cuda {

template <typename T>
void conv2d_naive(const Conv2dShape& s, const T* x, const T* w, const T* b, T* y);
template <typename T>
void conv2d_backward_input_naive(const Conv2dShape& s, const T* gy, const T* w, T* gx);
template <typename T>
void conv2d_backward_weight_naive(const Conv2dShape& s, const T* x, const T* gy, T* gw);

template <typename T>
void conv2d_im2col(const Conv2dShape& s, const T* x, const T* w, const T* b, T* y);
template <typename T>
void conv2d_backward_input_im2col(const Conv2dShape& s, const T* gy, const T* w, T* gx);
template <typename T>
void conv2d_backward_weight_im2col(const Conv2dShape& s, const T* x, const T* gy, T* gw);

template <typename T>
void conv2d(const Conv2dShape& s, const T* x, const T* w, const T* b, T* y);
template <typename T>
void conv2d_backward_input(const Conv2dShape& s, const T* gy, const T* w, T* gx);
template <typename T>
void conv2d_backward_weight(const Conv2dShape& s, const T* x, const T* gy, T* gw);

// gb[o] = sum over n, i, j of gy[n, o, i, j]: one block per channel, a fixed-order tree.
template <typename T>
void conv2d_backward_bias(const Conv2dShape& s, const T* gy, T* gb);

// Rung 1's workspace limit in elements (default 2^24, restored by 0): a test sets it low to
// make a small batch run in several chunks.
void set_conv2d_workspace_elems(int64_t elems);

}  // namespace cuda
}  // namespace tg::kernels
