// The differentiable ops. Each records one node on the tape (see tape.h) when an input requires
// grad, and its backward formula sits beside its forward in the .cpp files:
//   elementwise.cpp (add sub mul div neg exp log relu sqrt pow), reduce.cpp (sum mean),
//   shape.cpp (reshape view transpose t flatten), linalg.cpp (matmul linear), conv.cpp (conv2d),
//   loss.cpp (softmax log_softmax cross_entropy mse), activation.cpp (sigmoid tanh leaky_relu
//   dropout), join.cpp (cat stack), pool.cpp (max_pool2d avg_pool2d adaptive_avg_pool2d),
//   norm.cpp (batch_norm layer_norm group_norm: composed from the ops above, no nodes of
//   their own).
// Binary ops broadcast (NumPy rules); the gradient of a broadcast input is summed back to its
// shape. All take and return float32 or float64 tensors.
#pragma once

#include <optional>
#include <vector>

#include "tensor/ops.h"
#include "tensor/ops_pool.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace tg {

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double s);
Tensor mul(const Tensor& a, double s);
Tensor rsub(const Tensor& a, double s);  // s - a
Tensor rdiv(const Tensor& a, double s);  // s / a
Tensor pow(const Tensor& a, double exponent);
Tensor neg(const Tensor& a);
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor sqrt(const Tensor& a);
Tensor relu(const Tensor& a);
Tensor sigmoid(const Tensor& a);
Tensor tanh(const Tensor& a);
// x where x > 0, else slope * x (PyTorch's default slope is 0.01).
Tensor leaky_relu(const Tensor& a, double slope = 0.01);
// Inverted dropout: in training each element is zeroed with probability p and the others are
// scaled by 1 / (1 - p), the mask drawn from gen; in eval (or p = 0) x itself. p in [0, 1).
Tensor dropout(const Tensor& x, double p, bool training, Generator& gen);
Tensor dropout(const Tensor& x, double p, bool training);  // draws from default_generator()

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, double s);
Tensor operator+(double s, const Tensor& a);
Tensor operator-(const Tensor& a, double s);
Tensor operator-(double s, const Tensor& a);
Tensor operator*(const Tensor& a, double s);
Tensor operator*(double s, const Tensor& a);
Tensor operator/(const Tensor& a, double s);
Tensor operator/(double s, const Tensor& a);
Tensor operator-(const Tensor& a);

// Whole tensor (a [] tensor) or over dims.
Tensor sum(const Tensor& x);
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);

Tensor reshape(const Tensor& x, const Shape& shape);
Tensor view(const Tensor& x, const Shape& shape);
Tensor flatten(const Tensor& x, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor transpose(const Tensor& x, int64_t d0, int64_t d1);
Tensor t(const Tensor& x);

// Joins along an existing dim (cat: the other sizes must match) or a new one (stack: every
// shape equal); dim may be negative. The gradient is split back into the inputs' pieces.
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);

// Pooling on (N, C, H, W) or (C, H, W), PyTorch's semantics (tensor/ops_pool.h has the checks).
// stride defaults to kernel_size. max_pool2d's gradient goes to each window's first maximum;
// return_indices also gives those (int32, h * W + w within each plane).
Tensor max_pool2d(const Tensor& x, Size2 kernel_size, Stride2 stride = {}, Size2 padding = 0,
                  Size2 dilation = 1, bool ceil_mode = false);
std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& x, Size2 kernel_size,
                                                  Stride2 stride = {}, Size2 padding = 0,
                                                  Size2 dilation = 1, bool ceil_mode = false);
Tensor avg_pool2d(const Tensor& x, Size2 kernel_size, Stride2 stride = {}, Size2 padding = 0,
                  bool ceil_mode = false, bool count_include_pad = true);
// Output (i, j) averages rows [floor(i*H/oh), ceil((i+1)*H/oh)) and likewise columns.
Tensor adaptive_avg_pool2d(const Tensor& x, Size2 output_size);

// 2-d @ 2-d (a may be n-d: its leading dims are batch rows).
Tensor matmul(const Tensor& a, const Tensor& b);
// x @ w^T + b with w (out, in) and b (out) or undefined: nn::Linear's op, one GEMM each way.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b);

// 2-d convolution as torch.nn.functional.conv2d: x (N, C, H, W), w (O, C/groups, KH, KW),
// bias (O) or undefined; stride, padding and dilation per axis ({h, w}) or one number for both.
// Returns (N, O, OH, OW) with OH = (H + 2*padding.h - dilation.h*(KH-1) - 1) / stride.h + 1.
// CPU or CUDA (kernels/conv.h); a tg::Error names the shapes of bad input on either.
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias = Tensor(), Size2 stride = 1,
              Size2 padding = 0, Size2 dilation = 1, int64_t groups = 1);

// Normalisation as torch.nn.functional. x is (N, C) or (N, C, *); weight and bias are (C) or
// undefined. batch_norm in training normalises each channel with its batch mean and biased
// variance and, when running_mean/running_var (C) are given, updates them in place outside
// the tape: r = (1 - momentum) * r + momentum * batch statistic, with the unbiased variance
// for running_var; in eval it normalises with the running statistics.
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training, double momentum = 0.1,
                  double eps = 1e-5);
// Over the trailing dims normalized_shape; weight and bias of that shape or undefined.
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);
// Over each of `groups` groups of C/groups channels (and all of * ) per example; groups == C
// is instance norm, groups == 1 layer norm over (C, *).
Tensor group_norm(const Tensor& x, int64_t groups, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);
// Along the last dim.
Tensor softmax(const Tensor& x);
Tensor log_softmax(const Tensor& x);
// Mean over the batch of -log softmax(logits)[label]; logits (n, c), labels int32 (n).
Tensor cross_entropy(const Tensor& logits, const Tensor& labels);
// cross_entropy with label smoothing eps (torch.nn.functional.cross_entropy(label_smoothing=eps)):
// the target is (1 - eps) * onehot + eps / c, so the loss is
//   (1 - eps) * cross_entropy + eps * mean over batch and classes of -log_softmax(logits).
// eps in [0, 1]; eps = 0 is cross_entropy itself.
Tensor label_smoothing_cross_entropy(const Tensor& logits, const Tensor& labels,
                                     double label_smoothing);
// Negative log-likelihood of log-probabilities (n, c), mean over the batch.
Tensor nll_loss(const Tensor& logp, const Tensor& labels);
// Mean squared error; pred and target of the same shape.
Tensor mse(const Tensor& pred, const Tensor& target);

}  // namespace tg
