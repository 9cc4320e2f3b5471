// The course's generic optimizer: stats and steppers as plain loops over CPU tensors (see
// generic.h). Each loop computes in the parameter's dtype, as PyTorch's optimizers do, and in
// the order of PyTorch's in-place calls (buf.mul_(m).add_(g, alpha=1 - d): m * buf + (1 - d) * g),
// so that the library's recipes agree with their fused kernels up to float rounding.
#include "optim/generic.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "tensor/creation.h"
#include "tensor/grad_mode.h"

namespace tg::optim {

Tensor& ParamView::buffer(const std::string& name) {
  auto it = state.find(name);
  if (it == state.end()) it = state.emplace(name, zeros(p.shape(), p.dtype())).first;
  return it->second;
}

Tensor& ParamView::writable_grad() {
  if (!own_grad_) {
    grad = grad.clone();
    own_grad_ = true;
  }
  return grad;
}

double ParamView::scalar(const std::string& name) const {
  auto it = state.find(name);
  return it == state.end() ? 0.0 : it->second.to(Device::cpu()).item<double>();
}

void ParamView::set_scalar(const std::string& name, double v, DType dtype) {
  state[name] = scalar_tensor(v, dtype);
}

Moments torch_moments() {
  return {"exp_avg", "exp_avg_sq", "beta1", "beta2", false};
}

namespace {

// The name table: every hyper-parameter a stat or stepper reads, in order of first mention,
// with its first default, then the overrides (each must name a known one).
std::pair<std::vector<std::string>, std::vector<double>> table(
    const std::string& opt, const std::vector<Stepper>& steppers, const std::vector<Stat>& stats,
    const std::map<std::string, double>& hyper) {
  std::vector<std::string> names{"lr"};
  std::vector<double> values{hyper.count("lr") ? hyper.at("lr") : 0.01};
  auto add = [&](const Defaults& ds) {
    for (const auto& [n, v] : ds)
      if (std::find(names.begin(), names.end(), n) == names.end()) {
        names.push_back(n);
        values.push_back(v);
      }
  };
  for (const auto& s : stats) add(s.defaults);
  for (const auto& s : steppers) add(s.defaults);
  for (const auto& [n, v] : hyper) {
    auto it = std::find(names.begin(), names.end(), n);
    if (it == names.end()) {
      std::string known;
      for (const auto& k : names) known += (known.empty() ? "" : ", ") + k;
      TG_FAIL(opt.c_str(), "no stat or stepper reads the hyper-parameter '", n,
              "' (they read: ", known, ")");
    }
    values[size_t(it - names.begin())] = v;
  }
  std::set<std::string> provided;
  for (const auto& s : stats) provided.insert(s.provides.begin(), s.provides.end());
  for (const auto& st : steppers)
    for (const auto& need : st.needs)
      TG_CHECK(provided.count(need), opt.c_str(), "the stepper ", st.name, " needs the state '",
               need, "', which none of the stats keeps (add the stat that computes it)");
  return {names, values};
}

// Calls f(T* p, T* g, i) for every element, T the parameter's dtype.
template <typename F>
void for_each(ParamView& v, const char* op, F f) {
  TG_DISPATCH_FLOATING(v.p.dtype(), op, [&] { f(scalar_t{}); });
}

double debias(double mom, double damp, double step) {
  return damp * (1 - std::pow(mom, step)) / (1 - mom);
}

}  // namespace

StatefulOptimizer::StatefulOptimizer(std::string name, std::vector<Stepper> steppers,
                                     std::vector<Stat> stats,
                                     const std::map<std::string, double>& hyper, bool has_fused)
    : Optimizer(table(name, steppers, stats, hyper).first,
                table(name, steppers, stats, hyper).second),
      name_(std::move(name)),
      steppers_(std::move(steppers)),
      stats_(std::move(stats)),
      has_fused_(has_fused),
      fused_(has_fused) {
  std::stable_sort(steppers_.begin(), steppers_.end(),
                   [](const Stepper& a, const Stepper& b) { return a.order < b.order; });
}

StatefulOptimizer::StatefulOptimizer(std::string name, std::vector<ParamGroup> groups,
                                     std::vector<Stepper> steppers, std::vector<Stat> stats,
                                     const std::map<std::string, double>& hyper)
    : StatefulOptimizer(std::move(name), std::move(steppers), std::move(stats), hyper, false) {
  for (auto& g : groups) add_param_group(std::move(g));
}

StatefulOptimizer::StatefulOptimizer(std::string name, const std::vector<Tensor>& params,
                                     std::vector<Stepper> steppers, std::vector<Stat> stats,
                                     const std::map<std::string, double>& hyper)
    : StatefulOptimizer(std::move(name), std::vector<ParamGroup>{ParamGroup{params, {}}},
                        std::move(steppers), std::move(stats), hyper) {}

void StatefulOptimizer::check_hyper(const std::vector<double>& values) const {
  const auto& names = hyper_names();
  for (size_t i = 0; i < names.size(); ++i) {
    const double v = values[i];
    TG_CHECK(std::isfinite(v), name_.c_str(), "invalid ", names[i], ": ", v);
    if (names[i] == "lr" || names[i] == "eps" || names[i] == "weight_decay")
      TG_CHECK(v >= 0, name_.c_str(), "invalid ", names[i], ": ", v, " (must be >= 0)");
    if (names[i] == "momentum" || names[i] == "sqr_mom")
      TG_CHECK(v >= 0 && v < 1, name_.c_str(), "invalid ", names[i], ": ", v,
               " (must be in [0, 1))");
  }
}

std::string StatefulOptimizer::recipe() const {
  std::string s;
  auto add = [&](const std::string& n) { s += (s.empty() ? "" : ", ") + n; };
  for (const auto& st : steppers_)
    if (st.order < 0) add(st.name);
  for (const auto& st : stats_) add(st.name);
  for (const auto& st : steppers_)
    if (st.order >= 0) add(st.name);
  return s;
}

void StatefulOptimizer::set_fused(bool on) {
  TG_CHECK(!on || has_fused_, name_.c_str(), "has no fused kernel: its recipe (", recipe(),
           ") runs as plain loops only");
  fused_ = on;
}

void StatefulOptimizer::step() {
  if (fused_)
    fused_step();
  else
    recipe_step();
}

void StatefulOptimizer::recipe_step() {
  NoGrad guard;
  for (size_t gi = 0; gi < num_groups(); ++gi) {
    std::map<std::string, double> hyper;
    for (size_t k = 0; k < hyper_names().size(); ++k) hyper[hyper_names()[k]] = get(k, gi);
    const auto& ps = params(gi);
    for (size_t i = 0; i < ps.size(); ++i) {
      const Tensor& p = ps[i];
      const Tensor grad = p.grad();
      if (!grad.defined()) continue;
      TG_CHECK(!p.device().is_cuda(), name_.c_str(),
               "the recipe path (the course's generic optimizer) runs on the CPU only; "
               "parameter ",
               i, " of group ", gi, " is on ", p.device().str(),
               has_fused_ ? " (set_fused(true) runs the fused kernels, on CUDA too)"
                          : " (the library's fused optimizers run on CUDA)");
      TG_CHECK(grad.shape() == p.shape() && grad.dtype() == p.dtype() && p.is_contiguous() &&
                   grad.is_contiguous(),
               name_.c_str(), "parameter ", i, " of group ", gi, " is ", p.shape_str(), " ",
               dtype_name(p.dtype()), " but its gradient is ", grad.shape_str(), " ",
               dtype_name(grad.dtype()), " (both must be contiguous)");
      ParamView v(p, grad, state_[gi][i], hyper);
      for (const auto& s : steppers_)
        if (s.order < 0) s.apply(v);
      for (const auto& s : stats_) s.update(v);
      for (const auto& s : steppers_)
        if (s.order >= 0) s.apply(v);
    }
  }
}

namespace {

// avg = mom * avg + damp * f(g), damp = dampening ? 1 - mom : 1, with the state and the
// hyper-parameter named by the caller; keeps damp under damp_name unless that is empty.
template <typename F>
void average(ParamView& v, const char* op, const std::string& name, const std::string& mom_name,
             bool dampening, const std::string& damp_name, F f) {
  const double mom = v.hyper(mom_name);
  const double damp = dampening ? 1 - mom : 1.0;
  if (!damp_name.empty()) v.set_scalar(damp_name, damp);
  Tensor& avg = v.buffer(name);
  for_each(v, op, [&](auto t) {
    using T = decltype(t);
    T* a = avg.data<T>();
    const T* g = v.grad.data<T>();
    for (int64_t k = 0, n = avg.numel(); k < n; ++k) a[k] = T(mom) * a[k] + T(damp) * f(g[k]);
  });
}

// A stat keeping the average `state` of f(grad) with momentum hyper-parameter `hyper`, and its
// dampening factor as `damp_name` unless that is empty.
template <typename F>
Stat average_stat(const std::string& name, const std::string& state, const std::string& hyper,
                  double default_mom, const std::string& damp_name, bool dampening, F f) {
  std::vector<std::string> provides{state};
  if (!damp_name.empty()) provides.push_back(damp_name);
  return {name, {{hyper, default_mom}}, provides, [=](ParamView& v) {
            average(v, name.c_str(), state, hyper, dampening, damp_name, f);
          }};
}

}  // namespace

Stat average_grad(bool dampening, const Moments& m) {
  return average_stat("average_grad", m.grad_avg, m.mom, 0.9, m.keep_damp ? "mom_damp" : "",
                      dampening, [](auto g) { return g; });
}

Stat average_sqr_grad(bool dampening, const Moments& m) {
  return average_stat("average_sqr_grad", m.sqr_avg, m.sqr_mom, 0.99, m.keep_damp ? "sqr_damp" : "",
                      dampening, [](auto g) { return g * g; });
}

Stat step_count() {
  return {"step_count", {}, {"step"}, [](ParamView& v) {
            v.set_scalar("step", v.scalar("step") + 1, DType::f32);
          }};
}

Stat momentum_buffer() {
  return {"momentum_buffer",
          {{"momentum", 0.0}, {"dampening", 0.0}},
          {"momentum_buffer"},
          [](ParamView& v) {
            const double mom = v.hyper("momentum"), damp = v.hyper("dampening");
            if (mom == 0) return;
            auto it = v.state.find("momentum_buffer");
            if (it == v.state.end()) {
              v.state.emplace("momentum_buffer", v.grad.clone());  // torch: buf = d_p.clone()
              return;
            }
            for_each(v, "momentum_buffer", [&](auto t) {
              using T = decltype(t);
              T* b = it->second.data<T>();
              const T* g = v.grad.data<T>();
              for (int64_t k = 0, n = v.p.numel(); k < n; ++k)
                b[k] = T(mom) * b[k] + T(1 - damp) * g[k];
            });
          }};
}

Stat centered_grad_avg() {
  return {
      "centered_grad_avg", {{"alpha", 0.99}, {"centered", 0.0}}, {"grad_avg"}, [](ParamView& v) {
        if (v.hyper("centered") != 0)
          average(v, "centered_grad_avg", "grad_avg", "alpha", true, "", [](auto g) { return g; });
      }};
}

Stepper sgd_step() {
  return {"sgd_step", 0, {}, {}, [](ParamView& v) {
            const double lr = v.hyper("lr");
            for_each(v, "sgd_step", [&](auto t) {
              using T = decltype(t);
              T* p = v.p.data<T>();
              const T* g = v.grad.data<T>();
              for (int64_t k = 0, n = v.p.numel(); k < n; ++k) p[k] -= T(lr) * g[k];
            });
          }};
}

Stepper momentum_step() {
  return {"momentum_step", 0, {}, {"grad_avg"}, [](ParamView& v) {
            const double lr = v.hyper("lr");
            const Tensor& avg = v.state.at("grad_avg");
            for_each(v, "momentum_step", [&](auto t) {
              using T = decltype(t);
              T* p = v.p.data<T>();
              const T* a = avg.data<T>();
              for (int64_t k = 0, n = v.p.numel(); k < n; ++k) p[k] -= T(lr) * a[k];
            });
          }};
}

Stepper weight_decay() {
  return {"weight_decay", 0, {{"weight_decay", 0.0}}, {}, [](ParamView& v) {
            const double f = 1 - v.hyper("lr") * v.hyper("weight_decay");
            for_each(v, "weight_decay", [&](auto t) {
              using T = decltype(t);
              T* p = v.p.data<T>();
              for (int64_t k = 0, n = v.p.numel(); k < n; ++k) p[k] *= T(f);
            });
          }};
}

Stepper l2_reg() {
  return {"l2_reg", -10, {{"weight_decay", 0.0}}, {}, [](ParamView& v) {
            const double wd = v.hyper("weight_decay");
            if (wd == 0) return;
            Tensor& grad = v.writable_grad();
            for_each(v, "l2_reg", [&](auto t) {
              using T = decltype(t);
              const T* p = v.p.data<T>();
              T* g = grad.data<T>();
              for (int64_t k = 0, n = v.p.numel(); k < n; ++k) g[k] += T(wd) * p[k];
            });
          }};
}

Stepper sgd_momentum_step() {
  return {"sgd_momentum_step", 0, {{"nesterov", 0.0}}, {}, [](ParamView& v) {
            const double lr = v.hyper("lr"), mom = v.hyper("momentum");
            const bool nesterov = v.hyper("nesterov") != 0;
            auto it = v.state.find("momentum_buffer");
            const Tensor* buf = mom != 0 && it != v.state.end() ? &it->second : nullptr;
            for_each(v, "sgd_momentum_step", [&](auto t) {
              using T = decltype(t);
              T* p = v.p.data<T>();
              const T* g = v.grad.data<T>();
              const T* b = buf ? buf->data<T>() : nullptr;
              for (int64_t k = 0, n = v.p.numel(); k < n; ++k) {
                const T d = !b ? g[k] : nesterov ? g[k] + T(mom) * b[k] : b[k];
                p[k] -= T(lr) * d;
              }
            });
          }};
}

Stepper rmsprop_step() {
  return {"rmsprop_step", 0, {{"eps", 1e-8}, {"momentum", 0.0}}, {"square_avg"}, [](ParamView& v) {
            const double lr = v.hyper("lr"), eps = v.hyper("eps"), mom = v.hyper("momentum");
            const bool centered = v.hyper("centered") != 0;
            const Tensor& sq = v.state.at("square_avg");
            const Tensor* ga = centered ? &v.state.at("grad_avg") : nullptr;
            Tensor* buf = mom > 0 ? &v.buffer("momentum_buffer") : nullptr;
            for_each(v, "rmsprop_step", [&](auto t) {
              using T = decltype(t);
              T* p = v.p.data<T>();
              const T* g = v.grad.data<T>();
              const T* s = sq.data<T>();
              const T* a = ga ? ga->data<T>() : nullptr;
              T* b = buf ? buf->data<T>() : nullptr;
              for (int64_t k = 0, n = v.p.numel(); k < n; ++k) {
                const T d = std::sqrt(a ? s[k] - a[k] * a[k] : s[k]) + T(eps);
                if (b) {
                  b[k] = T(mom) * b[k] + g[k] / d;
                  p[k] -= T(lr) * b[k];
                } else {
                  p[k] -= T(lr) * (g[k] / d);
                }
              }
            });
          }};
}

namespace {

// The Adam direction grad_avg / debias1 / (sqrt(sqr_avg / debias2) + eps), element k.
struct AdamDirection {
  AdamDirection(const ParamView& v, const Moments& m)
      : step(v.scalar("step")),
        debias1(m.keep_damp ? debias(v.hyper(m.mom), v.scalar("mom_damp"), step)
                            : 1 - std::pow(v.hyper(m.mom), step)),
        debias2(m.keep_damp ? debias(v.hyper(m.sqr_mom), v.scalar("sqr_damp"), step)
                            : 1 - std::pow(v.hyper(m.sqr_mom), step)),
        eps(v.hyper("eps")) {
    TG_CHECK(step > 0, "adam_step", "the step count is ", step,
             ": step_count() must run before the stepper");
  }
  template <typename T>
  T operator()(const T* a, const T* s, int64_t k) const {
    return (a[k] / T(debias1)) / (std::sqrt(s[k] / T(debias2)) + T(eps));
  }
  double step, debias1, debias2, eps;
};

}  // namespace

Stepper adam_step(const Moments& m) {
  return {"adam_step", 0, {{"eps", 1e-5}}, {m.grad_avg, m.sqr_avg, "step"}, [m](ParamView& v) {
            const AdamDirection dir(v, m);
            const double lr = v.hyper("lr");
            const Tensor& avg = v.state.at(m.grad_avg);
            const Tensor& sqr = v.state.at(m.sqr_avg);
            for_each(v, "adam_step", [&](auto t) {
              using T = decltype(t);
              T* p = v.p.data<T>();
              const T* a = avg.data<T>();
              const T* s = sqr.data<T>();
              for (int64_t k = 0, n = v.p.numel(); k < n; ++k) p[k] -= T(lr) * dir(a, s, k);
            });
          }};
}

Stepper lamb_step(const Moments& m) {
  return {"lamb_step",
          0,
          {{"eps", 1e-6}, {"weight_decay", 0.0}},
          {m.grad_avg, m.sqr_avg, "step"},
          [m](ParamView& v) {
            const AdamDirection dir(v, m);
            const double lr = v.hyper("lr"), wd = v.hyper("weight_decay");
            const Tensor& avg = v.state.at(m.grad_avg);
            const Tensor& sqr = v.state.at(m.sqr_avg);
            for_each(v, "lamb_step", [&](auto t) {
              using T = decltype(t);
              T* p = v.p.data<T>();
              const T* a = avg.data<T>();
              const T* s = sqr.data<T>();
              const int64_t n = v.p.numel();
              std::vector<T> step(static_cast<size_t>(n));
              double r1 = 0, r2 = 0;
              for (int64_t k = 0; k < n; ++k) {
                step[size_t(k)] = dir(a, s, k) + T(wd) * p[k];
                r1 += double(p[k]) * double(p[k]);
                r2 += double(step[size_t(k)]) * double(step[size_t(k)]);
              }
              r1 = std::sqrt(r1 / double(n));
              r2 = std::sqrt(r2 / double(n));
              // The trust ratio; 1 where either norm is zero (fastai's choice: a zero weight or
              // a zero step gives no ratio to trust).
              const double q = (r1 == 0 || r2 == 0) ? 1.0 : std::min(r1 / r2, 10.0);
              for (int64_t k = 0; k < n; ++k) p[k] -= T(lr * q) * step[size_t(k)];
            });
          }};
}

StatefulOptimizer sgd_opt(const std::vector<Tensor>& params,
                          const std::map<std::string, double>& hyper) {
  return StatefulOptimizer("sgd_opt", params, {weight_decay(), sgd_step()}, {}, hyper);
}

StatefulOptimizer momentum_opt(const std::vector<Tensor>& params,
                               const std::map<std::string, double>& hyper) {
  return StatefulOptimizer("momentum_opt", params, {weight_decay(), momentum_step()},
                           {average_grad()}, hyper);
}

StatefulOptimizer adam_opt(const std::vector<Tensor>& params,
                           const std::map<std::string, double>& hyper) {
  return StatefulOptimizer("adam_opt", params, {weight_decay(), adam_step()},
                           {average_grad(true), average_sqr_grad(), step_count()}, hyper);
}

StatefulOptimizer lamb_opt(const std::vector<Tensor>& params,
                           const std::map<std::string, double>& hyper) {
  return StatefulOptimizer("lamb_opt", params, {lamb_step()},
                           {average_grad(true), average_sqr_grad(), step_count()}, hyper);
}

}  // namespace tg::optim
