// 2-d convolution on the GPU (the twins of kernels/cpu/conv_*.cpp; kernels/conv.h has the
// contract), a ladder of two rungs plus the bias gradient.
//
// Rung 0, direct (conv2d_naive and its backward): one thread per output element, no scratch.
//   forward          y[n, o, i, j]:  sum over (c, p, q) of the group's window, in that order.
//   backward input   gx[n, c, h, w]: a gather, not a scatter: for every o of c's group and every
//                    tap (p, q), the output pixel (i, j) whose window puts (p, q) on (h, w), if
//                    the stride lands there exactly. No atomics, so the result is deterministic.
//   backward weight  gw[o, c, p, q]: sum over n, i, j; N*OH*OW terms per thread, slow for
//                    large batches, simple to check.
// Rung 1, im2col + cuBLAS (conv2d_im2col, and conv2d, the library's default): images are taken
// in chunks of nb (so the column matrix stays under a workspace limit, 2^24 elements) and for each
// chunk
//   col (G, C/g*KH*KW, nb*OH*OW)   one im2col kernel over the chunk, all groups at once
//   forward          tmp_g (O/g, nb*P) = W_g (O/g, K) @ col_g, one GEMM per group; then one
//                    kernel writes y[n, o, :] = tmp[o, n, :] + b[o] (the (O, nb) -> (nb, O)
//                    transpose folded into the bias add).
//   backward input   gyt (O, nb*P) = gy's chunk transposed; col_g = W_g^T @ gyt_g; then col2im
//                    as a gather over gx (each element sums its taps in a fixed order).
//   backward weight  gyt as above, col of x; gw_g (+)= gyt_g @ col_g^T, beta = 1 after the
//                    first chunk, so the batch sum has a fixed order for a given shape.
//   The GEMMs are kernels::cuda::gemm (cuBLAS; TF32 only after set_allow_tf32(true)), float
//   and double. The workspace is the per-stream scratch buffer (runtime.h): a warm step
//   allocates nothing, and a CUDA Graph capture works once the step has run eagerly.
// conv2d_backward_bias: one block per output channel, a fixed-order tree over its N*OH*OW
//   gradients.
// Cost: 2 * N*O*OH*OW * C/g*KH*KW FLOPs per pass (forward, backward input, backward weight);
//   rung 1 also writes and reads the column matrix, C*KH*KW*N*OH*OW elements, once per pass,
//   and the (O, N*P) transposed output or gradient once.
#include <atomic>
#include <climits>
#include <cstdint>

#include "base/error.h"
#include "kernels/conv.h"
#include "kernels/cuda/device.cuh"
#include "kernels/cuda/gemm_common.cuh"
#include "kernels/cuda/runtime.h"
#include "kernels/gemm.h"

namespace tg::kernels::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kBiasThreads = 256;
// The column matrix and the transposed output of one chunk, in elements: 2^24 (64 MiB of
// float) unless a test sets it (set_conv2d_workspace_elems). A single image larger than that
// still runs, as a chunk of one.
constexpr int64_t kDefaultWorkspaceElems = int64_t(1) << 24;
std::atomic<int64_t> workspace_elems{kDefaultWorkspaceElems};

// --- rung 0 ------------------------------------------------------------------------------------

template <typename T>
__global__ void conv_direct_kernel(Conv2dShape s, int64_t oh, int64_t ow, const T* __restrict__ x,
                                   const T* __restrict__ w, const T* __restrict__ b,
                                   T* __restrict__ y) {
  const int64_t cg = s.c / s.groups, og = s.o / s.groups;
  TG_GRID_STRIDE(e, s.n * s.o * oh * ow) {
    const int64_t j = e % ow, i = (e / ow) % oh, o = (e / (ow * oh)) % s.o, n = e / (ow * oh * s.o);
    const int64_t c0 = (o / og) * cg;
    T acc = b ? b[o] : T(0);
    for (int64_t c = 0; c < cg; ++c) {
      const T* xc = x + (n * s.c + c0 + c) * s.h * s.w;
      const T* wc = w + (o * cg + c) * s.kh * s.kw;
      for (int64_t p = 0; p < s.kh; ++p) {
        const int64_t ih = i * s.sh - s.ph + p * s.dh;
        if (ih < 0 || ih >= s.h) continue;
        for (int64_t q = 0; q < s.kw; ++q) {
          const int64_t iw = j * s.sw - s.pw + q * s.dw;
          if (iw < 0 || iw >= s.w) continue;
          acc += wc[p * s.kw + q] * xc[ih * s.w + iw];
        }
      }
    }
    y[e] = acc;
  }
}

// The output row i whose tap p lands on input row h, or -1: h = i*S - P + p*D.
__device__ inline int64_t source_of(int64_t h, int64_t p, int64_t stride, int64_t pad, int64_t dil,
                                    int64_t out) {
  const int64_t t = h + pad - p * dil;
  if (t < 0 || t % stride != 0) return -1;
  const int64_t i = t / stride;
  return i < out ? i : -1;
}

template <typename T>
__global__ void conv_direct_backward_input_kernel(Conv2dShape s, int64_t oh, int64_t ow,
                                                  const T* __restrict__ gy, const T* __restrict__ w,
                                                  T* __restrict__ gx) {
  const int64_t cg = s.c / s.groups, og = s.o / s.groups;
  TG_GRID_STRIDE(e, s.n * s.c * s.h * s.w) {
    const int64_t iw = e % s.w, ih = (e / s.w) % s.h, c = (e / (s.w * s.h)) % s.c,
                  n = e / (s.w * s.h * s.c);
    const int64_t g = c / cg, cc = c % cg;
    T acc = T(0);
    for (int64_t o = g * og; o < (g + 1) * og; ++o) {
      const T* gyo = gy + (n * s.o + o) * oh * ow;
      const T* wo = w + (o * cg + cc) * s.kh * s.kw;
      for (int64_t p = 0; p < s.kh; ++p) {
        const int64_t i = source_of(ih, p, s.sh, s.ph, s.dh, oh);
        if (i < 0) continue;
        for (int64_t q = 0; q < s.kw; ++q) {
          const int64_t j = source_of(iw, q, s.sw, s.pw, s.dw, ow);
          if (j < 0) continue;
          acc += wo[p * s.kw + q] * gyo[i * ow + j];
        }
      }
    }
    gx[e] = acc;
  }
}

template <typename T>
__global__ void conv_direct_backward_weight_kernel(Conv2dShape s, int64_t oh, int64_t ow,
                                                   const T* __restrict__ x,
                                                   const T* __restrict__ gy, T* __restrict__ gw) {
  const int64_t cg = s.c / s.groups, og = s.o / s.groups;
  TG_GRID_STRIDE(e, s.o * cg * s.kh * s.kw) {
    const int64_t q = e % s.kw, p = (e / s.kw) % s.kh, c = (e / (s.kw * s.kh)) % cg,
                  o = e / (s.kw * s.kh * cg);
    const int64_t c0 = (o / og) * cg;
    T acc = T(0);
    for (int64_t n = 0; n < s.n; ++n) {
      const T* xc = x + (n * s.c + c0 + c) * s.h * s.w;
      const T* gyo = gy + (n * s.o + o) * oh * ow;
      for (int64_t i = 0; i < oh; ++i) {
        const int64_t ih = i * s.sh - s.ph + p * s.dh;
        if (ih < 0 || ih >= s.h) continue;
        for (int64_t j = 0; j < ow; ++j) {
          const int64_t iw = j * s.sw - s.pw + q * s.dw;
          if (iw < 0 || iw >= s.w) continue;
          acc += gyo[i * ow + j] * xc[ih * s.w + iw];
        }
      }
    }
    gw[e] = acc;
  }
}

// --- rung 1 ------------------------------------------------------------------------------------

// col[g][(c, p, q)][n * P + pix] for the images [n0, n0 + nb): x[n0 + n, g*cg + c] under tap
// (p, q) of output pixel pix, 0 in the padding.
template <typename T>
__global__ void im2col_kernel(Conv2dShape s, int64_t oh, int64_t ow, int64_t n0, int64_t nb,
                              const T* __restrict__ x, T* __restrict__ col) {
  const int64_t cg = s.c / s.groups, plane = oh * ow, cols = nb * plane;
  TG_GRID_STRIDE(e, s.groups * cg * s.kh * s.kw * cols) {
    const int64_t pix = e % plane, n = (e / plane) % nb, row = e / cols;
    const int64_t q = row % s.kw, p = (row / s.kw) % s.kh, c = row / (s.kw * s.kh);  // c: 0..C
    const int64_t ih = (pix / ow) * s.sh - s.ph + p * s.dh;
    const int64_t iw = (pix % ow) * s.sw - s.pw + q * s.dw;
    const bool inside = ih >= 0 && ih < s.h && iw >= 0 && iw < s.w;
    col[e] = inside ? x[((n0 + n) * s.c + c) * s.h * s.w + ih * s.w + iw] : T(0);
  }
}

// gx[n0 + n, c, h, w] = the sum of the column entries that im2col took from it, taps (p, q) in
// order: the adjoint of im2col_kernel as a gather.
template <typename T>
__global__ void col2im_kernel(Conv2dShape s, int64_t oh, int64_t ow, int64_t n0, int64_t nb,
                              const T* __restrict__ col, T* __restrict__ gx) {
  const int64_t plane = oh * ow, cols = nb * plane;
  TG_GRID_STRIDE(e, nb * s.c * s.h * s.w) {
    const int64_t iw = e % s.w, ih = (e / s.w) % s.h, c = (e / (s.w * s.h)) % s.c,
                  n = e / (s.w * s.h * s.c);
    T acc = T(0);
    for (int64_t p = 0; p < s.kh; ++p) {
      const int64_t i = source_of(ih, p, s.sh, s.ph, s.dh, oh);
      if (i < 0) continue;
      for (int64_t q = 0; q < s.kw; ++q) {
        const int64_t j = source_of(iw, q, s.sw, s.pw, s.dw, ow);
        if (j < 0) continue;
        acc += col[((c * s.kh + p) * s.kw + q) * cols + n * plane + i * ow + j];
      }
    }
    gx[(n0 * s.c) * s.h * s.w + e] = acc;
  }
}

// y[n0 + n, o, pix] = tmp[o, n, pix] + b[o] (b may be null).
template <typename T>
__global__ void untranspose_bias_kernel(int64_t o_count, int64_t nb, int64_t plane, int64_t n0,
                                        const T* __restrict__ tmp, const T* __restrict__ b,
                                        T* __restrict__ y) {
  TG_GRID_STRIDE(e, nb * o_count * plane) {
    const int64_t pix = e % plane, o = (e / plane) % o_count, n = e / (plane * o_count);
    const T v = tmp[(o * nb + n) * plane + pix];
    y[(n0 * o_count) * plane + e] = b ? v + b[o] : v;
  }
}

// gyt[o, n, pix] = gy[n0 + n, o, pix].
template <typename T>
__global__ void transpose_grad_kernel(int64_t o_count, int64_t nb, int64_t plane, int64_t n0,
                                      const T* __restrict__ gy, T* __restrict__ gyt) {
  TG_GRID_STRIDE(e, nb * o_count * plane) {
    const int64_t pix = e % plane, n = (e / plane) % nb, o = e / (plane * nb);
    gyt[e] = gy[((n0 + n) * o_count + o) * plane + pix];
  }
}

// The chunking of rung 1: images per chunk, and the workspace of a chunk.
struct Chunks {
  int64_t nb;     // images per chunk (the last may have fewer)
  int64_t col;    // elements of the column matrix of a full chunk
  int64_t trans;  // elements of the transposed output (or gradient) of a full chunk
};
Chunks chunks_for(const char* op, const Conv2dShape& s) {
  const int64_t plane = s.out_h() * s.out_w(), per_image = (s.c * s.kh * s.kw + s.o) * plane;
  int64_t nb = per_image > 0 ? workspace_elems.load() / per_image : s.n;
  if (nb < 1) nb = 1;
  if (nb > s.n) nb = s.n;
  TG_CHECK(nb * plane <= INT_MAX && s.kdim() <= INT_MAX, op,
           "an image's column matrix is beyond cuBLAS's int sizes: ", s.kdim(), " x ", plane);
  return {nb, s.c * s.kh * s.kw * nb * plane, s.o * nb * plane};
}

template <typename T>
T* workspace(const char* op, const Chunks& ch) {
  return static_cast<T*>(scratch(op, static_cast<size_t>(ch.col + ch.trans) * sizeof(T)));
}

// --- bias --------------------------------------------------------------------------------------

template <typename T>
__global__ void bias_grad_kernel(int64_t n_count, int64_t o_count, int64_t plane,
                                 const T* __restrict__ gy, T* __restrict__ gb) {
  __shared__ T part[kBiasThreads];
  const int64_t o = blockIdx.x;
  T acc = T(0);
  for (int64_t e = threadIdx.x; e < n_count * plane; e += kBiasThreads)
    acc += gy[((e / plane) * o_count + o) * plane + e % plane];
  part[threadIdx.x] = acc;
  __syncthreads();
  for (int half = kBiasThreads / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.x) < half) part[threadIdx.x] += part[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) gb[o] = part[0];
}

}  // namespace

void set_conv2d_workspace_elems(int64_t elems) {
  TG_CHECK(elems >= 0, "cuda::set_conv2d_workspace_elems", "negative limit ", elems);
  workspace_elems.store(elems > 0 ? elems : kDefaultWorkspaceElems);
}

// --- rung 0 ------------------------------------------------------------------------------------

template <typename T>
void conv2d_naive(const Conv2dShape& s, const T* x, const T* w, const T* b, T* y) {
  detail::conv2d_check("cuda::conv2d_naive", s);
  const int64_t oh = s.out_h(), ow = s.out_w(), n = s.n * s.o * oh * ow;
  if (n == 0) return;
  conv_direct_kernel<T>
      <<<blocks_for(n, kThreads), kThreads, 0, current_stream()>>>(s, oh, ow, x, w, b, y);
  TG_CUDA_CHECK_LAUNCH("conv_direct_kernel");
}

template <typename T>
void conv2d_backward_input_naive(const Conv2dShape& s, const T* gy, const T* w, T* gx) {
  detail::conv2d_check("cuda::conv2d_backward_input_naive", s);
  const int64_t n = s.n * s.c * s.h * s.w;
  if (n == 0) return;
  conv_direct_backward_input_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, current_stream()>>>(
      s, s.out_h(), s.out_w(), gy, w, gx);
  TG_CUDA_CHECK_LAUNCH("conv_direct_backward_input_kernel");
}

template <typename T>
void conv2d_backward_weight_naive(const Conv2dShape& s, const T* x, const T* gy, T* gw) {
  detail::conv2d_check("cuda::conv2d_backward_weight_naive", s);
  const int64_t n = s.o * s.kdim();
  conv_direct_backward_weight_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, current_stream()>>>(
      s, s.out_h(), s.out_w(), x, gy, gw);
  TG_CUDA_CHECK_LAUNCH("conv_direct_backward_weight_kernel");
}

// --- rung 1 ------------------------------------------------------------------------------------

template <typename T>
void conv2d_im2col(const Conv2dShape& s, const T* x, const T* w, const T* b, T* y) {
  constexpr const char* kOp = "cuda::conv2d_im2col";
  detail::conv2d_check(kOp, s);
  if (s.n == 0) return;
  const int64_t oh = s.out_h(), ow = s.out_w(), plane = oh * ow, og = s.og(), k = s.kdim();
  const Chunks ch = chunks_for(kOp, s);
  T* col = workspace<T>(kOp, ch);
  T* tmp = col + ch.col;
  const cudaStream_t st = current_stream();
  for (int64_t n0 = 0; n0 < s.n; n0 += ch.nb) {
    const int64_t nb = s.n - n0 < ch.nb ? s.n - n0 : ch.nb, cols = nb * plane;
    im2col_kernel<T><<<blocks_for(s.c * s.kh * s.kw * cols, kThreads), kThreads, 0, st>>>(
        s, oh, ow, n0, nb, x, col);
    TG_CUDA_CHECK_LAUNCH("im2col_kernel");
    for (int64_t g = 0; g < s.groups; ++g)
      gemm(false, false, og, cols, k, T(1), w + g * og * k, k, col + g * k * cols, cols, T(0),
           tmp + g * og * cols, cols);
    untranspose_bias_kernel<T>
        <<<blocks_for(s.o * cols, kThreads), kThreads, 0, st>>>(s.o, nb, plane, n0, tmp, b, y);
    TG_CUDA_CHECK_LAUNCH("untranspose_bias_kernel");
  }
}

template <typename T>
void conv2d_backward_input_im2col(const Conv2dShape& s, const T* gy, const T* w, T* gx) {
  constexpr const char* kOp = "cuda::conv2d_backward_input_im2col";
  detail::conv2d_check(kOp, s);
  if (s.n == 0) return;
  const int64_t oh = s.out_h(), ow = s.out_w(), plane = oh * ow, og = s.og(), k = s.kdim();
  const Chunks ch = chunks_for(kOp, s);
  T* col = workspace<T>(kOp, ch);
  T* gyt = col + ch.col;
  const cudaStream_t st = current_stream();
  for (int64_t n0 = 0; n0 < s.n; n0 += ch.nb) {
    const int64_t nb = s.n - n0 < ch.nb ? s.n - n0 : ch.nb, cols = nb * plane;
    transpose_grad_kernel<T>
        <<<blocks_for(s.o * cols, kThreads), kThreads, 0, st>>>(s.o, nb, plane, n0, gy, gyt);
    TG_CUDA_CHECK_LAUNCH("transpose_grad_kernel");
    for (int64_t g = 0; g < s.groups; ++g)
      gemm(true, false, k, cols, og, T(1), w + g * og * k, k, gyt + g * og * cols, cols, T(0),
           col + g * k * cols, cols);
    col2im_kernel<T><<<blocks_for(nb * s.c * s.h * s.w, kThreads), kThreads, 0, st>>>(s, oh, ow, n0,
                                                                                      nb, col, gx);
    TG_CUDA_CHECK_LAUNCH("col2im_kernel");
  }
}

template <typename T>
void conv2d_backward_weight_im2col(const Conv2dShape& s, const T* x, const T* gy, T* gw) {
  constexpr const char* kOp = "cuda::conv2d_backward_weight_im2col";
  detail::conv2d_check(kOp, s);
  const int64_t oh = s.out_h(), ow = s.out_w(), plane = oh * ow, og = s.og(), k = s.kdim();
  if (s.n == 0) {  // an empty batch: the gradient of a sum over nothing
    gemm_detail::scale_c(s.o, k, T(0), gw, k);
    return;
  }
  const Chunks ch = chunks_for(kOp, s);
  T* col = workspace<T>(kOp, ch);
  T* gyt = col + ch.col;
  const cudaStream_t st = current_stream();
  for (int64_t n0 = 0; n0 < s.n; n0 += ch.nb) {
    const int64_t nb = s.n - n0 < ch.nb ? s.n - n0 : ch.nb, cols = nb * plane;
    im2col_kernel<T><<<blocks_for(s.c * s.kh * s.kw * cols, kThreads), kThreads, 0, st>>>(
        s, oh, ow, n0, nb, x, col);
    TG_CUDA_CHECK_LAUNCH("im2col_kernel");
    transpose_grad_kernel<T>
        <<<blocks_for(s.o * cols, kThreads), kThreads, 0, st>>>(s.o, nb, plane, n0, gy, gyt);
    TG_CUDA_CHECK_LAUNCH("transpose_grad_kernel");
    const T beta = n0 == 0 ? T(0) : T(1);
    for (int64_t g = 0; g < s.groups; ++g)
      gemm(false, true, og, k, cols, T(1), gyt + g * og * cols, cols, col + g * k * cols, cols,
           beta, gw + g * og * k, k);
  }
}

// --- the library's conv: rung 1 ----------------------------------------------------------------

template <typename T>
void conv2d(const Conv2dShape& s, const T* x, const T* w, const T* b, T* y) {
  conv2d_im2col(s, x, w, b, y);
}
template <typename T>
void conv2d_backward_input(const Conv2dShape& s, const T* gy, const T* w, T* gx) {
  conv2d_backward_input_im2col(s, gy, w, gx);
}
template <typename T>
void conv2d_backward_weight(const Conv2dShape& s, const T* x, const T* gy, T* gw) {
  conv2d_backward_weight_im2col(s, x, gy, gw);
}

template <typename T>
void conv2d_backward_bias(const Conv2dShape& s, const T* gy, T* gb) {
  detail::conv2d_check("cuda::conv2d_backward_bias", s);
  TG_CHECK(s.o <= INT_MAX, "cuda::conv2d_backward_bias", "too many channels for one grid: ", s.o);
  bias_grad_kernel<T><<<static_cast<unsigned>(s.o), kBiasThreads, 0, current_stream()>>>(
      s.n, s.o, s.out_h() * s.out_w(), gy, gb);
  TG_CUDA_CHECK_LAUNCH("bias_grad_kernel");
}

#define TG_CONV_CUDA(T)                                                                       \
  template void conv2d_naive<T>(const Conv2dShape&, const T*, const T*, const T*, T*);        \
  template void conv2d_backward_input_naive<T>(const Conv2dShape&, const T*, const T*, T*);   \
  template void conv2d_backward_weight_naive<T>(const Conv2dShape&, const T*, const T*, T*);  \
  template void conv2d_im2col<T>(const Conv2dShape&, const T*, const T*, const T*, T*);       \
  template void conv2d_backward_input_im2col<T>(const Conv2dShape&, const T*, const T*, T*);  \
  template void conv2d_backward_weight_im2col<T>(const Conv2dShape&, const T*, const T*, T*); \
  template void conv2d<T>(const Conv2dShape&, const T*, const T*, const T*, T*);              \
  template void conv2d_backward_input<T>(const Conv2dShape&, const T*, const T*, T*);         \
  template void conv2d_backward_weight<T>(const Conv2dShape&, const T*, const T*, T*);        \
  template void conv2d_backward_bias<T>(const Conv2dShape&, const T*, T*);
TG_CONV_CUDA(float)
TG_CONV_CUDA(double)
#undef TG_CONV_CUDA

}  // namespace tg::kernels::cuda
