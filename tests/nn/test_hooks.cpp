// nn/hooks.h, Module::register_forward_hook: hooks fire after forward with its input and
// output, in registration order, and go away through their handle, its destruction or the
// module's; the Hooks helper; ActivationStats against figures worked out by hand.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "../learner/learner_fixture.h"
#include "autograd/functions.h"
#include "autograd/tape.h"
#include "base/error.h"
#include "nn/nn.h"
#include "tensor/creation.h"

using namespace tg;

namespace {

// Doubles its input; counts forwards, so a hook's call count can be told from forward's.
struct Twice : nn::Module {
  int forwards = 0;
  Tensor forward(const Tensor& x) override {
    ++forwards;
    return mul(x, 2.0);
  }
};

}  // namespace

TEST_CASE("forward hook: called after forward with the module, its input and its output") {
  Twice m;
  std::vector<float> seen_in, seen_out;
  int calls = 0, forwards_at_call = -1;
  nn::Module* who = nullptr;
  auto h = m.register_forward_hook([&](nn::Module& mod, const Tensor& in, const Tensor& out) {
    ++calls;
    who = &mod;
    forwards_at_call = m.forwards;
    seen_in = in.to_vector<float>();
    seen_out = out.to_vector<float>();
  });
  Tensor x = tensor({1, -2, 3});
  Tensor y = m(x);
  CHECK(calls == 1);
  CHECK(who == &m);
  CHECK(forwards_at_call == 1);  // after forward, not before
  CHECK(seen_in == std::vector<float>{1, -2, 3});
  CHECK(seen_out == std::vector<float>{2, -4, 6});
  CHECK(y.to_vector<float>() == seen_out);
  m(x);
  CHECK(calls == 2);
  // forward() itself, called directly, runs no hooks (as module.forward in PyTorch).
  m.forward(x);
  CHECK(calls == 2);
  CHECK(h.active());
}

TEST_CASE("forward hook: the output the hook sees is the tensor the caller gets") {
  Twice m;
  const TensorImpl* hooked = nullptr;
  auto h = m.register_forward_hook(
      [&](nn::Module&, const Tensor&, const Tensor& out) { hooked = out.impl(); });
  Tensor y = m(tensor({1, 2}));
  CHECK(hooked == y.impl());
}

TEST_CASE("forward hook: hooks run in registration order") {
  Twice m;
  std::string order;
  auto a =
      m.register_forward_hook([&](nn::Module&, const Tensor&, const Tensor&) { order += "a"; });
  auto b =
      m.register_forward_hook([&](nn::Module&, const Tensor&, const Tensor&) { order += "b"; });
  auto c =
      m.register_forward_hook([&](nn::Module&, const Tensor&, const Tensor&) { order += "c"; });
  m(tensor({1}));
  CHECK(order == "abc");
  b.remove();
  auto d =
      m.register_forward_hook([&](nn::Module&, const Tensor&, const Tensor&) { order += "d"; });
  order.clear();
  m(tensor({1}));
  CHECK(order == "acd");
}

TEST_CASE("forward hook: remove() and the handle's destruction unregister it") {
  Twice m;
  int calls = 0;
  auto count = [&](nn::Module&, const Tensor&, const Tensor&) { ++calls; };
  auto h = m.register_forward_hook(count);
  m(tensor({1}));
  CHECK(calls == 1);
  h.remove();
  CHECK_FALSE(h.active());
  m(tensor({1}));
  CHECK(calls == 1);
  h.remove();  // a second time: nothing
  {
    auto scoped = m.register_forward_hook(count);
    m(tensor({1}));
    CHECK(calls == 2);
  }
  m(tensor({1}));
  CHECK(calls == 2);
}

TEST_CASE("forward hook: a moved handle owns the hook, assigning over a handle removes its hook") {
  Twice m;
  int a = 0, b = 0;
  nn::HookHandle h =
      m.register_forward_hook([&](nn::Module&, const Tensor&, const Tensor&) { ++a; });
  nn::HookHandle moved = std::move(h);
  h.remove();  // the moved-from handle refers to nothing
  m(tensor({1}));
  CHECK(a == 1);
  CHECK(moved.active());
  moved = m.register_forward_hook([&](nn::Module&, const Tensor&, const Tensor&) { ++b; });
  m(tensor({1}));
  CHECK(a == 1);  // the first hook went with the assignment
  CHECK(b == 1);
  std::vector<nn::HookHandle> many;
  for (int i = 0; i < 3; ++i)
    many.push_back(
        m.register_forward_hook([&](nn::Module&, const Tensor&, const Tensor&) { ++a; }));
  m(tensor({1}));
  CHECK(a == 4);
  many.clear();
  m(tensor({1}));
  CHECK(a == 4);
  CHECK(b == 3);
}

TEST_CASE("forward hook: a handle outliving its module is safe to remove and destroy") {
  nn::HookHandle h;
  CHECK_FALSE(h.active());
  h.remove();  // a default handle: nothing
  {
    auto m = std::make_shared<Twice>();
    h = m->register_forward_hook([](nn::Module&, const Tensor&, const Tensor&) {});
    CHECK(h.active());
  }
  CHECK_FALSE(h.active());
  h.remove();
}  // and its destructor after the module's

TEST_CASE("forward hook: a hook removing itself still ran this forward and not the next") {
  Twice m;
  int calls = 0, other = 0;
  nn::HookHandle self;
  self = m.register_forward_hook([&](nn::Module&, const Tensor&, const Tensor&) {
    ++calls;
    self.remove();
  });
  auto h2 = m.register_forward_hook([&](nn::Module&, const Tensor&, const Tensor&) { ++other; });
  m(tensor({1}));
  m(tensor({1}));
  CHECK(calls == 1);
  CHECK(other == 2);
}

TEST_CASE("forward hook: a copied module has none of the original's hooks") {
  nn::ReLU a;
  int calls = 0;
  auto h = a.register_forward_hook([&](nn::Module&, const Tensor&, const Tensor&) { ++calls; });
  nn::ReLU b = a;
  b(tensor({1}));
  CHECK(calls == 0);
  a(tensor({1}));
  CHECK(calls == 1);
  CHECK_THROWS_AS(a.register_forward_hook(nullptr), Error);
}

TEST_CASE("forward hook: fires on a child inside a Sequential, with the child's own input") {
  Generator gen(1);
  auto model = nn::mlp({3, 4, 2}, gen);  // Linear, ReLU, Linear
  std::vector<float> relu_in, relu_out;
  auto h = (*model)[1].register_forward_hook([&](nn::Module&, const Tensor& in, const Tensor& out) {
    relu_in = in.to_vector<float>();
    relu_out = out.to_vector<float>();
  });
  Tensor x = randn({2, 3}, gen);
  Tensor first = (*model)[0](x);
  (*model)(x);
  REQUIRE(relu_in.size() == 8);
  CHECK(relu_in == first.to_vector<float>());
  for (size_t i = 0; i < relu_in.size(); ++i) CHECK(relu_out[i] == std::max(relu_in[i], 0.0f));
}

TEST_CASE("Hooks: one hook per child, told its index, all removed on destruction") {
  Generator gen(1);
  auto model = nn::mlp({3, 4, 4, 2}, gen);  // 5 layers
  std::vector<size_t> fired;
  std::vector<int64_t> widths;
  {
    nn::Hooks hooks(*model, [&](size_t i, nn::Module&, const Tensor&, const Tensor& out) {
      fired.push_back(i);
      widths.push_back(out.shape()[1]);
    });
    CHECK(hooks.size() == 5);
    (*model)(randn({2, 3}, gen));
    CHECK(fired == std::vector<size_t>{0, 1, 2, 3, 4});
    CHECK(widths == std::vector<int64_t>{4, 4, 4, 4, 2});
  }
  (*model)(randn({2, 3}, gen));
  CHECK(fired.size() == 5);

  nn::Hooks some({model->named_children()[2].second, model->named_children()[4].second},
                 [&](size_t i, nn::Module& m, const Tensor&, const Tensor&) {
                   fired.push_back(i);
                   CHECK(&m == &(*model)[i == 0 ? 2 : 4]);
                 });
  (*model)(randn({2, 3}, gen));
  CHECK(fired == std::vector<size_t>{0, 1, 2, 3, 4, 0, 1});
  some.remove();
  (*model)(randn({2, 3}, gen));
  CHECK(fired.size() == 7);
  CHECK_THROWS_AS(nn::Hooks({nullptr}, [](size_t, nn::Module&, const Tensor&, const Tensor&) {}),
                  Error);
}

TEST_CASE("Hooks: outliving the model is safe") {
  std::unique_ptr<nn::Hooks> hooks;
  {
    Generator gen(1);
    auto model = nn::mlp({3, 4, 2}, gen);
    hooks = std::make_unique<nn::Hooks>(*model,
                                        [](size_t, nn::Module&, const Tensor&, const Tensor&) {});
    CHECK(hooks->size() == 3);
  }
  hooks->remove();
  hooks.reset();
}

TEST_CASE("ActivationStats: mean, unbiased std and near-zero fraction of a known output") {
  // Identity layers, so the output is the input: x = {-1, 0, 0.25, 2, 3.75, 1} (6 values).
  // mean = 6 / 6 = 1; deviations -2, -1, -0.75, 1, 2.75, 0: squares 4 + 1 + 0.5625 + 1 +
  // 7.5625 + 0 = 14.125; unbiased variance 14.125 / 5 = 2.825.
  // |x| < 0.5: 0 and 0.25, 2 of 6; |x| < 1.5 (the second stats): also -1 and 1, 4 of 6.
  auto id = [] { return std::make_shared<nn::Lambda>([](const Tensor& x) { return x; }, "id"); };
  nn::Sequential model({id(), std::make_shared<Twice>()});
  nn::ActivationStats stats(model);
  nn::ActivationStats wide(model, 1.5);
  CHECK(stats.eps() == 0.5);
  CHECK(stats.layers() == 2);
  Tensor x = from_vector<float>({-1, 0, 0.25f, 2, 3.75f, 1}, {2, 3});
  model(x);
  REQUIRE(stats.means()[0].size() == 1);
  CHECK(stats.means()[0][0] == doctest::Approx(1.0).epsilon(1e-12));
  CHECK(stats.stds()[0][0] == doctest::Approx(std::sqrt(2.825)).epsilon(1e-12));
  CHECK(stats.near_zero()[0][0] == doctest::Approx(2.0 / 6));
  CHECK(wide.near_zero()[0][0] == doctest::Approx(4.0 / 6));
  // Layer 1 doubles: mean 2, std 2 * sqrt(2.825); |2x| < 0.5 only for 0.
  CHECK(stats.means()[1][0] == doctest::Approx(2.0).epsilon(1e-12));
  CHECK(stats.stds()[1][0] == doctest::Approx(2 * std::sqrt(2.825)).epsilon(1e-12));
  CHECK(stats.near_zero()[1][0] == doctest::Approx(1.0 / 6));

  // One entry per call, appended.
  model(from_vector<float>({5, 5}, {2}));
  REQUIRE(stats.means()[0].size() == 2);
  CHECK(stats.means()[0][1] == 5.0);
  CHECK(stats.stds()[0][1] == 0.0);
  CHECK(stats.near_zero()[0][1] == 0.0);
  // A one-element output has no unbiased std: NaN, as torch.tensor([5.]).std().
  model(tensor({5}));
  CHECK(std::isnan(stats.stds()[0][2]));

  stats.clear();
  CHECK(stats.means()[0].empty());
  model(x);
  CHECK(stats.means()[0].size() == 1);
  stats.remove();
  model(x);
  CHECK(stats.means()[0].size() == 1);
  CHECK(wide.means()[0].size() == 5);
  CHECK_THROWS_AS(nn::ActivationStats(model, -1.0), Error);
}

TEST_CASE("histc: torch.histc's bins, the top edge in the last bin, outside values dropped") {
  // 4 bins over [0, 2], width 0.5: [0, .5) [.5, 1) [1, 1.5) [1.5, 2]. 0 and 0.49 -> bin 0; 0.5
  // -> bin 1; 1.25 -> bin 2; 1.5 and 2 (the top edge) -> bin 3; -0.1, 2.01 and NaN not counted.
  const double nan = std::nan("");
  const std::vector<double> v = {0, 0.49, 0.5, 1.25, 1.5, 2, -0.1, 2.01, nan};
  CHECK(nn::histc(v, 4, 0, 2) == std::vector<int64_t>{2, 1, 1, 2});
  // An offset range: 2 bins over [-1, 1]: -1 and -0.5 -> bin 0, 0 and 1 -> bin 1.
  CHECK(nn::histc(std::vector<double>{-1, -0.5, 0, 1}, 2, -1, 1) == std::vector<int64_t>{2, 2});
  CHECK(nn::histc(std::vector<double>{}, 3, 0, 1) == std::vector<int64_t>{0, 0, 0});
  CHECK_THROWS_AS(nn::histc(v, 0, 0, 1), Error);
  CHECK_THROWS_AS(nn::histc(v, 4, 1, 1), Error);
  CHECK_THROWS_AS(nn::histc(v, 4, 0, nan), Error);
}

TEST_CASE("ActivationStats: the histogram of |x| per forward, 40 bins over 0 to 10 as the course") {
  // x = {-1, 0, 0.25, 2, 3.75, 1, -10, 12}: |x| = 1, 0, 0.25, 2, 3.75, 1, 10, 12. Bins of
  // width 0.25: 0 -> 0; 0.25 -> 1; 1 (twice) -> 4; 2 -> 8; 3.75 -> 15; 10 (the top edge) -> 39;
  // 12 is outside [0, 10] and not counted: 7 of the 8 values.
  auto id = [] { return std::make_shared<nn::Lambda>([](const Tensor& x) { return x; }, "id"); };
  nn::Sequential model({id(), std::make_shared<Twice>()});
  nn::ActivationStats stats(model);
  CHECK(stats.histogram_range().bins == 40);
  model(from_vector<float>({-1, 0, 0.25f, 2, 3.75f, 1, -10, 12}, {2, 4}));
  REQUIRE(stats.histograms()[0].size() == 1);
  std::vector<int64_t> want(40, 0);
  want[0] = 1, want[1] = 1, want[4] = 2, want[8] = 1, want[15] = 1, want[39] = 1;
  CHECK(stats.histograms()[0][0] == want);
  // Layer 1 doubles: |2x| = 2, 0, 0.5, 4, 7.5, 2, 20, 24: bins 8 (twice), 0, 2, 16, 30; 20 and
  // 24 are outside.
  std::vector<int64_t> want2(40, 0);
  want2[0] = 1, want2[2] = 1, want2[8] = 2, want2[16] = 1, want2[30] = 1;
  CHECK(stats.histograms()[1][0] == want2);

  // Another range and a second forward: 2 bins over [0, 1] of |x| = 0.1, 0.6, 1, 3.
  nn::ActivationStats coarse(model, 0.5, {.bins = 2, .lo = 0, .hi = 1});
  model(from_vector<float>({0.1f, -0.6f, 1, 3}, {4}));
  REQUIRE(coarse.histograms()[0].size() == 1);
  CHECK(coarse.histograms()[0][0] == std::vector<int64_t>{1, 2});
  CHECK(stats.histograms()[0].size() == 2);
  CHECK(stats.histograms()[0][1][2] == 1);  // 0.6 -> bin 2
  stats.clear();
  CHECK(stats.histograms()[0].empty());

  // bins = 0 keeps no histograms, the other figures still.
  nn::ActivationStats none(model, 0.5, {.bins = 0});
  model(from_vector<float>({1, 2}, {2}));
  CHECK(none.histograms()[0].empty());
  CHECK(none.means()[0].size() == 1);
  CHECK_THROWS_AS(nn::ActivationStats(model, 0.5, {.bins = -1}), Error);
  CHECK_THROWS_AS(nn::ActivationStats(model, 0.5, {.bins = 4, .lo = 2, .hi = 1}), Error);
}

TEST_CASE("ActivationStats: a moved ActivationStats keeps recording") {
  Generator gen(2);
  auto model = nn::mlp({3, 4, 2}, gen);
  auto make = [&] { return nn::ActivationStats(*model, 0.1); };
  nn::ActivationStats stats = make();
  (*model)(randn({4, 3}, gen));
  nn::ActivationStats moved = std::move(stats);
  (*model)(randn({4, 3}, gen));
  CHECK(moved.means()[2].size() == 2);
  // ReLU's output is never negative, so its mean is too.
  CHECK(moved.means()[1][0] >= 0);
}

TEST_CASE("ActivationStats: set before a tiny fit, one entry per training and validation batch") {
  // tiny_learner: 4 training examples in batches of 2, 2 validation examples in one batch;
  // 3 epochs: 6 training and 3 validation forwards of the 4-8-3 MLP.
  auto learn = test::tiny_learner();
  nn::ActivationStats stats(*learn->model);
  int train_calls = 0, valid_calls = 0;
  auto h = (*std::dynamic_pointer_cast<nn::Sequential>(learn->model))[0].register_forward_hook(
      [&](nn::Module& m, const Tensor&, const Tensor&) {
        ++(m.is_training() ? train_calls : valid_calls);
      });
  learn->fit(3);
  CHECK(train_calls == 6);
  CHECK(valid_calls == 3);
  REQUIRE(stats.layers() == 3);
  for (size_t i = 0; i < 3; ++i) {
    CHECK(stats.means()[i].size() == 9);
    CHECK(stats.stds()[i].size() == 9);
    CHECK(stats.near_zero()[i].size() == 9);
    for (double s : stats.stds()[i]) CHECK(std::isfinite(s));
  }
  for (double f : stats.near_zero()[1]) CHECK((f >= 0 && f <= 1));
  // After the hooks are gone the model trains on without recording.
  stats.remove();
  h.remove();
  learn->fit(1);
  CHECK(stats.means()[0].size() == 9);
  CHECK(train_calls == 6);
}

TEST_CASE("backward hook: called in backward with the gradient of the module's output") {
  // y = Twice(x) = 2x, loss = sum(3y): the hook sees dloss/dy = {3, 3}; x.grad = 6.
  Twice m;
  Tensor x = from_vector<float>({1, 2}, {2}).requires_grad_();
  std::vector<std::vector<float>> seen;
  nn::Module* who = nullptr;
  nn::HookHandle h = m.register_backward_hook([&](nn::Module& mod, const Tensor& g) {
    who = &mod;
    seen.push_back(g.to_vector<float>());
  });
  Tensor y = m(x);
  CHECK(seen.empty());  // nothing in forward
  backward(sum(y * 3.0));
  CHECK(who == &m);
  CHECK(seen == std::vector<std::vector<float>>{{3, 3}});
  CHECK(x.grad().to_vector<float>() == std::vector<float>{6, 6});
}

TEST_CASE("backward hook: once per forward, last layer first, removed by its handle") {
  // Two forwards into one loss: two calls, the second forward's (weight 5) seen first.
  Twice m;
  Tensor x = from_vector<float>({1}, {1}).requires_grad_();
  std::vector<float> seen;
  auto h = m.register_backward_hook(
      [&](nn::Module&, const Tensor& g) { seen.push_back(g.item<float>()); });
  Tensor first = sum(m(x) * 4.0);  // in two statements: the order of forwards is fixed
  Tensor second = sum(m(x) * 5.0);
  backward(first + second);
  CHECK(seen == std::vector<float>{5, 4});
  // In a Sequential, the later child's hook runs first.
  auto a = std::make_shared<Twice>(), b = std::make_shared<Twice>();
  nn::Sequential seq({a, b});
  std::vector<std::string> order;
  auto ha = a->register_backward_hook([&](nn::Module&, const Tensor&) { order.push_back("a"); });
  auto hb = b->register_backward_hook([&](nn::Module&, const Tensor&) { order.push_back("b"); });
  backward(sum(seq(x)));
  CHECK(order == std::vector<std::string>{"b", "a"});
  // Removed: a forward before the removal no longer calls it either.
  seen.clear();
  Tensor y = m(x);
  h.remove();
  CHECK_FALSE(h.active());
  backward(sum(y));
  CHECK(seen.empty());
  // No hook, no gradient of the output: a forward without grad is not watched.
  auto h2 = m.register_backward_hook([&](nn::Module&, const Tensor&) { seen.push_back(1); });
  Tensor plain = m(from_vector<float>({1}, {1}));
  CHECK_FALSE(plain.requires_grad());
  CHECK_THROWS_AS(m.register_backward_hook(nn::BackwardHook()), Error);
}

TEST_CASE("backward hook: the module dying before backward is safe") {
  Tensor x = from_vector<float>({1}, {1}).requires_grad_();
  int calls = 0;
  Tensor y;
  nn::HookHandle h;
  {
    auto m = std::make_shared<Twice>();
    h = m->register_backward_hook([&](nn::Module&, const Tensor&) { ++calls; });
    y = (*m)(x);
  }
  backward(sum(y));
  CHECK(calls == 0);
  CHECK(x.grad().item<float>() == 2);
  CHECK_FALSE(h.active());
}
