// Gradient hooks on tensors (autograd/hooks.h): when they run and with what, replacement,
// order, removal through the handle, leaves summed before their hook, errors.
#include <doctest/doctest.h>

#include <vector>

#include "autograd/autograd.h"
#include "autograd/hooks.h"
#include "grad_test_util.h"
#include "tensor/creation.h"
#include "tensor/ops.h"
#include "test_util.h"

using namespace tg;
using tg::test::vals;

TEST_CASE("grad hook: an intermediate's hook sees its whole gradient before its node runs") {
  // y = x * x (x = 3), used twice: z = y * 2 + y. dz/dy = 3, so the hook sees 3 once (not 2
  // and 1), and dz/dx = 3 * 2x = 18.
  Tensor x = tensor({3}).requires_grad_();
  Tensor y = x * x;
  std::vector<std::vector<float>> seen;
  HookHandle h = register_hook(y, [&](const Tensor& g) {
    seen.push_back(vals(g));
    return Tensor();
  });
  CHECK(h.active());
  Tensor z = sum(y * 2.0 + y);
  backward(z);
  CHECK(seen == std::vector<std::vector<float>>{{3}});
  CHECK(vals(x.grad()) == std::vector<float>{18});
}

TEST_CASE("grad hook: a returned tensor replaces the gradient downstream") {
  // y = 2x (x = {1, 2}), loss = sum(y): dloss/dy = {1, 1}; the hook makes it {10, -1}, so
  // dloss/dx = 2 * {10, -1}.
  Tensor x = tensor({1, 2}).requires_grad_();
  Tensor y = x * 2.0;
  HookHandle h = register_hook(y, [](const Tensor& g) { return g * tensor({10, -1}); });
  backward(sum(y));
  CHECK(vals(x.grad()) == std::vector<float>{20, -2});
}

TEST_CASE("grad hook: hooks run in registration order, each on the previous result") {
  Tensor x = tensor({1}).requires_grad_();
  Tensor y = x * 5.0;
  std::vector<int> order;
  HookHandle a = register_hook(y, [&](const Tensor& g) {
    order.push_back(1);
    return g + 1.0;  // 1 -> 2
  });
  HookHandle b = register_hook(y, [&](const Tensor& g) {
    order.push_back(2);
    CHECK(g.item<float>() == 2);
    return g * 3.0;  // 2 -> 6
  });
  backward(sum(y));
  CHECK(order == std::vector<int>{1, 2});
  CHECK(vals(x.grad()) == std::vector<float>{30});  // 6 * 5
}

TEST_CASE("grad hook: a leaf's hook runs once on this backward's sum, before .grad") {
  // loss = sum(w * a) + sum(w * b): two contributions to w, a and b; the hook sees a + b once.
  // It doubles them; .grad already holds {100} from an earlier backward, which it never sees.
  Tensor w = tensor({1}).requires_grad_();
  backward(sum(w * 100.0));
  CHECK(vals(w.grad()) == std::vector<float>{100});
  std::vector<std::vector<float>> seen;
  HookHandle h = register_hook(w, [&](const Tensor& g) {
    seen.push_back(vals(g));
    return g * 2.0;
  });
  backward(sum(w * 3.0) + sum(w * 4.0));
  CHECK(seen == std::vector<std::vector<float>>{{7}});
  CHECK(vals(w.grad()) == std::vector<float>{114});  // 100 + 2 * 7
  // The root itself a leaf: its hook sees the ones backward starts with.
  Tensor s = tensor({5}).requires_grad_();
  HookHandle hs = register_hook(s, [&](const Tensor& g) { return g * 4.0; });
  backward(s);
  CHECK(vals(s.grad()) == std::vector<float>{4});
}

TEST_CASE("grad hook: removed through its handle, by remove() or destruction") {
  Tensor x = tensor({2}).requires_grad_();
  int calls = 0;
  auto count = [&](const Tensor&) {
    ++calls;
    return Tensor();
  };
  HookHandle h = register_hook(x, count);
  backward(sum(x * 1.0));
  CHECK(calls == 1);
  h.remove();
  CHECK_FALSE(h.active());
  backward(sum(x * 1.0));
  CHECK(calls == 1);
  {
    HookHandle scoped = register_hook(x, count);
    backward(sum(x * 1.0));
    CHECK(calls == 2);
  }
  backward(sum(x * 1.0));
  CHECK(calls == 2);
  // A handle outliving its tensor is safe to remove and destroy.
  HookHandle late;
  {
    Tensor t = tensor({1}).requires_grad_();
    late = register_hook(t, count);
    CHECK(late.active());
  }
  CHECK_FALSE(late.active());
  late.remove();
}

TEST_CASE("grad hook: refused on a tensor without grad, a wrong-shaped replacement is an error") {
  Tensor plain = tensor({1, 2});
  CHECK(test::has(
      test::error_of([&] { register_hook(plain, [](const Tensor&) { return Tensor(); }); }),
      "does not require grad"));
  Tensor x = tensor({1, 2}).requires_grad_();
  CHECK_THROWS_AS(register_hook(x, GradHook()), Error);
  Tensor y = x * 2.0;
  HookHandle h = register_hook(y, [](const Tensor&) { return tensor({1, 2, 3}); });
  CHECK(
      test::has(test::error_of([&] { backward(sum(y)); }), "a hook returned a gradient of shape"));
  tape().clear();
}
