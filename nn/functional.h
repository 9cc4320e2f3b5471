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
inline Tensor softmax(const Tensor& x) {
  return tg::softmax(x);
}
inline Tensor log_softmax(const Tensor& x) {
  return tg::log_softmax(x);
}
inline Tensor cross_entropy(const Tensor& logits, const Tensor& labels) {
  return tg::cross_entropy(logits, labels);
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
