// Loss functions as objects with their hyper-parameters, as torch.nn's losses are, for the
// places that take a loss by value (the Learner's loss_func):
//
//   tg::Learner learn(model, opt, tg::nn::CrossEntropyLoss{.label_smoothing = 0.1}, data);
//
// The Learner recognises CrossEntropyLoss (as it does tg::cross_entropy) and gives softmax
// probabilities from get_preds.
#pragma once

#include "autograd/functions.h"

namespace tg::nn {

struct CrossEntropyLoss {
  double label_smoothing = 0;  // torch.nn.CrossEntropyLoss(label_smoothing=...), in [0, 1]
  Tensor operator()(const Tensor& logits, const Tensor& labels) const {
    return label_smoothing_cross_entropy(logits, labels, label_smoothing);
  }
};

}  // namespace tg::nn
