// The standard layers: Linear and Conv2d (with PyTorch's default init), ReLU, Flatten, Sequential,
// mlp().
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
         ", bias=" + (bias.defined() ? "True" : "False");
}

Conv2d::Conv2d(int64_t in, int64_t out, Size2 k, Size2 stride_, Size2 padding_, Size2 dilation_,
               int64_t groups_, bool with_bias)
    : Conv2d(in, out, k, stride_, padding_, dilation_, groups_, with_bias, default_generator()) {}

// torch.nn.Conv2d.reset_parameters (_ConvNd): kaiming_uniform_(weight, a = sqrt(5)), then the
// bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in/groups * kH * kW.
Conv2d::Conv2d(int64_t in, int64_t out, Size2 k, Size2 stride_, Size2 padding_, Size2 dilation_,
               int64_t groups_, bool with_bias, Generator& gen)
    : in_channels(in),
      out_channels(out),
      kernel_size(k),
      stride(stride_),
      padding(padding_),
      dilation(dilation_),
      groups(groups_) {
  TG_CHECK(in > 0 && out > 0, "Conv2d", "in_channels and out_channels must be positive, got ",
           "in_channels=", in, ", out_channels=", out);
  TG_CHECK(k.h > 0 && k.w > 0, "Conv2d", "kernel_size must be positive, got (", k.h, ", ", k.w,
           ")");
  TG_CHECK(stride.h > 0 && stride.w > 0 && dilation.h > 0 && dilation.w > 0, "Conv2d", "stride (",
           stride.h, ", ", stride.w, ") and dilation (", dilation.h, ", ", dilation.w,
           ") must be positive");
  TG_CHECK(padding.h >= 0 && padding.w >= 0, "Conv2d", "padding must be non-negative, got (",
           padding.h, ", ", padding.w, ")");
  TG_CHECK(groups > 0 && in % groups == 0 && out % groups == 0, "Conv2d", "groups=", groups,
           " must divide in_channels=", in, " and out_channels=", out);
  const int64_t fan_in = in / groups * k.h * k.w;
  check_fits("Conv2d",
             "in_channels=" + std::to_string(in) + ", out_channels=" + std::to_string(out) +
                 ": the parameters alone",
             static_cast<int64_t>(dtype_size(DType::f32)) * (out * fan_in + out));
  Tensor w = empty({out, in / groups, k.h, k.w});
  init::kaiming_uniform_(w, gen, std::sqrt(5.0));
  weight = register_parameter("weight", w);
  if (with_bias) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
    Tensor b = empty({out});
    init::uniform_(b, -bound, bound, gen);
    bias = register_parameter("bias", b);
  }
}

Tensor Conv2d::forward(const Tensor& x) {
  TG_CHECK(x.defined(), "Conv2d", "input is an undefined tensor");
  TG_CHECK(x.dim() == 4 && x.size(1) == in_channels, "Conv2d", "input of shape ", x.shape_str(),
           " does not match in_channels=", in_channels, " (expected (N, ", in_channels, ", H, W))");
  return tg::conv2d(x, weight, bias, stride, padding, dilation, groups);
}

namespace {
std::string pair_repr(Size2 p) {
  return "(" + std::to_string(p.h) + ", " + std::to_string(p.w) + ")";
}
}  // namespace

// As torch's _ConvNd.extra_repr: padding, dilation and groups only when not the default.
std::string Conv2d::extra_repr() const {
  std::string s = std::to_string(in_channels) + ", " + std::to_string(out_channels) +
                  ", kernel_size=" + pair_repr(kernel_size) + ", stride=" + pair_repr(stride);
  if (padding.h != 0 || padding.w != 0) s += ", padding=" + pair_repr(padding);
  if (dilation.h != 1 || dilation.w != 1) s += ", dilation=" + pair_repr(dilation);
  if (groups != 1) s += ", groups=" + std::to_string(groups);
  if (!bias.defined()) s += ", bias=False";
  return s;
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

std::shared_ptr<Sequential> course_cnn(int64_t rows, int64_t cols,
                                       const std::vector<int64_t>& channels, int64_t classes,
                                       Generator& gen, int64_t convs_per_stage) {
  TG_CHECK(!channels.empty() && rows > 0 && cols > 0 && classes > 0, "course_cnn",
           "needs image sizes, at least one conv layer's channels and a class count, got ", rows,
           "x", cols, ", ", channels.size(), " conv layers, ", classes, " classes");
  TG_CHECK(convs_per_stage >= 1 && convs_per_stage <= 8, "course_cnn",
           "convs_per_stage must be in 1..8, got ", convs_per_stage);
  const MemoryEstimate need = estimate_memory(
      course_cnn_layers(rows, cols, channels, classes, convs_per_stage), {.inputs = rows * cols});
  check_fits("course_cnn", "the parameters alone", need.parameters);
  auto model = std::make_shared<Sequential>();
  model->push_back(std::make_shared<Unflatten>(1, Shape{1, rows, cols}));
  int64_t in = 1;
  for (size_t i = 0; i < channels.size(); ++i) {
    const int64_t k = i == 0 ? 5 : 3;
    model->push_back(std::make_shared<Conv2d>(in, channels[i], k, 2, k / 2, 1, 1, false, gen));
    model->push_back(std::make_shared<ReLU>());
    model->push_back(std::make_shared<BatchNorm2d>(channels[i]));
    for (int64_t j = 1; j < convs_per_stage; ++j) {
      model->push_back(
          std::make_shared<Conv2d>(channels[i], channels[i], 3, 1, 1, 1, 1, false, gen));
      model->push_back(std::make_shared<ReLU>());
      model->push_back(std::make_shared<BatchNorm2d>(channels[i]));
    }
    in = channels[i];
  }
  model->push_back(std::make_shared<AdaptiveAvgPool2d>(1));
  model->push_back(std::make_shared<Flatten>());
  model->push_back(std::make_shared<Linear>(in, classes, true, gen));
  return model;
}

std::vector<LayerMemory> course_cnn_layers(int64_t rows, int64_t cols,
                                           const std::vector<int64_t>& channels, int64_t classes,
                                           int64_t convs_per_stage) {
  CnnLayers net({1, rows, cols});
  for (size_t i = 0; i < channels.size(); ++i) {
    const int64_t k = i == 0 ? 5 : 3;
    net.conv2d(channels[i], k, 2, k / 2, 1, 1, /*bias=*/false).activation().batch_norm2d();
    for (int64_t j = 1; j < convs_per_stage; ++j)
      net.conv2d(channels[i], 3, 1, 1, 1, 1, /*bias=*/false).activation().batch_norm2d();
  }
  net.adaptive_avg_pool2d(1).flatten().linear(classes);
  return net.layers();
}

}  // namespace tg::nn
