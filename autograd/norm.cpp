// Normalisation ops (batch_norm, layer_norm, group_norm), composed from the differentiable
// elementwise and reduce ops, so their backward is the tape's; except batch_norm in training on
// the CPU, one fused node over tensor/ops_norm.h (kernels/norm.h) with the closed-form
// backward. Statistics are two-pass (the mean, then the mean of squared deviations); the
// variance that normalises is the biased one, as in PyTorch. Only batch_norm's running
// statistics are updated, in place and outside the tape.
#include <string>

#include "autograd/functions.h"
#include "autograd/tape.h"
#include "tensor/grad_mode.h"
#include "tensor/ops_norm.h"

namespace tg {

namespace {

std::string shape_of(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// (1, C, 1, ...) for x of dim d: a per-channel tensor broadcast over (N, C, *).
Tensor per_channel(const Tensor& t, int64_t c, int64_t d) {
  Shape s(d, 1);
  s[1] = c;
  return reshape(t, s);
}

// A per-channel argument (weight, bias, running stats) must be defined-or-optional and (C).
void check_channels(const char* op, const char* what, const Tensor& t, const Tensor& x) {
  if (!t.defined()) return;
  TG_CHECK(t.dim() == 1 && t.size(0) == x.size(1), op, what, " of shape ", t.shape_str(),
           " does not match the input's ", x.size(1), " channels (input of shape ", x.shape_str(),
           ")");
}

// (x - mean) / sqrt(var + eps) with the biased variance over dims, kept for broadcasting.
Tensor normalize(const Tensor& x, const std::vector<int64_t>& dims, double eps, Tensor* mean_out,
                 Tensor* var_out) {
  Tensor m = mean(x, dims, true);
  Tensor d = x - m;
  Tensor v = mean(d * d, dims, true);
  if (mean_out) *mean_out = m;
  if (var_out) *var_out = v;
  return d / sqrt(v + eps);
}

Tensor affine(Tensor y, const Tensor& w, const Tensor& b) {
  if (w.defined()) y = y * w;
  if (b.defined()) y = y + b;
  return y;
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training, double momentum,
                  double eps) {
  const char* op = "batch_norm";
  TG_CHECK(x.defined(), op, "the input is an undefined tensor");
  TG_CHECK(x.dim() >= 2, op, "input must be (N, C) or (N, C, *), got ", x.shape_str());
  TG_CHECK(eps >= 0, op, "eps must be non-negative, got ", eps);
  check_channels(op, "running_mean", running_mean, x);
  check_channels(op, "running_var", running_var, x);
  check_channels(op, "weight", weight, x);
  check_channels(op, "bias", bias, x);
  TG_CHECK(running_mean.defined() == running_var.defined(), op,
           "running_mean and running_var must both be given or both be undefined");
  const int64_t c = x.size(1), d = x.dim();
  const Tensor w = weight.defined() ? per_channel(weight, c, d) : Tensor();
  const Tensor b = bias.defined() ? per_channel(bias, c, d) : Tensor();
  if (!training) {
    TG_CHECK(running_mean.defined(), op, "eval mode needs running_mean and running_var");
    const Tensor rm = per_channel(running_mean.detach().to(x.dtype()), c, d);
    const Tensor rv = per_channel(running_var.detach().to(x.dtype()), c, d);
    return affine((x - rm) / sqrt(rv + eps), w, b);
  }
  std::vector<int64_t> dims = {0};
  for (int64_t i = 2; i < d; ++i) dims.push_back(i);
  const int64_t n = x.numel() / (c > 0 ? c : 1);  // values per channel
  TG_CHECK(n > 1, op, "expected more than 1 value per channel when training, got input of shape ",
           x.shape_str());
  // The running statistics from the batch's mean and biased variance (each (C)).
  auto update_running = [&](const Tensor& m, const Tensor& v) {
    if (!running_mean.defined()) return;
    NoGrad guard;
    const Tensor bm = m.detach().reshape({c}).to(running_mean.dtype());
    // The running variance is the unbiased one, as PyTorch's.
    const Tensor bv =
        (v.detach().reshape({c}) * (double(n) / double(n - 1))).to(running_var.dtype());
    Tensor rm = running_mean, rv = running_var;
    rm.copy_(rm * (1 - momentum) + bm * momentum);
    rv.copy_(rv * (1 - momentum) + bv * momentum);
  };
  const bool same_dtype = (!weight.defined() || weight.dtype() == x.dtype()) &&
                          (!bias.defined() || bias.dtype() == x.dtype());
  if (ops::batch_norm_fused_supports(x) && same_dtype &&
      (!weight.defined() || weight.device() == x.device()) &&
      (!bias.defined() || bias.device() == x.device())) {
    ops::BatchNormTrain r = ops::batch_norm_train(x, weight, bias, eps);
    update_running(r.mean, r.var);
    if (!needs_grad({&x, &weight, &bias})) return r.y;
    const Tensor sx = x.detach(), sw = weight.defined() ? weight.detach() : Tensor();
    const bool need_x = x.requires_grad();
    const bool need_w = weight.defined() && weight.requires_grad();
    const bool need_b = bias.defined() && bias.requires_grad();
    return tape().record(
        "batch_norm", r.y, {x, weight, bias},
        [=, mean = r.mean, invstd = r.invstd](const Tensor& gy) -> std::vector<Tensor> {
          ops::BatchNormGrads g =
              ops::batch_norm_train_backward(gy, sx, sw, mean, invstd, need_x, need_w, need_b);
          return {g.gx, g.gw, g.gb};
        });
  }
  Tensor m, v;
  Tensor y = normalize(x, dims, eps, &m, &v);
  update_running(m, v);
  return affine(y, w, b);
}

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps) {
  const char* op = "layer_norm";
  TG_CHECK(x.defined(), op, "the input is an undefined tensor");
  const int64_t k = int64_t(normalized_shape.size()), d = x.dim();
  TG_CHECK(k >= 1, op, "normalized_shape must not be empty");
  bool fits = k <= d;
  for (int64_t i = 0; fits && i < k; ++i) fits = x.size(d - k + i) == normalized_shape[i];
  TG_CHECK(fits, op, "normalized_shape ", shape_of(normalized_shape),
           " does not match the trailing dims of the input of shape ", x.shape_str());
  for (const auto& [what, t] : {std::pair{"weight", &weight}, std::pair{"bias", &bias}})
    TG_CHECK(!t->defined() || t->shape() == normalized_shape, op, what, " of shape ",
             t->shape_str(), " does not match normalized_shape ", shape_of(normalized_shape));
  TG_CHECK(eps >= 0, op, "eps must be non-negative, got ", eps);
  std::vector<int64_t> dims;
  for (int64_t i = d - k; i < d; ++i) dims.push_back(i);
  return affine(normalize(x, dims, eps, nullptr, nullptr), weight, bias);
}

Tensor group_norm(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias,
                  double eps) {
  const char* op = "group_norm";
  TG_CHECK(x.defined(), op, "the input is an undefined tensor");
  TG_CHECK(x.dim() >= 2, op, "input must be (N, C) or (N, C, *), got ", x.shape_str());
  const int64_t n = x.size(0), c = x.size(1), d = x.dim();
  TG_CHECK(groups > 0 && c % groups == 0, op, "num_groups=", groups,
           " does not divide the input's channels: input of shape ", x.shape_str(), " has ", c);
  check_channels(op, "weight", weight, x);
  check_channels(op, "bias", bias, x);
  TG_CHECK(eps >= 0, op, "eps must be non-negative, got ", eps);
  const int64_t per_group = n > 0 ? x.numel() / (n * groups) : 0;
  Tensor y = normalize(reshape(x, {n, groups, per_group}), {2}, eps, nullptr, nullptr);
  y = reshape(y, x.shape());
  return affine(y, weight.defined() ? per_channel(weight, c, d) : Tensor(),
                bias.defined() ? per_channel(bias, c, d) : Tensor());
}

}  // namespace tg
