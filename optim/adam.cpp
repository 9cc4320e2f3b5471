// Adam, AdamW, RMSprop and LAMB: torch.optim's validation and state, one fused CPU kernel call
// per parameter (kernels/cpu/{adam,rmsprop,lamb}.cpp). The hyper-parameters are checked when
// set (Optimizer::set) and kept typed per group; step() validates none of them. The step count
// of each parameter is its state "step" (a one-element float32 CPU tensor, as torch 1.13), so a
// state dict restores the bias corrections too.
#include "optim/adam.h"

#include <cmath>
#include <string>

#include "tensor/creation.h"
#include "tensor/grad_mode.h"

namespace tg::optim {

namespace {

std::vector<std::string> adam_names() {
  return {"lr", "beta1", "beta2", "eps", "weight_decay"};
}
enum AdamSlot : size_t { kLr, kBeta1, kBeta2, kEps, kWd };
enum RmsSlot : size_t { kRLr, kRAlpha, kREps, kRWd, kRMomentum, kRCentered };

// torch's messages: "Invalid learning rate: -1".
void check_nonneg(const char* op, const char* what, double v) {
  TG_CHECK(v >= 0, op, "invalid ", what, ": ", v, " (must be >= 0)");
}
void check_beta(const char* op, const char* what, double v) {
  TG_CHECK(v >= 0 && v < 1, op, "invalid ", what, " parameter: ", v, " (must be in [0, 1))");
}

// The parameter's gradient, checked against it (device, shape, dtype, contiguity), or an
// undefined tensor when it has none (the parameter is skipped).
Tensor checked_grad(const char* op, const Tensor& p, size_t gi, size_t i) {
  Tensor grad = p.grad();
  if (!grad.defined()) return grad;
  TG_CHECK(p.device().is_cpu(), op, "parameter ", i, " of group ", gi, " is on ", p.device().str(),
           ": ", op, " has only a CPU update so far (SGD has the CUDA one)");
  TG_CHECK(p.device() == grad.device(), op, "parameter ", i, " of group ", gi, " is on ",
           p.device().str(), " but its gradient is on ", grad.device().str());
  TG_CHECK(grad.shape() == p.shape() && grad.dtype() == p.dtype(), op, "parameter ", i,
           " of group ", gi, " is ", p.shape_str(), " ", dtype_name(p.dtype()),
           " but its gradient is ", grad.shape_str(), " ", dtype_name(grad.dtype()));
  TG_CHECK(p.is_contiguous() && grad.is_contiguous(), op, "parameter ", i, " of group ", gi,
           " (shape ", p.shape_str(), ") or its gradient is not contiguous");
  return grad;
}

// The named buffer of a parameter, created as zeros (torch.zeros_like) when missing.
Tensor& buffer(std::map<std::string, Tensor>& st, const char* name, const Tensor& p) {
  auto it = st.find(name);
  if (it == st.end()) {
    it = st.emplace(name, zeros(p.shape(), p.dtype(), p.device())).first;
  } else if (it->second.device() != p.device()) {
    it->second.to_(p.device());
  }
  return it->second;
}

// Advances the parameter's "step" and returns the new count (>= 1).
int64_t next_step(const char* op, std::map<std::string, Tensor>& st) {
  auto it = st.find("step");
  if (it == st.end()) it = st.emplace("step", scalar_tensor(0, DType::f32)).first;
  Tensor& t = it->second;
  if (t.dtype() != DType::f32 || !t.device().is_cpu() || !t.is_contiguous())
    t = t.to(DType::f32).to(Device::cpu()).contiguous();
  float* c = t.data<float>();
  TG_CHECK(c[0] >= 0 && c[0] == std::floor(c[0]), op, "state 'step' must be a count >= 0, got ",
           c[0]);
  c[0] += 1;
  return static_cast<int64_t>(c[0]);
}

}  // namespace

// ---- Adam / AdamW ----

Adam::Adam(const std::vector<Tensor>& params, const AdamOptions& opt)
    : Adam(std::vector<ParamGroup>{ParamGroup{params, {}}}, opt, false) {}
Adam::Adam(std::vector<ParamGroup> groups, const AdamOptions& defaults)
    : Adam(std::move(groups), defaults, false) {}
Adam::Adam(std::vector<ParamGroup> groups, const AdamOptions& d, bool decoupled)
    : Optimizer(adam_names(), {d.lr, d.beta1, d.beta2, d.eps, d.weight_decay}),
      decoupled_(decoupled) {
  for (auto& g : groups) add_param_group(std::move(g));
}

namespace {
AdamOptions as_adam(const AdamWOptions& o) {
  return {o.lr, o.beta1, o.beta2, o.eps, o.weight_decay};
}
}  // namespace

AdamW::AdamW(const std::vector<Tensor>& params, const AdamWOptions& opt)
    : Adam(std::vector<ParamGroup>{ParamGroup{params, {}}}, as_adam(opt), true) {}
AdamW::AdamW(std::vector<ParamGroup> groups, const AdamWOptions& defaults)
    : Adam(std::move(groups), as_adam(defaults), true) {}

void Adam::check_hyper(const std::vector<double>& v) const {
  const char* op = decoupled_ ? "AdamW" : "Adam";
  check_nonneg(op, "learning rate", v[kLr]);
  check_nonneg(op, "epsilon value", v[kEps]);
  check_beta(op, "beta1", v[kBeta1]);
  check_beta(op, "beta2", v[kBeta2]);
  check_nonneg(op, "weight_decay value", v[kWd]);
}

void Adam::hyper_changed(size_t group) {
  if (typed_.size() <= group) typed_.resize(group + 1);
  const auto& v = hyper(group);
  typed_[group] = {v[kLr], v[kBeta1], v[kBeta2], v[kEps], v[kWd], decoupled_};
}

void Adam::step() {
  NoGrad guard;
  const char* op = decoupled_ ? "AdamW" : "Adam";
  for (size_t gi = 0; gi < num_groups(); ++gi) {
    const kernels::AdamHyper& h = typed_[gi];
    const auto& ps = params(gi);
    for (size_t i = 0; i < ps.size(); ++i) {
      const Tensor& p = ps[i];
      Tensor grad = checked_grad(op, p, gi, i);
      if (!grad.defined()) continue;
      auto& st = state_[gi][i];
      Tensor& m = buffer(st, "exp_avg", p);
      Tensor& v = buffer(st, "exp_avg_sq", p);
      const int64_t step = next_step(op, st);
      TG_DISPATCH_FLOATING(p.dtype(), op, [&] {
        kernels::cpu::adam_step<scalar_t>(p.data<scalar_t>(), grad.data<scalar_t>(),
                                          m.data<scalar_t>(), v.data<scalar_t>(), p.numel(), h,
                                          step);
      });
    }
  }
}

// ---- RMSprop ----

RMSprop::RMSprop(const std::vector<Tensor>& params, const RMSpropOptions& opt)
    : RMSprop(std::vector<ParamGroup>{ParamGroup{params, {}}}, opt) {}
RMSprop::RMSprop(std::vector<ParamGroup> groups, const RMSpropOptions& d)
    : Optimizer({"lr", "alpha", "eps", "weight_decay", "momentum", "centered"},
                {d.lr, d.alpha, d.eps, d.weight_decay, d.momentum, d.centered ? 1.0 : 0.0}) {
  for (auto& g : groups) add_param_group(std::move(g));
}

void RMSprop::check_hyper(const std::vector<double>& v) const {
  const char* op = "RMSprop";
  check_nonneg(op, "learning rate", v[kRLr]);
  check_nonneg(op, "epsilon value", v[kREps]);
  check_nonneg(op, "momentum value", v[kRMomentum]);
  check_nonneg(op, "weight_decay value", v[kRWd]);
  check_nonneg(op, "alpha value", v[kRAlpha]);
  TG_CHECK(v[kRCentered] == 0 || v[kRCentered] == 1, op, "centered must be 0 or 1, got ",
           v[kRCentered]);
}

void RMSprop::hyper_changed(size_t group) {
  if (typed_.size() <= group) typed_.resize(group + 1);
  const auto& v = hyper(group);
  typed_[group] = {v[kRLr], v[kRAlpha], v[kREps], v[kRWd], v[kRMomentum], v[kRCentered] == 1};
}

void RMSprop::step() {
  NoGrad guard;
  const char* op = "RMSprop";
  for (size_t gi = 0; gi < num_groups(); ++gi) {
    const kernels::RmspropHyper& h = typed_[gi];
    const auto& ps = params(gi);
    for (size_t i = 0; i < ps.size(); ++i) {
      const Tensor& p = ps[i];
      Tensor grad = checked_grad(op, p, gi, i);
      if (!grad.defined()) continue;
      auto& st = state_[gi][i];
      next_step(op, st);  // kept as torch keeps it; the update does not use it
      Tensor& sq = buffer(st, "square_avg", p);
      Tensor* ga = h.centered ? &buffer(st, "grad_avg", p) : nullptr;
      Tensor* buf = h.momentum > 0 ? &buffer(st, "momentum_buffer", p) : nullptr;
      TG_DISPATCH_FLOATING(p.dtype(), op, [&] {
        kernels::cpu::rmsprop_step<scalar_t>(p.data<scalar_t>(), grad.data<scalar_t>(),
                                             sq.data<scalar_t>(),
                                             ga ? ga->data<scalar_t>() : nullptr,
                                             buf ? buf->data<scalar_t>() : nullptr, p.numel(), h);
      });
    }
  }
}

// ---- LAMB ----

LAMB::LAMB(const std::vector<Tensor>& params, const LAMBOptions& opt)
    : LAMB(std::vector<ParamGroup>{ParamGroup{params, {}}}, opt) {}
LAMB::LAMB(std::vector<ParamGroup> groups, const LAMBOptions& d)
    : Optimizer(adam_names(), {d.lr, d.beta1, d.beta2, d.eps, d.weight_decay}) {
  for (auto& g : groups) add_param_group(std::move(g));
}

void LAMB::check_hyper(const std::vector<double>& v) const {
  const char* op = "LAMB";
  check_nonneg(op, "learning rate", v[kLr]);
  check_nonneg(op, "epsilon value", v[kEps]);
  check_beta(op, "beta1", v[kBeta1]);
  check_beta(op, "beta2", v[kBeta2]);
  check_nonneg(op, "weight_decay value", v[kWd]);
}

void LAMB::hyper_changed(size_t group) {
  if (typed_.size() <= group) typed_.resize(group + 1);
  const auto& v = hyper(group);
  typed_[group] = {v[kLr], v[kBeta1], v[kBeta2], v[kEps], v[kWd]};
}

void LAMB::step() {
  NoGrad guard;
  const char* op = "LAMB";
  for (size_t gi = 0; gi < num_groups(); ++gi) {
    const kernels::LambHyper& h = typed_[gi];
    const auto& ps = params(gi);
    for (size_t i = 0; i < ps.size(); ++i) {
      const Tensor& p = ps[i];
      Tensor grad = checked_grad(op, p, gi, i);
      if (!grad.defined()) continue;
      auto& st = state_[gi][i];
      Tensor& m = buffer(st, "exp_avg", p);
      Tensor& v = buffer(st, "exp_avg_sq", p);
      const int64_t step = next_step(op, st);
      TG_DISPATCH_FLOATING(p.dtype(), op, [&] {
        kernels::cpu::lamb_step<scalar_t>(p.data<scalar_t>(), grad.data<scalar_t>(),
                                          m.data<scalar_t>(), v.data<scalar_t>(), p.numel(), h,
                                          step);
      });
    }
  }
}

}  // namespace tg::optim
