// Weight initialisation in place, with PyTorch's formulas (torch.nn.init), drawing from a
// Generator so results are reproducible. Each works under NoGrad on a parameter.
#pragma once

#include <string>
#include <utility>

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace tg::nn::init {

enum class FanMode { fan_in, fan_out };

// (fan_in, fan_out) of a weight of shape (out, in, ...) — as torch's _calculate_fan_in_and_fan_out.
std::pair<int64_t, int64_t> fans(const Tensor& w);
// gain for "linear", "relu", "leaky_relu" (with param a), "tanh", "sigmoid".
double calculate_gain(const std::string& nonlinearity, double a = 0);

void uniform_(Tensor& w, double low, double high, Generator& gen);
void normal_(Tensor& w, double mean, double std, Generator& gen);
void constant_(Tensor& w, double value);
void zeros_(Tensor& w);
void ones_(Tensor& w);
// std = gain / sqrt(fan), gain = calculate_gain(nonlinearity, a).
void kaiming_normal_(Tensor& w, Generator& gen, double a = 0, FanMode mode = FanMode::fan_in,
                     const std::string& nonlinearity = "leaky_relu");
// bound = gain * sqrt(3 / fan).
void kaiming_uniform_(Tensor& w, Generator& gen, double a = 0, FanMode mode = FanMode::fan_in,
                      const std::string& nonlinearity = "leaky_relu");
// bound = gain * sqrt(6 / (fan_in + fan_out)).
void xavier_uniform_(Tensor& w, Generator& gen, double gain = 1);
void xavier_normal_(Tensor& w, Generator& gen, double gain = 1);

}  // namespace tg::nn::init
