// Gradient hooks: a hook list on the TensorImpl, run by backward() (tape.cpp).
#include "autograd/hooks.h"

#include <memory>
#include <utility>

#include "tensor/dtype.h"

namespace tg {

namespace {

detail::HookList<GradHook>& hooks_of(const Tensor& t, const char* op, const GradHook& hook) {
  TG_CHECK(t.defined(), op, "called on an undefined tensor");
  TG_CHECK(static_cast<bool>(hook), op, "the hook is empty");
  TG_CHECK(t.requires_grad(), op,
           "the tensor does not require grad, so backward never reaches it (call "
           "requires_grad_() on a leaf, or register on an op's output computed with grad on)");
  auto& list = t.impl()->grad_hooks;
  if (!list) list = std::make_shared<detail::HookList<GradHook>>();
  return *list;
}

}  // namespace

HookHandle register_hook(const Tensor& t, GradHook hook) {
  auto& list = hooks_of(t, "register_hook", hook);
  const uint64_t id = list.add(std::move(hook));
  return {std::weak_ptr<detail::HookListBase>(t.impl()->grad_hooks), id};
}

namespace detail {

void add_grad_hook(const Tensor& t, GradHook hook) {
  hooks_of(t, "add_grad_hook", hook).add(std::move(hook));
}

Tensor run_grad_hooks(const TensorImpl& t, Tensor g) {
  if (!t.grad_hooks || t.grad_hooks->hooks.empty()) return g;
  for (const GradHook& hook : t.grad_hooks->snapshot()) {
    Tensor r = hook(g);
    if (!r.defined()) continue;
    TG_CHECK(r.shape() == g.shape() && r.dtype() == g.dtype() && r.device() == g.device(),
             "register_hook", "a hook returned a gradient of shape ", r.shape_str(), " and dtype ",
             dtype_name(r.dtype()), " for one of shape ", g.shape_str(), " and dtype ",
             dtype_name(g.dtype()), " (a replacement must keep both, and the device)");
    g = std::move(r);
  }
  return g;
}

}  // namespace detail

}  // namespace tg
