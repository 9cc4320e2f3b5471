// Module: registration of parameters and children, the recursive walks over them (parameters,
// train/eval, zero_grad), the state dict, and the PyTorch-like repr.
#include "nn/module.h"

#include <sstream>
#include <unordered_set>

#include "tensor/grad_mode.h"

namespace tg::nn {

namespace {

// A name is one path component: non-empty and without '.', so dotted paths stay unambiguous.
void check_name(const char* op, const std::string& name) {
  TG_CHECK(!name.empty(), op, "name must not be empty");
  TG_CHECK(name.find('.') == std::string::npos, op, "name '", name, "' must not contain '.'");
}

std::string join(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

// Indents every line but the first by two spaces (torch.nn.modules.module._addindent).
std::string add_indent(const std::string& s) {
  std::string out;
  for (char c : s) {
    out += c;
    if (c == '\n') out += "  ";
  }
  return out;
}

}  // namespace

// One namespace for parameters, buffers and children, as PyTorch's.
void Module::check_free(const char* op, const std::string& name) const {
  check_name(op, name);
  for (const auto& [n, p] : params_) TG_CHECK(n != name, op, "parameter '", name, "' exists");
  for (const auto& [n, b] : buffers_) TG_CHECK(n != name, op, "buffer '", name, "' exists");
  for (const auto& [n, c] : children_) TG_CHECK(n != name, op, "child '", name, "' exists");
}

Tensor& Module::register_parameter(const std::string& name, Tensor t) {
  const char* op = "Module.register_parameter";
  check_free(op, name);
  TG_CHECK(t.defined(), op, "parameter '", name, "' is an undefined tensor");
  TG_CHECK(is_floating(t.dtype()), op, "parameter '", name, "' must be float32 or float64, got ",
           dtype_name(t.dtype()), " of shape ", t.shape_str());
  TG_CHECK(t.is_leaf(), op, "parameter '", name, "' must be a leaf tensor (detach it first)");
  if (!t.requires_grad()) t.requires_grad_();
  params_.emplace_back(name, std::move(t));
  return params_.back().second;
}

Tensor& Module::register_buffer(const std::string& name, Tensor t) {
  const char* op = "Module.register_buffer";
  check_free(op, name);
  TG_CHECK(t.defined(), op, "buffer '", name, "' is an undefined tensor");
  TG_CHECK(!t.requires_grad(), op, "buffer '", name, "' must not require grad (detach it first)");
  buffers_.emplace_back(name, std::move(t));
  return buffers_.back().second;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> m) {
  const char* op = "Module.register_module";
  check_free(op, name);
  TG_CHECK(m != nullptr, op, "module '", name, "' is null");
  children_.emplace_back(name, std::move(m));
}

void Module::collect(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& out,
                     bool params, bool buffers) const {
  if (params)
    for (const auto& [n, p] : params_) out.emplace_back(prefix + n, p);
  if (buffers)
    for (const auto& [n, b] : buffers_) out.emplace_back(prefix + n, b);
  for (const auto& [n, c] : children_) c->collect(prefix + n + ".", out, params, buffers);
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers() const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect("", out, false, true);
  return out;
}

// A parameter shared by two modules (tied weights) is listed once, under its first name, as
// PyTorch's named_parameters() does; state_dict() keeps every name.
std::vector<std::pair<std::string, Tensor>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Tensor>> all, out;
  collect("", all);
  std::unordered_set<const TensorImpl*> seen;
  for (auto& np : all)
    if (seen.insert(np.second.impl()).second) out.push_back(std::move(np));
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [n, p] : named_parameters()) out.push_back(p);
  return out;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, c] : children_) c->train(on);
}

// As tg::zero_grad, but walking the tree directly: no vector of parameters is built, so a
// training step that calls it allocates nothing. A tied parameter is simply zeroed twice.
void Module::zero_grad(bool set_to_none) {
  NoGrad guard;
  for (auto& [n, p] : params_) {
    if (set_to_none) {
      p.set_grad(Tensor());
      continue;
    }
    Tensor g = p.grad();
    if (g.defined()) g.zero_();
  }
  for (auto& [n, c] : children_) c->zero_grad(set_to_none);
}

Module& Module::to(Device device) {
  for (auto& [n, p] : named_parameters()) p.to_(device);  // shared, so tied weights move once
  std::unordered_set<const TensorImpl*> seen;
  for (auto& [n, b] : named_buffers())
    if (seen.insert(b.impl()).second) b.to_(device);
  return *this;
}

Device Module::device() const {
  const auto params = parameters();
  return params.empty() ? Device::cpu() : params.front().device();
}

StateDict Module::state_dict() const {
  std::vector<std::pair<std::string, Tensor>> all;
  collect("", all, true, true);
  StateDict out;
  for (auto& [n, p] : all) out.emplace(n, p.detach());
  return out;
}

void Module::load_state_dict(const StateDict& state, bool strict) {
  const char* op = "Module.load_state_dict";
  std::vector<std::pair<std::string, Tensor>> own;
  collect("", own, true, true);
  std::vector<std::string> missing, unexpected;
  std::unordered_set<std::string> own_names;
  for (const auto& [n, p] : own) {
    own_names.insert(n);
    if (!state.count(n)) missing.push_back(n);
  }
  for (const auto& [n, t] : state)
    if (!own_names.count(n)) unexpected.push_back(n);
  TG_CHECK(!strict || (missing.empty() && unexpected.empty()), op, "in ", name(),
           ": missing keys: [", join(missing), "]; unexpected keys: [", join(unexpected), "]");
  // Check everything before copying anything, so a failed load leaves the model unchanged.
  for (const auto& [n, p] : own) {
    auto it = state.find(n);
    if (it == state.end()) continue;
    const Tensor& src = it->second;
    TG_CHECK(src.defined(), op, "'", n, "' is an undefined tensor");
    TG_CHECK(src.shape() == p.shape(), op, "size mismatch for '", n, "': the model has ",
             p.shape_str(), ", the state dict has ", src.shape_str());
  }
  NoGrad guard;
  for (auto& [n, p] : own) {
    auto it = state.find(n);
    if (it == state.end()) continue;
    // A different dtype is converted, as PyTorch's load_state_dict copies with conversion.
    const Tensor src = it->second.to(p.dtype());
    if (src.raw_data() == p.raw_data() && src.strides() == p.strides()) continue;  // itself
    p.copy_(src.shares_storage(p) ? src.clone() : src);
  }
}

std::string Module::str() const {
  std::string extra = extra_repr();
  if (children_.empty()) return name() + "(" + extra + ")";
  std::ostringstream os;
  os << name() << "(";
  if (!extra.empty()) os << "\n  " << add_indent(extra);
  for (const auto& [n, c] : children_) os << "\n  (" << n << "): " << add_indent(c->str());
  os << "\n)";
  return os.str();
}

}  // namespace tg::nn
