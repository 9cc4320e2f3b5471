// Weight initialisation with torch.nn.init's formulas. Values are drawn in float64 from the
// Generator, in row-major order (tg::uniform / tg::randn), then copied into the weight with one
// rounding to its dtype; the copy runs under NoGrad because weights are leaves that require
// grad. Any layout or device copy_ accepts works.
#include "nn/init.h"

#include <cmath>

#include "tensor/creation.h"
#include "tensor/grad_mode.h"

namespace tg::nn::init {

namespace {

void check_floating(const char* op, const Tensor& w) {
  TG_CHECK(w.defined(), op, "the tensor is undefined");
  TG_CHECK(is_floating(w.dtype()), op, "expected a float32 or float64 tensor, got ",
           dtype_name(w.dtype()), " of shape ", w.shape_str());
}

int64_t fan_for(const char* op, const Tensor& w, FanMode mode) {
  auto [fan_in, fan_out] = fans(w);
  int64_t fan = mode == FanMode::fan_in ? fan_in : fan_out;
  TG_CHECK(fan > 0, op, "the fan is 0 for a tensor of shape ", w.shape_str());
  return fan;
}

}  // namespace

std::pair<int64_t, int64_t> fans(const Tensor& w) {
  TG_CHECK(w.defined(), "init.fans", "the tensor is undefined");
  TG_CHECK(w.dim() >= 2, "init.fans",
           "fan in and fan out can not be computed for a tensor with fewer than 2 dimensions, "
           "got shape ",
           w.shape_str());
  int64_t receptive = 1;
  for (int64_t d = 2; d < w.dim(); ++d) receptive *= w.size(d);
  return {w.size(1) * receptive, w.size(0) * receptive};
}

double calculate_gain(const std::string& nl, double a) {
  if (nl == "linear" || nl == "sigmoid" || nl == "identity" || nl == "conv1d" || nl == "conv2d" ||
      nl == "conv3d")
    return 1.0;
  if (nl == "tanh") return 5.0 / 3.0;
  if (nl == "relu") return std::sqrt(2.0);
  if (nl == "leaky_relu") return std::sqrt(2.0 / (1.0 + a * a));
  if (nl == "selu") return 3.0 / 4.0;
  TG_FAIL("init.calculate_gain", "unsupported nonlinearity '", nl,
          "'; known: linear, identity, conv1d, conv2d, conv3d, sigmoid, tanh, relu, leaky_relu, "
          "selu");
}

void uniform_(Tensor& w, double low, double high, Generator& gen) {
  check_floating("init.uniform_", w);
  TG_CHECK(low <= high, "init.uniform_", "expected low <= high, got low=", low, " high=", high);
  Tensor values = uniform(w.shape(), low, high, gen, DType::f64);
  NoGrad guard;
  w.copy_(values);
}

void normal_(Tensor& w, double mean, double stddev, Generator& gen) {
  check_floating("init.normal_", w);
  TG_CHECK(stddev >= 0, "init.normal_", "expected std >= 0, got ", stddev);
  Tensor values = randn(w.shape(), gen, DType::f64);
  double* v = values.data<double>();
  for (int64_t i = 0; i < values.numel(); ++i) v[i] = mean + stddev * v[i];
  NoGrad guard;
  w.copy_(values);
}

void constant_(Tensor& w, double value) {
  check_floating("init.constant_", w);
  NoGrad guard;
  w.fill_(value);
}

void zeros_(Tensor& w) {
  constant_(w, 0);
}
void ones_(Tensor& w) {
  constant_(w, 1);
}

void kaiming_normal_(Tensor& w, Generator& gen, double a, FanMode mode,
                     const std::string& nonlinearity) {
  check_floating("init.kaiming_normal_", w);
  int64_t fan = fan_for("init.kaiming_normal_", w, mode);
  double sd = calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(fan));
  normal_(w, 0, sd, gen);
}

void kaiming_uniform_(Tensor& w, Generator& gen, double a, FanMode mode,
                      const std::string& nonlinearity) {
  check_floating("init.kaiming_uniform_", w);
  int64_t fan = fan_for("init.kaiming_uniform_", w, mode);
  double bound = calculate_gain(nonlinearity, a) * std::sqrt(3.0 / static_cast<double>(fan));
  uniform_(w, -bound, bound, gen);
}

void xavier_uniform_(Tensor& w, Generator& gen, double gain) {
  check_floating("init.xavier_uniform_", w);
  auto [fan_in, fan_out] = fans(w);
  TG_CHECK(fan_in + fan_out > 0, "init.xavier_uniform_", "empty tensor of shape ", w.shape_str());
  double bound = gain * std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
  uniform_(w, -bound, bound, gen);
}

void xavier_normal_(Tensor& w, Generator& gen, double gain) {
  check_floating("init.xavier_normal_", w);
  auto [fan_in, fan_out] = fans(w);
  TG_CHECK(fan_in + fan_out > 0, "init.xavier_normal_", "empty tensor of shape ", w.shape_str());
  double sd = gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out));
  normal_(w, 0, sd, gen);
}

}  // namespace tg::nn::init
