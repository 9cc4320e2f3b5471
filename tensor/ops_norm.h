// Training-mode batch norm as two fused ops (kernels/norm.h), for the autograd layer's
// batch_norm on the CPU: x (N, C, *) floating and on the CPU, weight and bias (C) or undefined.
#pragma once

#include "tensor/tensor.h"

namespace tg::ops {

struct BatchNormTrain {
  Tensor y;                  // x's shape
  Tensor mean, var, invstd;  // (C): the batch's mean, biased variance, 1/sqrt(var + eps)
};
BatchNormTrain batch_norm_train(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                double eps);

struct BatchNormGrads {
  Tensor gx, gw, gb;  // each computed only when asked for, else undefined
};
BatchNormGrads batch_norm_train_backward(const Tensor& gy, const Tensor& x, const Tensor& weight,
                                         const Tensor& mean, const Tensor& invstd, bool need_x,
                                         bool need_w, bool need_b);

// Whether batch_norm_train takes x: a floating CPU tensor of at least 2 dims.
bool batch_norm_fused_supports(const Tensor& x);

}  // namespace tg::ops
