// Functional forms of the layers and losses (PyTorch's torch.nn.functional), for models written
// as plain functions. They forward to the differentiable ops of autograd/.
#pragma once

#include "autograd/functions.h"

namespace tg::nn::functional {

inline Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b = Tensor()) {
  return tg::linear(x, w, b);
}
inline Tensor relu(const Tensor& x) {
  return tg::relu(x);
}
inline Tensor sigmoid(const Tensor& x) {
  return tg::sigmoid(x);
}
inline Tensor tanh(const Tensor& x) {
  return tg::tanh(x);
}
inline Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01) {
  return tg::leaky_relu(x, negative_slope);
}
inline Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) {
  return tg::dropout(x, p, training, gen);
}
inline Tensor max_pool2d(const Tensor& x, Size2 kernel_size, Stride2 stride = {}, Size2 padding = 0,
                         Size2 dilation = 1, bool ceil_mode = false) {
  return tg::max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode);
}
inline Tensor avg_pool2d(const Tensor& x, Size2 kernel_size, Stride2 stride = {}, Size2 padding = 0,
                         bool ceil_mode = false, bool count_include_pad = true) {
  return tg::avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad);
}
inline Tensor adaptive_avg_pool2d(const Tensor& x, Size2 output_size) {
  return tg::adaptive_avg_pool2d(x, output_size);
}
inline Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                         const Tensor& weight = Tensor(), const Tensor& bias = Tensor(),
                         bool training = false, double momentum = 0.1, double eps = 1e-5) {
  return tg::batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps);
}
inline Tensor layer_norm(const Tensor& x, const Shape& normalized_shape,
                         const Tensor& weight = Tensor(), const Tensor& bias = Tensor(),
                         double eps = 1e-5) {
  return tg::layer_norm(x, normalized_shape, weight, bias, eps);
}
inline Tensor group_norm(const Tensor& x, int64_t num_groups, const Tensor& weight = Tensor(),
                         const Tensor& bias = Tensor(), double eps = 1e-5) {
  return tg::group_norm(x, num_groups, weight, bias, eps);
}
inline Tensor softmax(const Tensor& x) {
  return tg::softmax(x);
}
inline Tensor log_softmax(const Tensor& x) {
  return tg::log_softmax(x);
}
inline Tensor cross_entropy(const Tensor& logits, const Tensor& labels) {
  return tg::cross_entropy(logits, labels);
}
// With label smoothing, as torch.nn.functional.cross_entropy(..., label_smoothing=eps).
inline Tensor cross_entropy(const Tensor& logits, const Tensor& labels, double label_smoothing) {
  return tg::label_smoothing_cross_entropy(logits, labels, label_smoothing);
}
inline Tensor nll_loss(const Tensor& logp, const Tensor& labels) {
  return tg::nll_loss(logp, labels);
}
inline Tensor mse_loss(const Tensor& pred, const Tensor& target) {
  return tg::mse(pred, target);
}
// Fraction of rows whose argmax equals the label, as a [] float32 tensor on the inputs' device
// (ops::accuracy: one kernel).
Tensor accuracy(const Tensor& logits, const Tensor& labels);

}  // namespace tg::nn::functional
