// Optimizer: parameter groups whose hyper-parameters are slots of the optimizer's name table
// (filled from the defaults, checked once when set), gradient zeroing, and the state dict
// ("param_groups.<g>.<name>", "state.<g>.<i>.<name>").
#include "optim/optimizer.h"

#include <algorithm>
#include <charconv>
#include <set>
#include <unordered_set>

#include "autograd/tape.h"
#include "tensor/creation.h"
#include "tensor/grad_mode.h"

namespace tg::optim {

namespace {

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

Optimizer::Optimizer(std::vector<std::string> names, std::vector<double> defaults)
    : names_(std::move(names)), defaults_(std::move(defaults)) {
  TG_CHECK(names_.size() == defaults_.size(), "Optimizer", names_.size(), " names but ",
           defaults_.size(), " defaults");
}

size_t Optimizer::hyper_id(std::string_view name) const {
  for (size_t i = 0; i < names_.size(); ++i)
    if (names_[i] == name) return i;
  std::vector<std::string> sorted = names_;
  std::sort(sorted.begin(), sorted.end());
  TG_FAIL("Optimizer", "unknown hyper-parameter '", name, "'; known: ", join(sorted));
}

const std::vector<Tensor>& Optimizer::params(size_t group) const {
  TG_CHECK(group < params_.size(), "Optimizer.params", "group ", group, " is out of range for ",
           params_.size(), " groups");
  return params_[group];
}

double Optimizer::get(size_t id, size_t group) const {
  TG_CHECK(group < hyper_.size(), "Optimizer.get", "group ", group, " is out of range for ",
           hyper_.size(), " groups");
  TG_CHECK(id < names_.size(), "Optimizer.get", "hyper-parameter id ", id, " is out of range for ",
           names_.size());
  return hyper_[group][id];
}

void Optimizer::commit(size_t group, std::vector<double> values) {
  hyper_[group] = std::move(values);
  hyper_changed(group);
}

// Every group is checked with the new value before any changes, so a rejected value changes
// nothing. This is the one place a scheduled value is validated.
void Optimizer::set(size_t id, double value) {
  TG_CHECK(id < names_.size(), "Optimizer.set", "hyper-parameter id ", id, " is out of range for ",
           names_.size());
  for (const auto& values : hyper_) {
    std::vector<double> v = values;
    v[id] = value;
    check_hyper(v);
  }
  for (size_t g = 0; g < hyper_.size(); ++g) {
    hyper_[g][id] = value;
    hyper_changed(g);
  }
}

void Optimizer::set(size_t id, double value, size_t group) {
  TG_CHECK(group < hyper_.size(), "Optimizer.set", "group ", group, " is out of range for ",
           hyper_.size(), " groups");
  TG_CHECK(id < names_.size(), "Optimizer.set", "hyper-parameter id ", id, " is out of range for ",
           names_.size());
  std::vector<double> v = hyper_[group];
  v[id] = value;
  check_hyper(v);
  commit(group, std::move(v));
}

void Optimizer::add_param_group(ParamGroup group) {
  const char* op = "Optimizer.add_param_group";
  const size_t gi = params_.size();
  std::vector<double> values = defaults_;
  for (const auto& [name, v] : group.hyper) {
    auto it = std::find(names_.begin(), names_.end(), name);
    TG_CHECK(it != names_.end(), op, "unknown hyper-parameter '", name, "' in group ", gi,
             "; known: ", join(names_));
    values[static_cast<size_t>(it - names_.begin())] = v;
  }
  std::unordered_set<const TensorImpl*> seen;
  for (const auto& ps : params_)
    for (const auto& p : ps) seen.insert(p.impl());
  for (size_t i = 0; i < group.params.size(); ++i) {
    const Tensor& p = group.params[i];
    TG_CHECK(p.defined(), op, "parameter ", i, " of group ", gi, " is undefined");
    TG_CHECK(is_floating(p.dtype()), op, "parameter ", i, " of group ", gi,
             " must be float32 or float64, got ", dtype_name(p.dtype()));
    TG_CHECK(p.is_leaf(), op, "parameter ", i, " of group ", gi, " is not a leaf tensor");
    TG_CHECK(seen.insert(p.impl()).second, op, "parameter ", i, " of group ", gi, " (shape ",
             p.shape_str(), ") appears more than once in the optimizer");
  }
  check_hyper(values);
  state_.emplace_back(group.params.size());
  params_.push_back(std::move(group.params));
  hyper_.emplace_back();
  commit(gi, std::move(values));
}

void Optimizer::zero_grad(bool set_to_none) {
  for (const auto& ps : params_) tg::zero_grad(ps, set_to_none);
}

// The momentum buffers are cloned: a checkpoint must not change as training goes on.
std::map<std::string, Tensor> Optimizer::state_dict() const {
  std::map<std::string, Tensor> out;
  NoGrad guard;
  for (size_t g = 0; g < params_.size(); ++g) {
    std::string prefix = std::to_string(g) + ".";
    for (size_t k = 0; k < names_.size(); ++k)
      out.emplace("param_groups." + prefix + names_[k], scalar_tensor(hyper_[g][k], DType::f64));
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
  TG_CHECK(n_groups == params_.size(), op, "the state dict has ", n_groups,
           " parameter groups, the optimizer has ", params_.size());
  // Staged here, checked, then kept.
  std::vector<std::vector<double>> hyper = hyper_;
  std::vector<std::vector<std::map<std::string, Tensor>>> st(params_.size());
  for (size_t g = 0; g < params_.size(); ++g) st[g].resize(params_[g].size());
  std::vector<std::string> unexpected, missing;
  std::set<std::pair<size_t, size_t>> found;
  for (const auto& [key, k] : keys) {
    const Tensor& t = state.at(*key);
    auto slot = std::find(names_.begin(), names_.end(), k.name);
    if (k.kind == Key::hyper && slot != names_.end()) {
      TG_CHECK(t.numel() == 1, op, "'", *key, "' must hold one value, got shape ", t.shape_str());
      const size_t id = static_cast<size_t>(slot - names_.begin());
      hyper[k.group][id] = t.item<double>();
      found.emplace(k.group, id);
    } else if (k.kind == Key::state) {
      TG_CHECK(k.index < params_[k.group].size(), op, "'", *key, "' is for parameter ", k.index,
               " of group ", k.group, ", which this optimizer lacks");
      if (k.name == "step") {  // a per-parameter count (Adam's bias correction): one value
        TG_CHECK(t.numel() == 1, op, "'", *key, "' must hold one value, got shape ", t.shape_str());
        st[k.group][k.index][k.name] = t.detach().to(Device::cpu()).to(DType::f32).reshape({});
        continue;
      }
      const Tensor& p = params_[k.group][k.index];
      // A buffer has its parameter's shape and dtype; a 0-d tensor is a per-parameter scalar
      // (the course optimizer's dampening factors, optim/generic.h).
      TG_CHECK(t.dim() == 0 || (t.shape() == p.shape() && t.dtype() == p.dtype()), op, "'", *key,
               "' has shape ", t.shape_str(), " (", dtype_name(t.dtype()),
               ") but its parameter has shape ", p.shape_str(), " (", dtype_name(p.dtype()), ")");
      st[k.group][k.index][k.name] = t.detach().to(p.device());  // a checkpoint is on the CPU
    } else {
      unexpected.push_back(*key);
    }
  }
  for (size_t g = 0; g < hyper.size(); ++g)
    for (size_t id = 0; id < names_.size(); ++id)
      if (!found.count({g, id}))
        missing.push_back("param_groups." + std::to_string(g) + "." + names_[id]);
  TG_CHECK(missing.empty() && unexpected.empty(), op, "missing keys: [", join(missing),
           "]; unexpected keys: [", join(unexpected), "]");
  for (const auto& v : hyper) check_hyper(v);
  NoGrad guard;
  for (auto& per_group : st)
    for (auto& per_param : per_group)
      for (auto& [name, t] : per_param) t = t.clone();  // own the buffers
  state_ = std::move(st);
  for (size_t g = 0; g < hyper.size(); ++g) commit(g, std::move(hyper[g]));
}

}  // namespace tg::optim
