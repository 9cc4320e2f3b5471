// The tape and backward(): the whole reverse-mode machinery, on one screen.
//
// record() appends a node; backward() walks the nodes from the root's down to the first,
// handing each node the gradient of its output (accumulated from every later use of it) and
// accumulating what it returns into its inputs: into .grad() for leaves, into a map for
// intermediate tensors, whose entry is freed as soon as its own node has run. Gradient hooks
// (autograd/hooks.h) run on an intermediate's gradient just before its node, and on a hooked
// leaf's once at the end, on the sum of its contributions.
#include "autograd/tape.h"

#include <algorithm>
#include <sstream>
#include <unordered_map>

#include "autograd/hooks.h"
#include "tensor/creation.h"
#include "tensor/ops.h"

namespace tg {

Tape& tape() {
  thread_local Tape t;
  return t;
}

bool needs_grad(std::initializer_list<const Tensor*> inputs) {
  if (!GradMode::enabled()) return false;
  for (const Tensor* t : inputs)
    if (t->defined() && t->requires_grad()) return true;
  return false;
}

Tensor Tape::record(const char* name, Tensor out, std::vector<Tensor> inputs, BackwardFn fn) {
  if (nodes_.size() >= prune_at_) prune();
  Node n;
  n.seq = next_seq_++;
  n.name = name;
  n.inputs = std::move(inputs);
  n.output = out.impl_ptr();
  n.backward = std::move(fn);
  out.impl()->requires_grad = true;
  out.impl()->node = n.seq;
  nodes_.push_back(std::move(n));
  return out;
}

// A node whose output has been destroyed can never receive a gradient. Dropping it releases
// its inputs, which may make older nodes' outputs die too, so sweep newest to oldest.
void Tape::prune() {
  for (auto it = nodes_.rbegin(); it != nodes_.rend(); ++it)
    if (it->output.expired()) {
      it->inputs.clear();
      it->backward = nullptr;
    }
  std::erase_if(nodes_, [](const Node& n) { return n.output.expired(); });
  prune_at_ = std::max<size_t>(1024, 2 * nodes_.size());
}

int64_t Tape::find(uint64_t seq) const {
  auto it = std::lower_bound(nodes_.begin(), nodes_.end(), seq,
                             [](const Node& n, uint64_t s) { return n.seq < s; });
  if (it == nodes_.end() || it->seq != seq) return -1;
  return it - nodes_.begin();
}

std::string Tape::str() const {
  std::ostringstream os;
  os << "Tape(" << nodes_.size() << " nodes)\n";
  for (const Node& n : nodes_) {
    os << "  #" << n.seq << " " << n.name << "(";
    for (size_t i = 0; i < n.inputs.size(); ++i)
      os << (i ? ", " : "") << (n.inputs[i].defined() ? n.inputs[i].shape_str() : "-");
    auto out = n.output.lock();
    os << ") -> " << (out ? shape_str(out->shape) : "(freed)") << "\n";
  }
  return os.str();
}

namespace {

// True when nothing but `t` itself refers to its data: no other Tensor handle, no view, no
// saved input. Such a gradient may be written in place or kept as a leaf's .grad without a copy.
bool exclusively_owned(const Tensor& t) {
  return t.impl_ptr().use_count() == 1 && t.impl()->storage.use_count() == 1 && t.is_contiguous() &&
         t.impl()->offset == 0 &&
         t.impl()->storage->nbytes() == size_t(t.numel()) * dtype_size(t.dtype());
}

// The gradient of an intermediate tensor. The first contribution is kept as it is (it may be
// the caller's grad_root or a tensor another gradient aliases, so it is never written); later
// ones are added in place only into a sum this function made itself.
void accumulate(Tensor& slot, const Tensor& g) {
  if (!slot.defined()) {
    slot = g;
  } else if (exclusively_owned(slot)) {
    ops::axpy_(slot, 1.0, g);
  } else {
    Tensor sum = slot.contiguous().clone();
    ops::axpy_(sum, 1.0, g);
    slot = std::move(sum);
  }
}

// A leaf's .grad. The first gradient becomes .grad without a copy when nothing else refers to
// it (the usual case: a matmul or reduction made it), else a copy; later ones add in place.
void accumulate_leaf(TensorImpl& leaf, Tensor&& g) {
  TG_CHECK(g.shape() == leaf.shape, "backward", "gradient of shape ", g.shape_str(),
           " for a leaf of shape ", shape_str(leaf.shape));
  if (!leaf.grad.defined()) {
    if (exclusively_owned(g) && g.dtype() == leaf.dtype && g.device() == leaf.storage->device()) {
      leaf.grad = std::move(g);
    } else {
      leaf.grad = g.clone();  // never alias a gradient that another tensor may still own
    }
  } else {
    ops::axpy_(leaf.grad, 1.0, g);
  }
}

}  // namespace

void backward(const Tensor& root, const Tensor& grad_root, bool retain_graph) {
  TG_CHECK(root.defined(), "backward", "called on an undefined tensor");
  TG_CHECK(root.requires_grad(), "backward",
           "the tensor does not require grad (no input of it requires grad, or it was computed "
           "under NoGrad)");
  Tensor g0;
  if (grad_root.defined()) {
    TG_CHECK(grad_root.shape() == root.shape() && grad_root.dtype() == root.dtype(), "backward",
             "gradient of shape ", grad_root.shape_str(), " and dtype ",
             dtype_name(grad_root.dtype()), " for a root of shape ", root.shape_str(),
             " and dtype ", dtype_name(root.dtype()));
    g0 = grad_root;
  } else {
    TG_CHECK(root.numel() == 1, "backward", "called on a tensor of shape ", root.shape_str(), " (",
             root.numel(), " elements); backward needs a scalar or an explicit gradient");
    g0 = ones(root.shape(), root.dtype(), root.device());
  }
  NoGrad guard;  // backward formulas are plain math: record nothing
  TensorImpl* root_impl = root.impl();
  if (root_impl->node == 0) {  // the root is a leaf itself
    accumulate_leaf(*root_impl, detail::run_grad_hooks(*root_impl, std::move(g0)));
    return;
  }
  Tape& t = tape();
  int64_t start = t.find(root_impl->node);
  TG_CHECK(start >= 0, "backward",
           "the graph of this tensor was already consumed by an earlier backward() (or recorded "
           "on another thread); run the forward pass again, or pass retain_graph=true to the "
           "first backward");

  std::unordered_map<TensorImpl*, Tensor> grads;  // gradients of intermediate tensors
  grads[root_impl] = g0;
  // Leaves with gradient hooks: their gradient is summed here and hooked once, at the end.
  std::vector<std::pair<Tensor, Tensor>> hooked;  // (leaf, its gradient in this backward)
  std::unordered_map<TensorImpl*, size_t> hooked_at;
  std::vector<Node>& nodes = t.mutable_nodes();
  std::vector<char> visited(start + 1, 0);
  for (int64_t i = start; i >= 0; --i) {
    Node& n = nodes[i];
    auto out = n.output.lock();
    if (!out) continue;
    auto it = grads.find(out.get());
    if (it == grads.end()) continue;
    Tensor gy = detail::run_grad_hooks(*out, std::move(it->second));
    grads.erase(it);
    visited[i] = 1;
    std::vector<Tensor> gin = n.backward(gy);
    TG_CHECK(gin.size() == n.inputs.size(), "backward", n.name, " returned ", gin.size(),
             " gradients for ", n.inputs.size(), " inputs");
    for (size_t j = 0; j < gin.size(); ++j) {
      const Tensor& in = n.inputs[j];
      if (!gin[j].defined() || !in.defined() || !in.requires_grad()) continue;
      if (in.impl()->node == 0 && in.impl()->grad_hooks && !in.impl()->grad_hooks->hooks.empty()) {
        auto [at, fresh] = hooked_at.try_emplace(in.impl(), hooked.size());
        if (fresh) hooked.emplace_back(in, Tensor());
        accumulate(hooked[at->second].second, gin[j]);
      } else if (in.impl()->node == 0) {
        accumulate_leaf(*in.impl(), std::move(gin[j]));
      } else {
        accumulate(grads[in.impl()], gin[j]);
      }
    }
  }
  for (auto& [leaf, g] : hooked)
    accumulate_leaf(*leaf.impl(), detail::run_grad_hooks(*leaf.impl(), std::move(g)));
  if (!grads.empty()) {
    // A gradient reached a tensor whose node is gone: an earlier backward consumed it.
    TG_FAIL("backward",
            "part of this graph was already consumed by an earlier backward(); its gradients "
            "would be incomplete. Pass retain_graph=true to the first backward");
  }
  if (!retain_graph) {
    size_t k = 0;
    std::erase_if(nodes, [&](const Node&) { return k < visited.size() && visited[k++]; });
  }
}

void zero_grad(const std::vector<Tensor>& params, bool set_to_none) {
  NoGrad guard;
  for (const Tensor& p : params) {
    if (set_to_none) {
      p.impl()->grad = Tensor();
      continue;
    }
    Tensor g = p.grad();
    if (g.defined()) g.zero_();
  }
}

}  // namespace tg
