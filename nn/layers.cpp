// The standard layers: Linear (with PyTorch's default init), ReLU, Flatten, Sequential, mlp().
#include "nn/layers.h"

#include <cmath>
#include <string>

#include "autograd/functions.h"
#include "nn/init.h"
#include "nn/memory.h"

namespace tg::nn {

Linear::Linear(int64_t in, int64_t out, bool with_bias)
    : Linear(in, out, with_bias, default_generator()) {}

// torch.nn.Linear.reset_parameters: kaiming_uniform_(weight, a = sqrt(5)) gives
// bound = sqrt(2 / (1 + 5)) * sqrt(3 / fan_in) = 1 / sqrt(fan_in); the bias draws from
// U(-1/sqrt(fan_in), 1/sqrt(fan_in)). The weight draws first, then the bias.
Linear::Linear(int64_t in, int64_t out, bool with_bias, Generator& gen)
    : in_features(in), out_features(out) {
  TG_CHECK(in > 0 && out > 0, "Linear", "in_features and out_features must be positive, got ",
           "in_features=", in, ", out_features=", out);
  // Before allocating: a size whose bytes overflow, or that cannot fit, is refused by name.
  const auto layer = mlp_layers({in, out}).front();
  check_fits("Linear",
             "in_features=" + std::to_string(in) + ", out_features=" + std::to_string(out) +
                 ": the parameters alone",
             static_cast<int64_t>(dtype_size(DType::f32)) * layer.parameters);
  Tensor w = empty({out, in});
  init::kaiming_uniform_(w, gen, std::sqrt(5.0));
  weight = register_parameter("weight", w);
  if (with_bias) {
    double bound = 1.0 / std::sqrt(static_cast<double>(in));
    Tensor b = empty({out});
    init::uniform_(b, -bound, bound, gen);
    bias = register_parameter("bias", b);
  }
}

Tensor Linear::forward(const Tensor& x) {
  TG_CHECK(x.defined(), "Linear", "input is an undefined tensor");
  TG_CHECK(x.dim() >= 1 && x.size(-1) == in_features, "Linear", "input of shape ", x.shape_str(),
           " does not match in_features=", in_features);
  return tg::linear(x, weight, bias);
}

std::string Linear::extra_repr() const {
  return "in_features=" + std::to_string(in_features) +
         ", out_features=" + std::to_string(out_features) +
         ", bias=" + (bias.defined() ? "true" : "false");
}

Tensor ReLU::forward(const Tensor& x) {
  return tg::relu(x);
}

Tensor Flatten::forward(const Tensor& x) {
  TG_CHECK(x.defined() && x.dim() >= 2, "Flatten", "expected a (batch, ...) input, got shape ",
           x.defined() ? x.shape_str() : "undefined");
  return tg::flatten(x, start_dim, end_dim);
}

std::string Flatten::extra_repr() const {
  return "start_dim=" + std::to_string(start_dim) + ", end_dim=" + std::to_string(end_dim);
}

Sequential::Sequential(std::initializer_list<std::shared_ptr<Module>> layers) {
  for (const auto& l : layers) push_back(l);
}

Sequential::Sequential(const std::vector<std::shared_ptr<Module>>& layers) {
  for (const auto& l : layers) push_back(l);
}

void Sequential::push_back(std::shared_ptr<Module> layer) {
  TG_CHECK(layer != nullptr, "Sequential", "layer ", layers_.size(), " is null");
  add_child(std::to_string(layers_.size()), layer);
  layers_.push_back(std::move(layer));
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (auto& l : layers_) h = (*l)(h);
  return h;
}

Module& Sequential::operator[](size_t i) const {
  TG_CHECK(i < layers_.size(), "Sequential", "index ", i, " is out of range for ", layers_.size(),
           " layers");
  return *layers_[i];
}

std::shared_ptr<Sequential> mlp(const std::vector<int64_t>& sizes, Generator& gen) {
  // Checks the sizes and counts the parameters before anything is allocated: sizes whose bytes
  // overflow int64, or parameters that alone exceed the available memory, are refused here.
  const MemoryEstimate need = estimate_mlp(sizes, 1);
  std::string arch;
  for (int64_t s : sizes) {
    if (!arch.empty()) arch += '-';
    arch += std::to_string(s);
  }
  check_fits("mlp", "sizes " + arch + ": the parameters alone", need.parameters);
  auto model = std::make_shared<Sequential>();
  for (size_t i = 0; i + 1 < sizes.size(); ++i) {
    if (i > 0) model->push_back(std::make_shared<ReLU>());
    model->push_back(std::make_shared<Linear>(sizes[i], sizes[i + 1], true, gen));
  }
  return model;
}

}  // namespace tg::nn
