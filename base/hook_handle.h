// Hook lists and the handle that removes a hook: what a module's forward and backward hooks
// (nn/hook_handle.h) and a tensor's gradient hooks (autograd/hooks.h) share.
//
//   tg::HookHandle h = tg::register_hook(x, [](const tg::Tensor& g) { return tg::Tensor(); });
//   h.remove();   // or let h go out of scope
//
// As PyTorch's RemovableHandle, the handle refers to its hook list weakly: removing (or
// destroying the handle) after the owner of the list died does nothing, and a handle never
// keeps a module or a tensor alive. Handles move, never copy, so a hook is removed exactly once.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace tg {

namespace detail {

// What a handle needs of a list, whatever its hooks' type.
struct HookListBase {
  virtual ~HookListBase() = default;
  virtual void erase(uint64_t id) = 0;
  virtual bool contains(uint64_t id) const = 0;
};

template <typename Fn>
struct HookList : HookListBase {
  uint64_t next_id = 0;
  std::vector<std::pair<uint64_t, Fn>> hooks;  // registration order

  uint64_t add(Fn fn) {
    hooks.emplace_back(next_id, std::move(fn));
    return next_id++;
  }
  void erase(uint64_t id) override {
    std::erase_if(hooks, [&](const auto& p) { return p.first == id; });
  }
  bool contains(uint64_t id) const override {
    return std::any_of(hooks.begin(), hooks.end(), [&](const auto& p) { return p.first == id; });
  }
  // A copy of the hooks: a hook may add or remove hooks (its own too) while they are called;
  // that takes effect at the next call, as in PyTorch.
  std::vector<Fn> snapshot() const {
    std::vector<Fn> out;
    out.reserve(hooks.size());
    for (const auto& p : hooks) out.push_back(p.second);
    return out;
  }
};

// The hooks of one owner (a module), the list made on the first add. Copying the owner copies
// none of them: a handle refers to one owner's list, so a copy starts with its own, empty one.
template <typename Fn>
class HookSet {
 public:
  HookSet() = default;
  HookSet(const HookSet&) {}
  HookSet& operator=(const HookSet&) { return *this; }
  HookSet(HookSet&&) = default;
  HookSet& operator=(HookSet&&) = default;

  bool empty() const { return !list_ || list_->hooks.empty(); }
  // Appends fn; returns the list and the hook's id for a HookHandle.
  std::pair<std::weak_ptr<HookListBase>, uint64_t> add(Fn fn) {
    if (!list_) list_ = std::make_shared<HookList<Fn>>();
    const uint64_t id = list_->add(std::move(fn));
    return {list_, id};
  }
  std::vector<Fn> snapshot() const { return list_ ? list_->snapshot() : std::vector<Fn>{}; }
  std::weak_ptr<HookList<Fn>> weak() const { return list_; }

 private:
  std::shared_ptr<HookList<Fn>> list_;
};

}  // namespace detail

class HookHandle {
 public:
  HookHandle() = default;  // refers to no hook
  HookHandle(std::weak_ptr<detail::HookListBase> list, uint64_t id)
      : list_(std::move(list)), id_(id) {}
  explicit HookHandle(std::pair<std::weak_ptr<detail::HookListBase>, uint64_t> added)
      : HookHandle(std::move(added.first), added.second) {}
  HookHandle(const HookHandle&) = delete;
  HookHandle& operator=(const HookHandle&) = delete;
  HookHandle(HookHandle&& o) noexcept : list_(std::move(o.list_)), id_(o.id_) { o.list_.reset(); }
  // Removes this handle's hook first.
  HookHandle& operator=(HookHandle&& o) noexcept {
    if (this != &o) {
      remove();
      list_ = std::move(o.list_);
      id_ = o.id_;
      o.list_.reset();
    }
    return *this;
  }
  ~HookHandle() { remove(); }

  // Unregisters the hook; does nothing the second time, after a move or once the owner died.
  void remove() noexcept {
    if (auto list = list_.lock()) list->erase(id_);
    list_.reset();
  }
  // Whether the hook is still registered on a living owner.
  bool active() const {
    auto list = list_.lock();
    return list && list->contains(id_);
  }

 private:
  std::weak_ptr<detail::HookListBase> list_;
  uint64_t id_ = 0;
};

}  // namespace tg
