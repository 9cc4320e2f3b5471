// Device dispatch of the non-differentiable math: each function checks its inputs (dtype,
// device, shapes — a tg::Error names the op and the shapes), allocates the output and calls
// the kernel for the tensors' device. These record nothing on the tape: autograd/ builds its
// differentiable ops, forward and backward, out of them.
#pragma once

#include <utility>
#include <vector>

#include "kernels/elementwise.h"
#include "kernels/reduce.h"
#include "tensor/size2.h"
#include "tensor/tensor.h"

namespace tg {

using kernels::BinaryOp;
using kernels::ReduceOp;
using kernels::ScalarOp;
using kernels::UnaryOp;

// The shape both broadcast to (NumPy rules); throws tg::Error naming op and both shapes.
Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b);

// Results equal within atol + rtol * |b| everywhere (NaN never equal); shapes must match
// exactly and dtypes must agree, else false. equal: same shape, dtype and values.
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8);
bool equal(const Tensor& a, const Tensor& b);
// The largest |a - b| (as double), shapes must broadcast.
double max_abs_diff(const Tensor& a, const Tensor& b);

// conv2d's hyper-parameters, as torch.nn.functional.conv2d's.
struct Conv2dOptions {
  Size2 stride = 1, padding = 0, dilation = 1;
  int64_t groups = 1;
};

namespace ops {

Tensor unary(UnaryOp op, const Tensor& x);
Tensor scalar(ScalarOp op, const Tensor& x, double s);
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);  // broadcasting; same dtype

// Reduce over dims (empty: all dims). keepdim keeps reduced dims with size 1.
Tensor reduce(ReduceOp op, const Tensor& x, std::vector<int64_t> dims, bool keepdim);
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);  // int32
// The fraction of rows of logits (n, classes) whose argmax equals labels (n, int32), as a
// float32 scalar on their device: argmax, compare and mean in one kernel.
Tensor accuracy(const Tensor& logits, const Tensor& labels);
// Sums g over the axes that broadcasting added or expanded, so the result has `shape`
// (the gradient of a broadcast).
Tensor sum_to(const Tensor& g, const Shape& shape);

// C = op(a) @ op(b) for 2-d a, b (op = transpose when the flag is set). a may also be n-d
// when not transposed: its leading dims are flattened into rows.
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);

// 2-d convolution of x (N, C, H, W) with w (O, C/groups, KH, KW) and bias (O) or undefined,
// as torch.nn.functional.conv2d: y (N, O, OH, OW). CPU only for now (kernels/conv.h); a CUDA
// tensor is refused. The backward pieces: gx of x_shape, gw of w_shape, gb (O).
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dOptions& opt);
Tensor conv2d_backward_input(const Tensor& gy, const Tensor& w, const Shape& x_shape,
                             const Conv2dOptions& opt);
Tensor conv2d_backward_weight(const Tensor& x, const Tensor& gy, const Shape& w_shape,
                              const Conv2dOptions& opt, const Tensor& lowered = Tensor());
// conv2d that, with keep, also returns the CPU conv's lowering of x (kernels/conv.h
// conv2d_keep) for conv2d_backward_weight's `lowered`, which then skips im2col. .second is
// undefined when nothing is kept: keep false, a CUDA tensor, a conv that lowers nothing, or a
// lowering above kKeepLoweredBytes (then the backward lowers x again).
constexpr int64_t kKeepLoweredBytes = int64_t(64) << 20;
std::pair<Tensor, Tensor> conv2d_keep(const Tensor& x, const Tensor& w, const Tensor& bias,
                                      const Conv2dOptions& opt, bool keep);
Tensor conv2d_backward_bias(const Tensor& gy);

// Along the last dim.
Tensor softmax(const Tensor& x);
Tensor log_softmax(const Tensor& x);
Tensor softmax_backward(const Tensor& y, const Tensor& gy);
Tensor log_softmax_backward(const Tensor& y, const Tensor& gy);
// logits (n, c) floating, labels (n) int32 in [0, c). Returns (mean loss as a [] tensor,
// softmax probabilities (n, c)).
std::pair<Tensor, Tensor> cross_entropy(const Tensor& logits, const Tensor& labels);
// glogits = scale * (probs - onehot(labels)). For the mean loss above, pass
// scale = d(loss)/d(mean) / n, as the kernel (kernels/softmax.h) takes it.
Tensor cross_entropy_backward(const Tensor& probs, const Tensor& labels, double scale);
// The same with the loss's upstream gradient as a one-element tensor: glogits = gloss * scale *
// (probs - onehot). On CUDA gloss is read on the device, so the backward never synchronises.
Tensor cross_entropy_backward(const Tensor& probs, const Tensor& labels, const Tensor& gloss,
                              double scale);

Tensor relu_backward(const Tensor& x, const Tensor& gy);
// zeros(shape) with src added at the int32 index along dim: the adjoint of Tensor::gather.
Tensor scatter_add(const Tensor& src, const Shape& shape, int64_t dim, const Tensor& index);
// y += alpha * x; y contiguous, x of y's shape (any strides).
void axpy_(Tensor& y, double alpha, const Tensor& x);

}  // namespace ops

// User-facing non-differentiable reductions.
inline Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false) {
  return ops::argmax(x, dim, keepdim);
}

}  // namespace tg
