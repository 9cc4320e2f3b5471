// The standard layers: Linear, Conv2d, ReLU, Flatten, Sequential.
//
//   auto model = tg::nn::Sequential({std::make_shared<tg::nn::Linear>(784, 50),
//                                    std::make_shared<tg::nn::ReLU>(),
//                                    std::make_shared<tg::nn::Linear>(50, 10)});
//   tg::Tensor logits = (*model)(x);                  // x: (batch, 784)
#pragma once

#include <initializer_list>
#include <memory>
#include <vector>

#include "nn/module.h"
#include "tensor/ops.h"
#include "tensor/random.h"

namespace tg::nn {

// y = x @ weight^T + bias; weight (out, in), bias (out). PyTorch's default init:
// kaiming_uniform_(weight, a = sqrt(5)) and bias ~ U(-1/sqrt(in), 1/sqrt(in)). Sizes whose
// parameters cannot fit in the available memory are refused before allocating (see mlp).
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  Linear(int64_t in_features, int64_t out_features, bool bias, Generator& gen);
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "Linear"; }

  int64_t in_features, out_features;
  Tensor weight, bias;  // bias undefined when built without

 protected:
  std::string extra_repr() const override;
};

// y = conv2d(x, weight, bias) over x (N, in, H, W); weight (out, in/groups, kH, kW), bias (out),
// as torch.nn.Conv2d with padding_mode="zeros". PyTorch's default init: kaiming_uniform_(weight,
// a = sqrt(5)), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = in/groups*kH*kW, and the
// bias from the same range; the weight draws first. str() is PyTorch's repr:
//   Conv2d(1, 8, kernel_size=(5, 5), stride=(2, 2), padding=(2, 2))
class Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, Size2 kernel_size, Size2 stride = 1,
         Size2 padding = 0, Size2 dilation = 1, int64_t groups = 1, bool bias = true);
  Conv2d(int64_t in_channels, int64_t out_channels, Size2 kernel_size, Size2 stride, Size2 padding,
         Size2 dilation, int64_t groups, bool bias, Generator& gen);
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "Conv2d"; }

  int64_t in_channels, out_channels;
  Size2 kernel_size, stride, padding, dilation;
  int64_t groups;
  Tensor weight, bias;  // bias undefined when built without

 protected:
  std::string extra_repr() const override;
};

class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "ReLU"; }
};

// (batch, d1, d2, ...) -> (batch, d1*d2*...).
class Flatten : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "Flatten"; }
};

// Runs its children in order; they are named "0", "1", ... as in PyTorch.
class Sequential : public Module {
 public:
  Sequential() = default;
  Sequential(std::initializer_list<std::shared_ptr<Module>> layers);
  explicit Sequential(const std::vector<std::shared_ptr<Module>>& layers);
  void push_back(std::shared_ptr<Module> layer);
  Tensor forward(const Tensor& x) override;
  size_t size() const { return layers_.size(); }
  Module& operator[](size_t i) const;  // bounds-checked
  std::string name() const override { return "Sequential"; }

 private:
  std::vector<std::shared_ptr<Module>> layers_;
};

// An MLP from layer sizes, e.g. {784, 50, 10}: Linear, ReLU, ..., Linear (no final ReLU).
// Before allocating anything it refuses, with a tg::Error naming the sizes, the bytes needed and
// the bytes available, sizes whose parameters alone exceed the memory this machine has
// available (nn/memory.h, base/memory.h) or whose byte count overflows int64. Linear checks its
// own parameters the same way.
std::shared_ptr<Sequential> mlp(const std::vector<int64_t>& sizes, Generator& gen);

}  // namespace tg::nn
