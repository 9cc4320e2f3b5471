// Adam, AdamW, RMSprop and LAMB: torch.optim's validation and state. On the CPU, one fused
// kernel call per parameter (kernels/cpu/{adam,rmsprop,lamb}.cpp); on CUDA, a group's
// parameters are gathered and updated by one multi-tensor launch per dtype and step count
// (kernels/cuda/{adam,rmsprop,lamb}.cu; run_device_group below), reading their hyper-parameter
// slots from a float64 device buffer written just before (or, for a CUDA Graph, by
// before_replay). The hyper-parameters are checked when set (Optimizer::set) and kept typed per
// group; step() validates none of them. The step count of each parameter is its state "step"
// (a one-element float32 CPU tensor, as torch 1.13), so a state dict restores the bias
// corrections too.
#include "optim/adam.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <type_traits>

#include "tensor/creation.h"
#include "tensor/cuda_graph.h"
#include "tensor/grad_mode.h"
#include "tensor/storage.h"

namespace tg::optim {

namespace {

// The Adam-family hyper-parameters' defaults, by name.
std::map<std::string, double> adam_hyper(double lr, double beta1, double beta2, double eps,
                                         double weight_decay) {
  return {
      {"lr", lr}, {"beta1", beta1}, {"beta2", beta2}, {"eps", eps}, {"weight_decay", weight_decay}};
}

std::vector<Stat> adam_stats() {
  const Moments m = torch_moments();
  return {average_grad(/*dampening=*/true, m), average_sqr_grad(/*dampening=*/true, m),
          step_count()};
}

// Adam: coupled L2 (l2_reg runs first, its order is negative); AdamW: decoupled decay, before
// the step as torch.optim.AdamW does it (p.mul_(1 - lr * weight_decay), then the Adam update).
std::vector<Stepper> adam_steppers(bool decoupled) {
  if (decoupled) return {weight_decay(), adam_step(torch_moments())};
  return {adam_step(torch_moments()), l2_reg()};
}

// torch's messages: "Invalid learning rate: -1".
void check_nonneg(const char* op, const char* what, double v) {
  TG_CHECK(v >= 0, op, "invalid ", what, ": ", v, " (must be >= 0)");
}
void check_beta(const char* op, const char* what, double v) {
  TG_CHECK(v >= 0 && v < 1, op, "invalid ", what, " parameter: ", v, " (must be in [0, 1))");
}

// One group's values for Adam, AdamW and LAMB (the same hyper-parameters, checked as
// torch.optim.Adam checks them).
void check_adam_family(const StatefulOptimizer& o, const char* op, const std::vector<double>& v) {
  check_nonneg(op, "learning rate", o.value(v, "lr"));
  check_nonneg(op, "epsilon value", o.value(v, "eps"));
  check_beta(op, "beta1", o.value(v, "beta1"));
  check_beta(op, "beta2", o.value(v, "beta2"));
  check_nonneg(op, "weight_decay value", o.value(v, "weight_decay"));
}

// The parameter's gradient, checked against it (device, shape, dtype, contiguity), or an
// undefined tensor when it has none (the parameter is skipped).
Tensor checked_grad(const char* op, const Tensor& p, size_t gi, size_t i) {
  Tensor grad = p.grad();
  if (!grad.defined()) return grad;
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

// The step count a parameter has now (0 before its first update), without advancing it.
int64_t current_step(const std::map<std::string, Tensor>& st) {
  auto it = st.find("step");
  if (it == st.end()) return 0;
  return static_cast<int64_t>(it->second.to(Device::cpu()).item<double>());
}

bool capturing_now() {
#if TG_WITH_CUDA
  return cuda::is_capturing();
#else
  return false;
#endif
}

// Under capture a buffer cannot be created (it would be made once, not per replay).
Tensor& captured_buffer(const char* op, std::map<std::string, Tensor>& st, const char* name,
                        const Tensor& p, size_t gi, size_t i) {
  auto it = st.find(name);
  TG_CHECK(it != st.end() && it->second.device() == p.device(), op, "parameter ", i, " of group ",
           gi, " (shape ", p.shape_str(), ") has no ", name, " on ", p.device().str(),
           " yet: run at least one eager step before capturing one (the first step creates the "
           "state)");
  return it->second;
}

// One CUDA parameter of a device step: its state buffers (null where it has none) and its
// step count (eager: after the increment; captured: before it, advanced by before_replay).
struct DevItem {
  size_t i;
  int64_t step;
  const Tensor* p;
  Tensor grad;
  void* s[3];
};

template <typename T>
T* as(void* v) {
  return static_cast<T*>(v);
}
template <typename T>
bool is_dtype(const Tensor& t) {
  return t.dtype() == (std::is_same_v<T, float> ? DType::f32 : DType::f64);
}

using FillFn = std::function<void(int64_t step, double* slots)>;
using LaunchFn = std::function<void(const DevItem* items, size_t count, const double* hyper,
                                    const double* skip)>;

#if TG_WITH_CUDA
// Updates a group's CUDA parameters. Eager: the items are ordered by step count, each distinct
// count gets its slots in one buffer (one copy from the host), then one launch per count.
// Captured: one launch reading the group's graph buffer, which before_replay fills.
void run_device_group(const char* op, detail::DeviceSteps& ds, size_t gi, size_t groups,
                      std::vector<DevItem>& items, int slots, const Tensor& guard,
                      const FillFn& fill, const LaunchFn& launch) {
  if (items.empty()) return;
  const Device dev = items.front().p->device();
  for (const DevItem& it : items)
    TG_CHECK(it.p->device() == dev, op, "parameter ", it.i, " of group ", gi, " is on ",
             it.p->device().str(), " but the group's first CUDA parameter is on ", dev.str());
  const double* skip = nullptr;
  if (guard.defined() && guard.device().is_cuda()) {
    TG_CHECK(guard.dtype() == DType::f64 && guard.numel() == 1 && guard.device() == dev, op,
             "the non-finite guard must be one float64 on ", dev.str(), ", got ", guard.shape_str(),
             " ", dtype_name(guard.dtype()), " on ", guard.device().str());
    skip = guard.data<double>();
  }
  if (capturing_now()) {
    TG_CHECK(ds.graph.size() > gi && ds.graph[gi].defined() && ds.graph[gi].device() == dev &&
                 ds.captured.size() == groups,
             op, "the device buffer of the hyper-parameters of group ", gi,
             " is missing: call prepare_capture() before capturing a step");
    for (const DevItem& it : items)
      TG_CHECK(it.step == items.front().step, op, "parameters ", items.front().i, " and ", it.i,
               " of group ", gi, " have different step counts (", items.front().step, " and ",
               it.step, "): a captured step updates a group at one step count");
    ds.captured[gi].clear();
    for (const DevItem& it : items) ds.captured[gi].push_back(it.i);
    launch(items.data(), items.size(), ds.graph[gi].data<double>(), skip);
    return;
  }
  std::stable_sort(items.begin(), items.end(),
                   [](const DevItem& a, const DevItem& b) { return a.step < b.step; });
  std::vector<size_t> lo{0};
  for (size_t k = 1; k < items.size(); ++k)
    if (items[k].step != items[k - 1].step) lo.push_back(k);
  lo.push_back(items.size());
  const size_t buckets = lo.size() - 1;
  std::vector<double> host(buckets * static_cast<size_t>(slots));
  for (size_t b = 0; b < buckets; ++b) fill(items[lo[b]].step, host.data() + b * size_t(slots));
  if (ds.eager.size() < groups) ds.eager.resize(groups);
  Tensor& buf = ds.eager[gi];
  if (!buf.defined() || buf.device() != dev || buf.numel() < int64_t(host.size()))
    buf = empty({int64_t(host.size())}, DType::f64, dev);
  // Stream-ordered, and staged at once from pageable memory: `host` may go out of scope, and
  // the previous step's launches have read the old values by the time the copy lands.
  allocator_for(dev).copy_bytes(buf.raw_data(), host.data(), host.size() * sizeof(double));
  for (size_t b = 0; b < buckets; ++b)
    launch(items.data() + lo[b], lo[b + 1] - lo[b], buf.data<double>() + b * size_t(slots), skip);
}
#endif

// Before a replay: every parameter of the captured step advances its step count (they share
// one where the update uses it: same_step), and the group's graph buffer gets that step's slots.
void replay_device_hyper(const char* op, detail::DeviceSteps& ds,
                         std::vector<std::vector<std::map<std::string, Tensor>>>& state, int slots,
                         bool same_step,
                         const std::function<void(size_t, int64_t, double*)>& fill) {
  for (size_t gi = 0; gi < ds.captured.size(); ++gi) {
    if (ds.captured[gi].empty()) continue;
    int64_t step = -1;
    for (size_t i : ds.captured[gi]) {
      const int64_t s = next_step(op, state[gi][i]);
      TG_CHECK(!same_step || step < 0 || s == step, op, "parameter ", i, " of group ", gi,
               " is at step ", s, " but the group's other captured parameters at ", step,
               ": a captured step updates a group at one step count");
      step = s;
    }
    std::vector<double> host(static_cast<size_t>(slots));
    fill(gi, step, host.data());
    Tensor& buf = ds.graph[gi];
    allocator_for(buf.device())
        .copy_bytes(buf.raw_data(), host.data(), host.size() * sizeof(double));
  }
}

// Sets aside each CUDA group's graph buffer (before the capture: no allocation during it).
void prepare_device_capture(detail::DeviceSteps& ds, size_t groups,
                            const std::function<const std::vector<Tensor>&(size_t)>& params,
                            int slots) {
  ds.graph.resize(groups);
  ds.captured.assign(groups, {});
  for (size_t gi = 0; gi < groups; ++gi) {
    const auto& ps = params(gi);
    auto it =
        std::find_if(ps.begin(), ps.end(), [](const Tensor& p) { return p.device().is_cuda(); });
    if (it == ps.end()) continue;
    Tensor& buf = ds.graph[gi];
    if (!buf.defined() || buf.device() != it->device() || buf.numel() < slots)
      buf = empty({slots}, DType::f64, it->device());
  }
}

#if !TG_WITH_CUDA
[[noreturn]] void no_cuda(const char* op) {
  TG_FAIL(op, "CUDA parameter in a build without the CUDA backend");
}
#endif

}  // namespace

// ---- Adam / AdamW ----

Adam::Adam(const std::vector<Tensor>& params, const AdamOptions& opt)
    : Adam(std::vector<ParamGroup>{ParamGroup{params, {}}}, opt, false) {}
Adam::Adam(std::vector<ParamGroup> groups, const AdamOptions& defaults)
    : Adam(std::move(groups), defaults, false) {}
Adam::Adam(std::vector<ParamGroup> groups, const AdamOptions& d, bool decoupled)
    : StatefulOptimizer(decoupled ? "AdamW" : "Adam", adam_steppers(decoupled), adam_stats(),
                        adam_hyper(d.lr, d.beta1, d.beta2, d.eps, d.weight_decay),
                        /*has_fused=*/true),
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
  check_adam_family(*this, decoupled_ ? "AdamW" : "Adam", v);
}

void Adam::hyper_changed(size_t group) {
  if (typed_.size() <= group) typed_.resize(group + 1);
  const auto& v = hyper(group);
  typed_[group] = {value(v, "lr"),  value(v, "beta1"),        value(v, "beta2"),
                   value(v, "eps"), value(v, "weight_decay"), decoupled_};
}

void Adam::fused_step() {
  NoGrad guard;
  const char* op = decoupled_ ? "AdamW" : "Adam";
  const bool capturing = capturing_now();
  for (size_t gi = 0; gi < num_groups(); ++gi) {
    const kernels::AdamHyper& h = typed_[gi];
    const auto& ps = params(gi);
    std::vector<DevItem> dev;  // the group's CUDA parameters, one launch per dtype and step
    for (size_t i = 0; i < ps.size(); ++i) {
      const Tensor& p = ps[i];
      Tensor grad = checked_grad(op, p, gi, i);
      if (!grad.defined()) continue;
      auto& st = state_[gi][i];
      if (p.device().is_cuda()) {
        if (capturing) {
          dev.push_back({i,
                         current_step(st),
                         &p,
                         grad,
                         {captured_buffer(op, st, "exp_avg", p, gi, i).raw_data(),
                          captured_buffer(op, st, "exp_avg_sq", p, gi, i).raw_data(), nullptr}});
        } else {
          void* m = buffer(st, "exp_avg", p).raw_data();
          void* v = buffer(st, "exp_avg_sq", p).raw_data();
          dev.push_back({i, next_step(op, st), &p, grad, {m, v, nullptr}});
        }
        continue;
      }
      Tensor& m = buffer(st, "exp_avg", p);
      Tensor& v = buffer(st, "exp_avg_sq", p);
      const int64_t step = next_step(op, st);
      TG_DISPATCH_FLOATING(p.dtype(), op, [&] {
        kernels::cpu::adam_step<scalar_t>(p.data<scalar_t>(), grad.data<scalar_t>(),
                                          m.data<scalar_t>(), v.data<scalar_t>(), p.numel(), h,
                                          step);
      });
    }
    if (dev.empty()) continue;
#if TG_WITH_CUDA
    const bool decoupled = decoupled_;
    run_device_group(
        op, dev_, gi, num_groups(), dev, kernels::cuda::kAdamHyperSlots, guard_,
        [&](int64_t step, double* out) { kernels::cuda::adam_hyper_slots(h, step, out); },
        [&](const DevItem* it, size_t k, const double* hy, const double* skip) {
          auto run = [&]<typename T>(T*) {
            std::vector<kernels::cuda::AdamTensor<T>> list;
            for (size_t j = 0; j < k; ++j)
              if (is_dtype<T>(*it[j].p))
                list.push_back({it[j].p->data<T>(), it[j].grad.data<T>(), as<T>(it[j].s[0]),
                                as<T>(it[j].s[1]), it[j].p->numel()});
            if (!list.empty())
              kernels::cuda::adam_step_dev_multi<T>(list.data(), int64_t(list.size()), hy,
                                                    decoupled, skip);
          };
          run(static_cast<float*>(nullptr));
          run(static_cast<double*>(nullptr));
        });
#else
    no_cuda(op);
#endif
  }
}

void Adam::prepare_capture() {
  prepare_device_capture(
      dev_, num_groups(), [&](size_t g) -> const std::vector<Tensor>& { return params(g); },
      kernels::cuda::kAdamHyperSlots);
}

void Adam::before_replay() {
  replay_device_hyper(decoupled_ ? "AdamW" : "Adam", dev_, state_, kernels::cuda::kAdamHyperSlots,
                      true, [&](size_t gi, int64_t step, double* out) {
                        kernels::cuda::adam_hyper_slots(typed_[gi], step, out);
                      });
}

// ---- RMSprop ----

RMSprop::RMSprop(const std::vector<Tensor>& params, const RMSpropOptions& opt)
    : RMSprop(std::vector<ParamGroup>{ParamGroup{params, {}}}, opt) {}
RMSprop::RMSprop(std::vector<ParamGroup> groups, const RMSpropOptions& d)
    : StatefulOptimizer("RMSprop", {rmsprop_step(), l2_reg()},
                        {average_sqr_grad(/*dampening=*/true, {"grad_avg", "square_avg", "momentum",
                                                               "alpha", /*keep_damp=*/false}),
                         centered_grad_avg(), step_count()},
                        {{"lr", d.lr},
                         {"alpha", d.alpha},
                         {"eps", d.eps},
                         {"weight_decay", d.weight_decay},
                         {"momentum", d.momentum},
                         {"centered", d.centered ? 1.0 : 0.0}},
                        /*has_fused=*/true) {
  for (auto& g : groups) add_param_group(std::move(g));
}

void RMSprop::check_hyper(const std::vector<double>& v) const {
  const char* op = "RMSprop";
  check_nonneg(op, "learning rate", value(v, "lr"));
  check_nonneg(op, "epsilon value", value(v, "eps"));
  check_nonneg(op, "momentum value", value(v, "momentum"));
  check_nonneg(op, "weight_decay value", value(v, "weight_decay"));
  check_nonneg(op, "alpha value", value(v, "alpha"));
  const double centered = value(v, "centered");
  TG_CHECK(centered == 0 || centered == 1, op, "centered must be 0 or 1, got ", centered);
}

void RMSprop::hyper_changed(size_t group) {
  if (typed_.size() <= group) typed_.resize(group + 1);
  const auto& v = hyper(group);
  typed_[group] = {value(v, "lr"),           value(v, "alpha"),    value(v, "eps"),
                   value(v, "weight_decay"), value(v, "momentum"), value(v, "centered") == 1};
}

void RMSprop::fused_step() {
  NoGrad guard;
  const char* op = "RMSprop";
  const bool capturing = capturing_now();
  for (size_t gi = 0; gi < num_groups(); ++gi) {
    const kernels::RmspropHyper& h = typed_[gi];
    const auto& ps = params(gi);
    std::vector<DevItem> dev;
    for (size_t i = 0; i < ps.size(); ++i) {
      const Tensor& p = ps[i];
      Tensor grad = checked_grad(op, p, gi, i);
      if (!grad.defined()) continue;
      auto& st = state_[gi][i];
      if (p.device().is_cuda() && capturing) {
        // The buffers the captured launch uses are those the last eager step had.
        void* sq = captured_buffer(op, st, "square_avg", p, gi, i).raw_data();
        void* ga = h.centered ? captured_buffer(op, st, "grad_avg", p, gi, i).raw_data() : nullptr;
        void* b = h.momentum > 0 ? captured_buffer(op, st, "momentum_buffer", p, gi, i).raw_data()
                                 : nullptr;
        dev.push_back({i, current_step(st), &p, grad, {sq, ga, b}});
        continue;
      }
      const int64_t step = next_step(op, st);  // kept as torch keeps it; the update does not use it
      Tensor& sq = buffer(st, "square_avg", p);
      Tensor* ga = h.centered ? &buffer(st, "grad_avg", p) : nullptr;
      Tensor* buf = h.momentum > 0 ? &buffer(st, "momentum_buffer", p) : nullptr;
      if (p.device().is_cuda()) {
        dev.push_back(
            {i,
             step,
             &p,
             grad,
             {sq.raw_data(), ga ? ga->raw_data() : nullptr, buf ? buf->raw_data() : nullptr}});
        continue;
      }
      TG_DISPATCH_FLOATING(p.dtype(), op, [&] {
        kernels::cpu::rmsprop_step<scalar_t>(p.data<scalar_t>(), grad.data<scalar_t>(),
                                             sq.data<scalar_t>(),
                                             ga ? ga->data<scalar_t>() : nullptr,
                                             buf ? buf->data<scalar_t>() : nullptr, p.numel(), h);
      });
    }
    if (dev.empty()) continue;
    // The update does not depend on the step count: every parameter shares the slots.
    for (DevItem& it : dev) it.step = capturing ? dev.front().step : 1;
#if TG_WITH_CUDA
    run_device_group(
        op, dev_, gi, num_groups(), dev, kernels::cuda::kRmspropHyperSlots, guard_,
        [&](int64_t, double* out) { kernels::cuda::rmsprop_hyper_slots(h, out); },
        [&](const DevItem* it, size_t k, const double* hy, const double* skip) {
          auto run = [&]<typename T>(T*) {
            std::vector<kernels::cuda::RmspropTensor<T>> list;
            for (size_t j = 0; j < k; ++j)
              if (is_dtype<T>(*it[j].p))
                list.push_back({it[j].p->data<T>(), it[j].grad.data<T>(), as<T>(it[j].s[0]),
                                as<T>(it[j].s[1]), as<T>(it[j].s[2]), it[j].p->numel()});
            if (!list.empty())
              kernels::cuda::rmsprop_step_dev_multi<T>(list.data(), int64_t(list.size()), hy, skip);
          };
          run(static_cast<float*>(nullptr));
          run(static_cast<double*>(nullptr));
        });
#else
    no_cuda(op);
#endif
  }
}

void RMSprop::prepare_capture() {
  prepare_device_capture(
      dev_, num_groups(), [&](size_t g) -> const std::vector<Tensor>& { return params(g); },
      kernels::cuda::kRmspropHyperSlots);
}

void RMSprop::before_replay() {
  replay_device_hyper("RMSprop", dev_, state_, kernels::cuda::kRmspropHyperSlots, false,
                      [&](size_t gi, int64_t, double* out) {
                        kernels::cuda::rmsprop_hyper_slots(typed_[gi], out);
                      });
}

// ---- LAMB ----

LAMB::LAMB(const std::vector<Tensor>& params, const LAMBOptions& opt)
    : LAMB(std::vector<ParamGroup>{ParamGroup{params, {}}}, opt) {}
LAMB::LAMB(std::vector<ParamGroup> groups, const LAMBOptions& d)
    : StatefulOptimizer("LAMB", {lamb_step(torch_moments())}, adam_stats(),
                        adam_hyper(d.lr, d.beta1, d.beta2, d.eps, d.weight_decay),
                        /*has_fused=*/true) {
  for (auto& g : groups) add_param_group(std::move(g));
}

void LAMB::check_hyper(const std::vector<double>& v) const {
  check_adam_family(*this, "LAMB", v);
}

void LAMB::hyper_changed(size_t group) {
  if (typed_.size() <= group) typed_.resize(group + 1);
  const auto& v = hyper(group);
  typed_[group] = {value(v, "lr"), value(v, "beta1"), value(v, "beta2"), value(v, "eps"),
                   value(v, "weight_decay")};
}

void LAMB::fused_step() {
  NoGrad guard;
  const char* op = "LAMB";
  const bool capturing = capturing_now();
  for (size_t gi = 0; gi < num_groups(); ++gi) {
    const kernels::LambHyper& h = typed_[gi];
    const auto& ps = params(gi);
    std::vector<DevItem> dev;
    for (size_t i = 0; i < ps.size(); ++i) {
      const Tensor& p = ps[i];
      Tensor grad = checked_grad(op, p, gi, i);
      if (!grad.defined()) continue;
      auto& st = state_[gi][i];
      if (p.device().is_cuda()) {
        if (capturing) {
          dev.push_back({i,
                         current_step(st),
                         &p,
                         grad,
                         {captured_buffer(op, st, "exp_avg", p, gi, i).raw_data(),
                          captured_buffer(op, st, "exp_avg_sq", p, gi, i).raw_data(), nullptr}});
        } else {
          void* m = buffer(st, "exp_avg", p).raw_data();
          void* v = buffer(st, "exp_avg_sq", p).raw_data();
          dev.push_back({i, next_step(op, st), &p, grad, {m, v, nullptr}});
        }
        continue;
      }
      Tensor& m = buffer(st, "exp_avg", p);
      Tensor& v = buffer(st, "exp_avg_sq", p);
      const int64_t step = next_step(op, st);
      TG_DISPATCH_FLOATING(p.dtype(), op, [&] {
        kernels::cpu::lamb_step<scalar_t>(p.data<scalar_t>(), grad.data<scalar_t>(),
                                          m.data<scalar_t>(), v.data<scalar_t>(), p.numel(), h,
                                          step);
      });
    }
    if (dev.empty()) continue;
#if TG_WITH_CUDA
    run_device_group(
        op, dev_, gi, num_groups(), dev, kernels::cuda::kLambHyperSlots, guard_,
        [&](int64_t step, double* out) { kernels::cuda::lamb_hyper_slots(h, step, out); },
        [&](const DevItem* it, size_t k, const double* hy, const double* skip) {
          auto run = [&]<typename T>(T*) {
            std::vector<kernels::cuda::LambTensor<T>> list;
            for (size_t j = 0; j < k; ++j)
              if (is_dtype<T>(*it[j].p))
                list.push_back({it[j].p->data<T>(), it[j].grad.data<T>(), as<T>(it[j].s[0]),
                                as<T>(it[j].s[1]), it[j].p->numel()});
            if (!list.empty())
              kernels::cuda::lamb_step_dev_multi<T>(list.data(), int64_t(list.size()), hy, skip);
          };
          run(static_cast<float*>(nullptr));
          run(static_cast<double*>(nullptr));
        });
#else
    no_cuda(op);
#endif
  }
}

void LAMB::prepare_capture() {
  prepare_device_capture(
      dev_, num_groups(), [&](size_t g) -> const std::vector<Tensor>& { return params(g); },
      kernels::cuda::kLambHyperSlots);
}

void LAMB::before_replay() {
  replay_device_hyper("LAMB", dev_, state_, kernels::cuda::kLambHyperSlots, true,
                      [&](size_t gi, int64_t step, double* out) {
                        kernels::cuda::lamb_hyper_slots(typed_[gi], step, out);
                      });
}

}  // namespace tg::optim
