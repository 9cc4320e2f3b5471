// Module hooks: Module::operator(), register_forward_hook and register_backward_hook (whose
// hooks ride on a gradient hook of each output, autograd/hooks.h), the Hooks helper and
// ActivationStats (hooks.h).
#include "nn/hooks.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "autograd/hooks.h"
#include "base/error.h"

namespace tg::nn {

Tensor Module::operator()(const Tensor& x) {
  Tensor out = forward(x);
  if (!forward_hooks_.empty())
    for (const ForwardHook& hook : forward_hooks_.snapshot()) hook(*this, x, out);
  if (!backward_hooks_.empty() && out.requires_grad() && out.impl() != x.impl()) {
    // One gradient hook on this output for the module's backward hooks, for the output's life:
    // it calls the hooks registered at backward time, and nothing once the module is gone (the
    // list dies with it).
    detail::add_grad_hook(out, [list = backward_hooks_.weak(), self = this](const Tensor& g) {
      if (auto l = list.lock())
        for (const BackwardHook& hook : l->snapshot()) hook(*self, g);
      return Tensor();
    });
  }
  return out;
}

HookHandle Module::register_forward_hook(ForwardHook hook) {
  TG_CHECK(static_cast<bool>(hook), "Module.register_forward_hook", "the hook is empty");
  return HookHandle(forward_hooks_.add(std::move(hook)));
}

HookHandle Module::register_backward_hook(BackwardHook hook) {
  TG_CHECK(static_cast<bool>(hook), "Module.register_backward_hook", "the hook is empty");
  return HookHandle(backward_hooks_.add(std::move(hook)));
}

std::vector<std::shared_ptr<Module>> children_of(const Module& model) {
  std::vector<std::shared_ptr<Module>> out;
  for (const auto& [name, child] : model.named_children()) out.push_back(child);
  return out;
}

Hooks::Hooks(const std::vector<std::shared_ptr<Module>>& modules, Fn fn) {
  TG_CHECK(static_cast<bool>(fn), "Hooks", "the hook function is empty");
  for (size_t i = 0; i < modules.size(); ++i)
    TG_CHECK(modules[i] != nullptr, "Hooks", "module ", i, " is null");
  auto shared = std::make_shared<Fn>(std::move(fn));
  handles_.reserve(modules.size());
  for (size_t i = 0; i < modules.size(); ++i)
    handles_.push_back(modules[i]->register_forward_hook(
        [shared, i](Module& m, const Tensor& in, const Tensor& out) { (*shared)(i, m, in, out); }));
}

Hooks::Hooks(const Module& model, Fn fn) : Hooks(children_of(model), std::move(fn)) {}

void Hooks::remove() {
  for (auto& h : handles_) h.remove();
}

std::vector<int64_t> histc(std::span<const double> v, int64_t bins, double lo, double hi) {
  TG_CHECK(bins >= 1 && std::isfinite(lo) && std::isfinite(hi) && lo < hi, "histc",
           "needs bins >= 1 and finite lo < hi, got bins ", bins, ", lo ", lo, ", hi ", hi);
  std::vector<int64_t> out(static_cast<size_t>(bins), 0);
  const double scale = static_cast<double>(bins) / (hi - lo);
  for (double x : v) {
    if (!(x >= lo && x <= hi)) continue;  // NaN fails both
    auto b = static_cast<int64_t>((x - lo) * scale);
    if (b >= bins) b = bins - 1;  // x == hi, or rounding just below it
    ++out[static_cast<size_t>(b)];
  }
  return out;
}

namespace {

// Appends one call's figures for layer i: mean, std, near-zero fraction and, when bins > 0, the
// histogram of |x|, all from one copy of the output.
void record(double eps, const HistogramRange& h, const Tensor& out, std::vector<double>& means,
            std::vector<double>& stds, std::vector<double>& near_zero,
            std::vector<std::vector<int64_t>>& hists) {
  const std::vector<double> v = out.to_vector<double>();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (h.bins > 0) hists.emplace_back(static_cast<size_t>(h.bins), 0);
  if (v.empty()) {
    means.push_back(nan);
    stds.push_back(nan);
    near_zero.push_back(nan);
    return;
  }
  const auto n = static_cast<double>(v.size());
  const double scale = static_cast<double>(h.bins) / (h.hi - h.lo);
  double sum = 0;
  size_t small = 0;
  for (double x : v) {
    sum += x;
    const double a = std::abs(x);
    if (a < eps) ++small;
    if (h.bins > 0 && a >= h.lo && a <= h.hi) {  // histc of |x|, inline: no second pass
      auto b = static_cast<int64_t>((a - h.lo) * scale);
      if (b >= h.bins) b = h.bins - 1;
      ++hists.back()[static_cast<size_t>(b)];
    }
  }
  const double mean = sum / n;
  double sq = 0;  // two passes: the deviations from the mean, not E[x^2] - mean^2
  for (double x : v) sq += (x - mean) * (x - mean);
  means.push_back(mean);
  stds.push_back(v.size() > 1 ? std::sqrt(sq / (n - 1)) : nan);
  near_zero.push_back(static_cast<double>(small) / n);
}

}  // namespace

ActivationStats::ActivationStats(const std::vector<std::shared_ptr<Module>>& modules, double eps,
                                 HistogramRange hist)
    : data_(std::make_shared<Data>()),
      hooks_(modules, [d = data_](size_t i, Module&, const Tensor&, const Tensor& out) {
        record(d->eps, d->hist, out, d->means[i], d->stds[i], d->near_zero[i], d->hists[i]);
      }) {
  // Checked after the hooks exist, so a refused eps removes them again (hooks_'s destructor).
  TG_CHECK(eps >= 0 && std::isfinite(eps), "ActivationStats",
           "eps must be finite and non-negative, got ", eps);
  TG_CHECK(hist.bins >= 0 && (hist.bins == 0 || (std::isfinite(hist.lo) && std::isfinite(hist.hi) &&
                                                 hist.lo < hist.hi)),
           "ActivationStats", "the histogram needs bins >= 0 and finite lo < hi, got bins ",
           hist.bins, ", lo ", hist.lo, ", hi ", hist.hi);
  data_->eps = eps;
  data_->hist = hist;
  data_->means.resize(modules.size());
  data_->stds.resize(modules.size());
  data_->near_zero.resize(modules.size());
  data_->hists.resize(modules.size());
}

ActivationStats::ActivationStats(const Module& model, double eps, HistogramRange hist)
    : ActivationStats(children_of(model), eps, hist) {}

void ActivationStats::clear() {
  for (auto* v : {&data_->means, &data_->stds, &data_->near_zero})
    for (auto& layer : *v) layer.clear();
  for (auto& layer : data_->hists) layer.clear();
}

void ActivationStats::remove() {
  hooks_.remove();
}

}  // namespace tg::nn
