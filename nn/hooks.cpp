// Forward hooks: Module::operator() and register_forward_hook, the hook list and its handle
// (hook_handle.h), the Hooks helper and ActivationStats (hooks.h).
#include "nn/hooks.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "base/error.h"

namespace tg::nn {

Tensor Module::operator()(const Tensor& x) {
  Tensor out = forward(x);
  if (!forward_hooks_.empty()) forward_hooks_.run(*this, x, out);
  return out;
}

HookHandle Module::register_forward_hook(ForwardHook hook) {
  TG_CHECK(static_cast<bool>(hook), "Module.register_forward_hook", "the hook is empty");
  auto [list, id] = forward_hooks_.add(std::move(hook));
  return {std::move(list), id};
}

namespace detail {

std::pair<std::weak_ptr<HookList>, uint64_t> ForwardHooks::add(ForwardHook hook) {
  if (!list_) list_ = std::make_shared<HookList>();
  const uint64_t id = list_->next_id++;
  list_->hooks.emplace_back(id, std::move(hook));
  return {list_, id};
}

void ForwardHooks::run(Module& m, const Tensor& input, const Tensor& output) const {
  // A snapshot: a hook may add or remove hooks (its own too) while the list is walked.
  const std::vector<std::pair<uint64_t, ForwardHook>> hooks = list_->hooks;
  for (const auto& [id, hook] : hooks) hook(m, input, output);
}

}  // namespace detail

HookHandle& HookHandle::operator=(HookHandle&& o) noexcept {
  if (this != &o) {
    remove();
    list_ = std::move(o.list_);
    id_ = o.id_;
    o.list_.reset();
  }
  return *this;
}

void HookHandle::remove() noexcept {
  if (auto list = list_.lock()) {
    auto& h = list->hooks;
    h.erase(std::remove_if(h.begin(), h.end(), [&](const auto& p) { return p.first == id_; }),
            h.end());
  }
  list_.reset();
}

bool HookHandle::active() const {
  auto list = list_.lock();
  return list && std::any_of(list->hooks.begin(), list->hooks.end(),
                             [&](const auto& p) { return p.first == id_; });
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

namespace {

// Appends one call's figures for layer i.
void record(double eps, const Tensor& out, std::vector<double>& means, std::vector<double>& stds,
            std::vector<double>& near_zero) {
  const std::vector<double> v = out.to_vector<double>();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (v.empty()) {
    means.push_back(nan);
    stds.push_back(nan);
    near_zero.push_back(nan);
    return;
  }
  const auto n = static_cast<double>(v.size());
  double sum = 0;
  size_t small = 0;
  for (double x : v) {
    sum += x;
    if (std::abs(x) < eps) ++small;
  }
  const double mean = sum / n;
  double sq = 0;  // two passes: the deviations from the mean, not E[x^2] - mean^2
  for (double x : v) sq += (x - mean) * (x - mean);
  means.push_back(mean);
  stds.push_back(v.size() > 1 ? std::sqrt(sq / (n - 1)) : nan);
  near_zero.push_back(static_cast<double>(small) / n);
}

}  // namespace

ActivationStats::ActivationStats(const std::vector<std::shared_ptr<Module>>& modules, double eps)
    : data_(std::make_shared<Data>()),
      hooks_(modules, [d = data_](size_t i, Module&, const Tensor&, const Tensor& out) {
        record(d->eps, out, d->means[i], d->stds[i], d->near_zero[i]);
      }) {
  // Checked after the hooks exist, so a refused eps removes them again (hooks_'s destructor).
  TG_CHECK(eps >= 0 && std::isfinite(eps), "ActivationStats",
           "eps must be finite and non-negative, got ", eps);
  data_->eps = eps;
  data_->means.resize(modules.size());
  data_->stds.resize(modules.size());
  data_->near_zero.resize(modules.size());
}

ActivationStats::ActivationStats(const Module& model, double eps)
    : ActivationStats(children_of(model), eps) {}

void ActivationStats::clear() {
  for (auto* v : {&data_->means, &data_->stds, &data_->near_zero})
    for (auto& layer : *v) layer.clear();
}

void ActivationStats::remove() {
  hooks_.remove();
}

}  // namespace tg::nn
