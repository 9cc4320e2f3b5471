// Forward hooks: what Module::register_forward_hook stores and the handle it returns.
//
//   tg::nn::HookHandle h = model.register_forward_hook(
//       [](tg::nn::Module& m, const tg::Tensor& in, const tg::Tensor& out) { ... });
//   model(x);     // forward, then every hook in registration order
//   h.remove();   // or let h go out of scope
//
// As PyTorch's RemovableHandle, the handle refers to the module's hook list weakly: removing
// (or destroying the handle) after the module died does nothing, and a handle never keeps a
// module alive. Handles move, never copy, so a hook is removed exactly once.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

namespace tg {
class Tensor;
}

namespace tg::nn {

class Module;

// Called after each forward of the module it is registered on: the module, its input and
// the output forward returned.
using ForwardHook = std::function<void(Module&, const Tensor& input, const Tensor& output)>;

namespace detail {

struct HookList {
  uint64_t next_id = 0;
  std::vector<std::pair<uint64_t, ForwardHook>> hooks;  // registration order
};

// A module's forward hooks. Copying a module copies none of them: a handle refers to one
// module's list, so a copy starts with its own, empty one.
class ForwardHooks {
 public:
  ForwardHooks() = default;
  ForwardHooks(const ForwardHooks&) {}
  ForwardHooks& operator=(const ForwardHooks&) { return *this; }
  ForwardHooks(ForwardHooks&&) = default;
  ForwardHooks& operator=(ForwardHooks&&) = default;

  bool empty() const { return !list_ || list_->hooks.empty(); }
  // Appends hook; returns the list and the hook's id for a HookHandle.
  std::pair<std::weak_ptr<HookList>, uint64_t> add(ForwardHook hook);
  // Calls the hooks registered when it starts, in order (a hook removed or added by a hook
  // takes effect at the next forward, as in PyTorch).
  void run(Module& m, const Tensor& input, const Tensor& output) const;

 private:
  std::shared_ptr<HookList> list_;
};

}  // namespace detail

class HookHandle {
 public:
  HookHandle() = default;  // refers to no hook
  HookHandle(std::weak_ptr<detail::HookList> list, uint64_t id) : list_(std::move(list)), id_(id) {}
  HookHandle(const HookHandle&) = delete;
  HookHandle& operator=(const HookHandle&) = delete;
  HookHandle(HookHandle&& o) noexcept : list_(std::move(o.list_)), id_(o.id_) { o.list_.reset(); }
  HookHandle& operator=(HookHandle&& o) noexcept;  // removes this handle's hook first
  ~HookHandle() { remove(); }

  // Unregisters the hook; does nothing the second time, after a move or once the module died.
  void remove() noexcept;
  // Whether the hook is still registered on a living module.
  bool active() const;

 private:
  std::weak_ptr<detail::HookList> list_;
  uint64_t id_ = 0;
};

}  // namespace tg::nn
