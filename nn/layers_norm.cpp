// The normalisation layers: BatchNorm1d/2d (parameters and running-statistics buffers),
// LayerNorm and GroupNorm. Each forwards to its op in autograd/norm.cpp; str() follows
// PyTorch's repr (with this library's lowercase bools and Python's float text, 1e-05).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "autograd/functions.h"
#include "nn/layers.h"
#include "tensor/creation.h"
#include "tensor/grad_mode.h"

namespace tg::nn {

namespace {

const char* bool_str(bool b) {
  return b ? "True" : "False";  // as Python prints them
}

// Python's repr of a float: the shortest text that reads back (%.17g at most), with an
// exponent of at least two digits (1e-05) and ".0" on integral values.
std::string py_float(double v) {
  char buf[32];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  std::string s = buf;
  if (s.find_first_of(".en") == std::string::npos) s += ".0";  // n: nan, inf
  return s;
}

std::string shape_tuple(const Shape& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + (s.size() == 1 ? ",)" : ")");
}

}  // namespace

BatchNorm::BatchNorm(int64_t c, double eps_, double momentum_, bool affine_, bool track)
    : num_features(c), eps(eps_), momentum(momentum_), affine(affine_), track_running_stats(track) {
  const char* op = "BatchNorm";
  TG_CHECK(c > 0, op, "num_features must be positive, got ", c);
  TG_CHECK(eps >= 0, op, "eps must be non-negative, got ", eps);
  if (affine) {
    weight = register_parameter("weight", ones({c}));
    bias = register_parameter("bias", zeros({c}));
  }
  if (track) {
    running_mean = register_buffer("running_mean", zeros({c}));
    running_var = register_buffer("running_var", ones({c}));
    num_batches_tracked = register_buffer("num_batches_tracked", zeros({}, DType::i32));
  }
}

Tensor BatchNorm::forward(const Tensor& x) {
  check_input(x);
  TG_CHECK(x.size(1) == num_features, name().c_str(), "expected ", num_features,
           " channels, got input of shape ", x.shape_str());
  const bool training = is_training();
  if (training && track_running_stats) {
    NoGrad guard;
    // += 1 on the counter's own device, never read by the host: on the GPU a read would
    // synchronise every batch and cannot be captured into a CUDA Graph. Through float64 (exact
    // for any int32 count) because the scalar kernels are floating-point only.
    num_batches_tracked.copy_(ops::scalar(ScalarOp::add, num_batches_tracked.to(DType::f64), 1));
  }
  // Batch statistics in training, and in eval too when no running ones are kept.
  return tg::batch_norm(x, running_mean, running_var, weight, bias,
                        training || !track_running_stats, momentum, eps);
}

std::string BatchNorm::extra_repr() const {
  return std::to_string(num_features) + ", eps=" + py_float(eps) +
         ", momentum=" + py_float(momentum) + ", affine=" + bool_str(affine) +
         ", track_running_stats=" + bool_str(track_running_stats);
}

void BatchNorm1d::check_input(const Tensor& x) const {
  TG_CHECK(x.defined() && (x.dim() == 2 || x.dim() == 3), "BatchNorm1d",
           "expected 2D or 3D input (N, C) or (N, C, L), got ",
           x.defined() ? x.shape_str() : "an undefined tensor");
}

void BatchNorm2d::check_input(const Tensor& x) const {
  TG_CHECK(x.defined() && x.dim() == 4, "BatchNorm2d", "expected 4D input (N, C, H, W), got ",
           x.defined() ? x.shape_str() : "an undefined tensor");
}

LayerNorm::LayerNorm(Shape shape, double eps_, bool affine)
    : normalized_shape(std::move(shape)), eps(eps_), elementwise_affine(affine) {
  const char* op = "LayerNorm";
  TG_CHECK(!normalized_shape.empty(), op, "normalized_shape must not be empty");
  for (int64_t s : normalized_shape)
    TG_CHECK(s > 0, op, "normalized_shape must be positive, got ", shape_tuple(normalized_shape));
  if (affine) {
    weight = register_parameter("weight", ones(normalized_shape));
    bias = register_parameter("bias", zeros(normalized_shape));
  }
}

Tensor LayerNorm::forward(const Tensor& x) {
  return tg::layer_norm(x, normalized_shape, weight, bias, eps);
}

std::string LayerNorm::extra_repr() const {
  return shape_tuple(normalized_shape) + ", eps=" + py_float(eps) +
         ", elementwise_affine=" + bool_str(elementwise_affine);
}

GroupNorm::GroupNorm(int64_t groups, int64_t channels, double eps_, bool affine_)
    : num_groups(groups), num_channels(channels), eps(eps_), affine(affine_) {
  TG_CHECK(groups > 0 && channels > 0 && channels % groups == 0, "GroupNorm", "num_groups=", groups,
           " must divide num_channels=", channels);
  if (affine) {
    weight = register_parameter("weight", ones({channels}));
    bias = register_parameter("bias", zeros({channels}));
  }
}

Tensor GroupNorm::forward(const Tensor& x) {
  TG_CHECK(x.defined() && x.dim() >= 2 && x.size(1) == num_channels, "GroupNorm", "expected ",
           num_channels, " channels, got input of shape ",
           x.defined() ? x.shape_str() : "an undefined tensor");
  return tg::group_norm(x, num_groups, weight, bias, eps);
}

std::string GroupNorm::extra_repr() const {
  return std::to_string(num_groups) + ", " + std::to_string(num_channels) +
         ", eps=" + py_float(eps) + ", affine=" + bool_str(affine);
}

}  // namespace tg::nn
