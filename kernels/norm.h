// Batch normalisation in training mode on the CPU, fused: one kernel for the forward (the
// batch's statistics and the normalised, scaled output) and one for the backward (the input,
// weight and bias gradients), instead of the dozen elementwise and reduce ops of the composed
// form (autograd/norm.cpp keeps that form for other devices and for eval mode).
//
// x is contiguous (N, C, S): S the product of the spatial sizes (1 for (N, C) input). For each
// channel c, over its M = N*S values:
//   mean[c]   = sum x / M                      (in double, n then s order)
//   var[c]    = sum (x - mean)^2 / M           (biased, two-pass, in double)
//   invstd[c] = 1 / sqrt(var + eps)
//   y         = (x - mean) * invstd * w[c] + b[c]   (w = 1, b = 0 when null)
// Backward, with xhat = (x - mean) * invstd:
//   gb[c] = sum gy,  gw[c] = sum gy * xhat    (in double)
//   gx    = w[c] * invstd * (gy - gb/M - xhat * gw/M)
// Cost: forward 3 passes over x (sum, squared deviations, write y), backward 2 over x and gy.
// Threads: OpenMP over channels (each channel's sums run on one thread in a fixed order), so
// results are bit-identical for any thread count.
#pragma once

#include <cstdint>

namespace tg::kernels::cpu {

// T is float or double. mean, var and invstd (C) are written; w and b may be null.
template <typename T>
void batch_norm_train_forward(const T* x, int64_t n, int64_t c, int64_t s, const T* w, const T* b,
                              double eps, T* y, T* mean, T* var, T* invstd);
// gx (N, C, S) written when not null; gw and gb (C) written when not null.
template <typename T>
void batch_norm_train_backward(const T* x, const T* gy, int64_t n, int64_t c, int64_t s, const T* w,
                               const T* mean, const T* invstd, T* gx, T* gw, T* gb);

}  // namespace tg::kernels::cpu
