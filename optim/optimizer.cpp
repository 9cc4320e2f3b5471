// Optimizer: parameter groups with named hyper-parameters (filled from the defaults), gradient
// zeroing, and the state dict ("param_groups.<g>.<name>", "state.<g>.<i>.<name>").
#include "optim/optimizer.h"

#include <algorithm>
#include <charconv>
#include <set>
#include <string_view>
#include <unordered_set>

#include "autograd/tape.h"
#include "tensor/creation.h"
#include "tensor/grad_mode.h"

namespace tg::optim {

namespace {

template <typename Map>
std::string known_names(const Map& m) {
  std::string s;
  for (const auto& [k, v] : m) s += (s.empty() ? "" : ", ") + k;
  return s;
}

std::string join(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

// Reads "<number>." from the front of s; returns false when s does not start that way.
bool take_index(std::string_view& s, size_t& out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec != std::errc() || end == s.data() || end == s.data() + s.size() || *end != '.')
    return false;
  s.remove_prefix(static_cast<size_t>(end - s.data()) + 1);
  return !s.empty();
}

// A state-dict key: "param_groups.<group>.<name>" or "state.<group>.<index>.<name>".
struct Key {
  enum Kind { hyper, state, bad } kind = bad;
  size_t group = 0, index = 0;
  std::string name;
};

Key parse_key(std::string_view s) {
  Key k;
  if (s.starts_with("param_groups.")) {
    s.remove_prefix(13);
    if (take_index(s, k.group)) k.kind = Key::hyper;
  } else if (s.starts_with("state.")) {
    s.remove_prefix(6);
    if (take_index(s, k.group) && take_index(s, k.index)) k.kind = Key::state;
  }
  k.name = s;
  return k;
}

}  // namespace

double ParamGroup::get(const std::string& name) const {
  auto it = hyper.find(name);
  TG_CHECK(it != hyper.end(), "ParamGroup.get", "unknown hyper-parameter '", name,
           "'; known: ", known_names(hyper));
  return it->second;
}

void ParamGroup::set(const std::string& name, double v) {
  auto it = hyper.find(name);
  TG_CHECK(it != hyper.end(), "ParamGroup.set", "unknown hyper-parameter '", name,
           "'; known: ", known_names(hyper));
  it->second = v;
}

Optimizer::Optimizer(std::vector<ParamGroup> groups, std::map<std::string, double> defaults)
    : defaults_(std::move(defaults)) {
  for (auto& g : groups) add_param_group(std::move(g));
}

void Optimizer::add_param_group(ParamGroup group) {
  const char* op = "Optimizer.add_param_group";
  size_t gi = groups_.size();
  for (const auto& [name, v] : group.hyper)
    TG_CHECK(defaults_.count(name), op, "unknown hyper-parameter '", name, "' in group ", gi,
             "; known: ", known_names(defaults_));
  for (const auto& [name, v] : defaults_) group.hyper.emplace(name, v);  // keeps given values
  std::unordered_set<const TensorImpl*> seen;
  for (const auto& g : groups_)
    for (const auto& p : g.params) seen.insert(p.impl());
  for (size_t i = 0; i < group.params.size(); ++i) {
    const Tensor& p = group.params[i];
    TG_CHECK(p.defined(), op, "parameter ", i, " of group ", gi, " is undefined");
    TG_CHECK(is_floating(p.dtype()), op, "parameter ", i, " of group ", gi,
             " must be float32 or float64, got ", dtype_name(p.dtype()));
    TG_CHECK(p.is_leaf(), op, "parameter ", i, " of group ", gi, " is not a leaf tensor");
    TG_CHECK(seen.insert(p.impl()).second, op, "parameter ", i, " of group ", gi, " (shape ",
             p.shape_str(), ") appears more than once in the optimizer");
  }
  check_group(group);
  state_.emplace_back(group.params.size());
  groups_.push_back(std::move(group));
}

double Optimizer::get(const std::string& name, size_t group) const {
  TG_CHECK(group < groups_.size(), "Optimizer.get", "group ", group, " is out of range for ",
           groups_.size(), " groups");
  return groups_[group].get(name);
}

// Checks every group with the new value before changing any, so a rejected value changes
// nothing. No allocation: a scheduler calls this every batch.
void Optimizer::set(const std::string& name, double value) {
  TG_CHECK(defaults_.count(name), "Optimizer.set", "unknown hyper-parameter '", name,
           "'; known: ", known_names(defaults_));
  for (auto& g : groups_) {
    double old = g.get(name);
    g.set(name, value);
    try {
      check_group(g);
    } catch (...) {
      g.set(name, old);
      throw;
    }
    g.set(name, old);
  }
  for (auto& g : groups_) g.set(name, value);
}

void Optimizer::zero_grad(bool set_to_none) {
  for (const auto& g : groups_) tg::zero_grad(g.params, set_to_none);
}

// The momentum buffers are cloned: a checkpoint must not change as training goes on.
std::map<std::string, Tensor> Optimizer::state_dict() const {
  std::map<std::string, Tensor> out;
  NoGrad guard;
  for (size_t g = 0; g < groups_.size(); ++g) {
    std::string prefix = std::to_string(g) + ".";
    for (const auto& [name, v] : groups_[g].hyper)
      out.emplace("param_groups." + prefix + name, scalar_tensor(v, DType::f64));
    for (size_t i = 0; i < state_[g].size(); ++i)
      for (const auto& [name, t] : state_[g][i])
        out.emplace("state." + prefix + std::to_string(i) + "." + name, t.clone());
  }
  return out;
}

void Optimizer::load_state_dict(const std::map<std::string, Tensor>& state) {
  const char* op = "Optimizer.load_state_dict";
  std::vector<std::pair<const std::string*, Key>> keys;
  size_t n_groups = 0;
  for (const auto& [key, t] : state) {
    TG_CHECK(t.defined(), op, "'", key, "' is an undefined tensor");
    Key k = parse_key(key);
    if (k.kind != Key::bad) n_groups = std::max(n_groups, k.group + 1);
    keys.emplace_back(&key, std::move(k));
  }
  TG_CHECK(n_groups == groups_.size(), op, "the state dict has ", n_groups,
           " parameter groups, the optimizer has ", groups_.size());
  std::vector<ParamGroup> groups = groups_;  // hyper-parameters staged here, checked, then kept
  std::vector<std::vector<std::map<std::string, Tensor>>> st(groups_.size());
  for (size_t g = 0; g < groups_.size(); ++g) st[g].resize(groups_[g].params.size());
  std::vector<std::string> unexpected, missing;
  std::set<std::pair<size_t, std::string>> found;
  for (const auto& [key, k] : keys) {
    const Tensor& t = state.at(*key);
    if (k.kind == Key::hyper && groups[k.group].hyper.count(k.name)) {
      TG_CHECK(t.numel() == 1, op, "'", *key, "' must hold one value, got shape ", t.shape_str());
      groups[k.group].hyper[k.name] = t.item<double>();
      found.emplace(k.group, k.name);
    } else if (k.kind == Key::state) {
      TG_CHECK(k.index < groups[k.group].params.size(), op, "'", *key, "' is for parameter ",
               k.index, " of group ", k.group, ", which this optimizer lacks");
      const Tensor& p = groups[k.group].params[k.index];
      TG_CHECK(t.shape() == p.shape() && t.dtype() == p.dtype(), op, "'", *key, "' has shape ",
               t.shape_str(), " (", dtype_name(t.dtype()), ") but its parameter has shape ",
               p.shape_str(), " (", dtype_name(p.dtype()), ")");
      st[k.group][k.index][k.name] = t.detach().to(p.device());  // a checkpoint is on the CPU
    } else {
      unexpected.push_back(*key);
    }
  }
  for (size_t g = 0; g < groups.size(); ++g)
    for (const auto& [name, v] : groups[g].hyper)
      if (!found.count({g, name}))
        missing.push_back("param_groups." + std::to_string(g) + "." + name);
  TG_CHECK(missing.empty() && unexpected.empty(), op, "missing keys: [", join(missing),
           "]; unexpected keys: [", join(unexpected), "]");
  for (const auto& g : groups) check_group(g);
  NoGrad guard;
  for (auto& per_group : st)
    for (auto& per_param : per_group)
      for (auto& [name, t] : per_param) t = t.clone();  // own the buffers
  groups_ = std::move(groups);
  state_ = std::move(st);
}

}  // namespace tg::optim
