// The standard layers: Linear, ReLU, Flatten, Sequential; for CNNs Conv2d, MaxPool2d, AvgPool2d,
// AdaptiveAvgPool2d, Dropout, Sigmoid, Tanh, LeakyReLU, Unflatten and Lambda (nn/layers_cnn.cpp);
// the normalisation layers BatchNorm1d, BatchNorm2d, LayerNorm, GroupNorm (nn/layers_norm.cpp).
//
//   auto model = tg::nn::Sequential({std::make_shared<tg::nn::Linear>(784, 50),
//                                    std::make_shared<tg::nn::ReLU>(),
//                                    std::make_shared<tg::nn::Linear>(50, 10)});
//   tg::Tensor logits = (*model)(x);                  // x: (batch, 784)
#pragma once

#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <vector>

#include "nn/memory.h"
#include "nn/module.h"
#include "tensor/ops.h"
#include "tensor/ops_pool.h"
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

// Flattens dims start_dim..end_dim into one: by default (batch, d1, d2, ...) -> (batch, d1*d2*...).
class Flatten : public Module {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1)
      : start_dim(start_dim), end_dim(end_dim) {}
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "Flatten"; }
  int64_t start_dim, end_dim;

 protected:
  std::string extra_repr() const override;
};

class Sigmoid : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "Sigmoid"; }
};

class Tanh : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "Tanh"; }
};

class LeakyReLU : public Module {
 public:
  explicit LeakyReLU(double negative_slope = 0.01) : negative_slope(negative_slope) {}
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "LeakyReLU"; }
  double negative_slope;

 protected:
  std::string extra_repr() const override;
};

// Inverted dropout (tg::dropout) while training, the identity in eval mode; p in [0, 1).
// The masks are drawn from gen (default_generator() when none is given), which must outlive
// the module.
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5);
  Dropout(double p, Generator& gen);
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "Dropout"; }
  double p;

 protected:
  std::string extra_repr() const override;

 private:
  Generator* gen_;
};

// tg::max_pool2d; stride defaults to kernel_size.
class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(Size2 kernel_size, Stride2 stride = {}, Size2 padding = 0, Size2 dilation = 1,
                     bool ceil_mode = false);
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "MaxPool2d"; }
  Size2 kernel_size, stride, padding, dilation;
  bool ceil_mode;

 protected:
  std::string extra_repr() const override;
};

// tg::avg_pool2d; stride defaults to kernel_size.
class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(Size2 kernel_size, Stride2 stride = {}, Size2 padding = 0,
                     bool ceil_mode = false, bool count_include_pad = true);
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "AvgPool2d"; }
  Size2 kernel_size, stride, padding;
  bool ceil_mode, count_include_pad;

 protected:
  std::string extra_repr() const override;
};

class AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(Size2 output_size) : output_size(output_size) {}
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "AdaptiveAvgPool2d"; }
  Size2 output_size;

 protected:
  std::string extra_repr() const override;
};

// Splits dim into unflattened_size (torch.nn.Unflatten): Unflatten(1, {1, 28, 28}) takes
// (N, 784) to (N, 1, 28, 28). One entry may be -1 (inferred). The product must equal the size
// of dim. str(): Unflatten(dim=1, unflattened_size=(1, 28, 28)).
class Unflatten : public Module {
 public:
  Unflatten(int64_t dim, Shape unflattened_size);
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "Unflatten"; }
  int64_t dim;
  Shape unflattened_size;

 protected:
  std::string extra_repr() const override;
};

// A function as a layer (fastai's Lambda), e.g. a reshape inside a Sequential:
//   nn::Lambda([](const Tensor& x) { return tg::reshape(x, {-1, 1, 28, 28}); }, "view")
// str() is "Lambda()" or, with a label, "Lambda(view)".
class Lambda : public Module {
 public:
  explicit Lambda(std::function<Tensor(const Tensor&)> fn, std::string label = "");
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "Lambda"; }

 protected:
  std::string extra_repr() const override { return label_; }

 private:
  std::function<Tensor(const Tensor&)> fn_;
  std::string label_;
};

// Batch normalisation (tg::batch_norm) as torch.nn.BatchNorm1d/2d: parameters weight = 1 and
// bias = 0 (C) when affine; buffers running_mean = 0, running_var = 1 (C) and
// num_batches_tracked when track_running_stats. A training forward normalises with the batch's
// statistics, updates the running ones with momentum and adds 1 to num_batches_tracked; eval
// uses the running statistics (the batch's without track_running_stats). num_batches_tracked
// is an int32 scalar (PyTorch's is int64, which tapegrad lacks; safetensors I64 reads into
// it, and export_state_dict writes it as I64). BatchNorm1d takes (N, C) or (N, C, L),
// BatchNorm2d (N, C, H, W). str(): BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=True,
// track_running_stats=True).
class BatchNorm : public Module {
 public:
  Tensor forward(const Tensor& x) override;

  int64_t num_features;
  double eps, momentum;
  bool affine, track_running_stats;
  Tensor weight, bias;                                    // undefined without affine
  Tensor running_mean, running_var, num_batches_tracked;  // undefined without tracking

 protected:
  BatchNorm(int64_t num_features, double eps, double momentum, bool affine,
            bool track_running_stats);
  virtual void check_input(const Tensor& x) const = 0;
  std::string extra_repr() const override;
};

class BatchNorm1d : public BatchNorm {
 public:
  explicit BatchNorm1d(int64_t num_features, double eps = 1e-5, double momentum = 0.1,
                       bool affine = true, bool track_running_stats = true)
      : BatchNorm(num_features, eps, momentum, affine, track_running_stats) {}
  std::string name() const override { return "BatchNorm1d"; }

 protected:
  void check_input(const Tensor& x) const override;
};

class BatchNorm2d : public BatchNorm {
 public:
  explicit BatchNorm2d(int64_t num_features, double eps = 1e-5, double momentum = 0.1,
                       bool affine = true, bool track_running_stats = true)
      : BatchNorm(num_features, eps, momentum, affine, track_running_stats) {}
  std::string name() const override { return "BatchNorm2d"; }

 protected:
  void check_input(const Tensor& x) const override;
};

// tg::layer_norm over the trailing dims normalized_shape, with weight = 1 and bias = 0 of that
// shape when elementwise_affine. str(): LayerNorm((10,), eps=1e-05, elementwise_affine=true).
class LayerNorm : public Module {
 public:
  explicit LayerNorm(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true);
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "LayerNorm"; }

  Shape normalized_shape;
  double eps;
  bool elementwise_affine;
  Tensor weight, bias;

 protected:
  std::string extra_repr() const override;
};

// tg::group_norm with num_groups dividing num_channels; weight = 1 and bias = 0 (C) when
// affine. num_groups == num_channels is instance norm. str(): GroupNorm(2, 4, eps=1e-05,
// affine=true).
class GroupNorm : public Module {
 public:
  GroupNorm(int64_t num_groups, int64_t num_channels, double eps = 1e-5, bool affine = true);
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "GroupNorm"; }

  int64_t num_groups, num_channels;
  double eps;
  bool affine;
  Tensor weight, bias;

 protected:
  std::string extra_repr() const override;
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

// The course's CNN (notebooks 06-07) for flattened (N, rows*cols) images: Unflatten(1, {1,
// rows, cols}) (the course's view, as a layer nn/describe.h can write down), then per entry of
// `channels` a Conv2d (kernel 5 for the first, else 3; stride 2, padding kernel/2, no bias) ->
// ReLU -> BatchNorm2d, then AdaptiveAvgPool2d(1), Flatten and Linear(channels.back(), classes).
// Course channels: {8, 16, 32, 32}. convs_per_stage > 1 follows each stride-2 conv with
// convs_per_stage - 1 more (kernel 3, stride 1, padding 1, same channels; each with its ReLU
// and BatchNorm2d): a deeper net at the same resolutions (1..8).
std::shared_ptr<Sequential> course_cnn(int64_t rows, int64_t cols,
                                       const std::vector<int64_t>& channels, int64_t classes,
                                       Generator& gen, int64_t convs_per_stage = 1);
// Its layers for the memory estimate (nn/memory.h).
std::vector<LayerMemory> course_cnn_layers(int64_t rows, int64_t cols,
                                           const std::vector<int64_t>& channels, int64_t classes,
                                           int64_t convs_per_stage = 1);

}  // namespace tg::nn
