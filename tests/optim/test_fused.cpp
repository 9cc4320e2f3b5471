// The library's optimizers are StatefulOptimizers: each declares a recipe of the course's stats
// and steppers, and its fused kernel must compute that recipe. These tests run the same
// training twice, fused and with set_fused(false) (the recipe's plain loops), over tensors
// large enough to take the kernels' vector and OpenMP paths, a learning rate that changes
// mid-run, and a parameter that has no gradient on one step, and check parameters and whole
// state dicts (the same keys, values to float rounding), and that a run may switch paths at
// any step.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "autograd/autograd.h"
#include "optim/adam.h"
#include "optim/optimizer.h"
#include "tensor/creation.h"

using namespace tg;
using namespace tg::optim;

namespace {

using Make = std::function<std::unique_ptr<StatefulOptimizer>(const std::vector<Tensor>&)>;

struct Case {
  std::string what;
  Make make;
  std::string recipe;
};

template <typename O, typename Opt>
Make maker(Opt o) {
  return [o](const std::vector<Tensor>& ps) { return std::make_unique<O>(ps, o); };
}

std::vector<Case> cases() {
  const std::string sgd = "l2_reg, momentum_buffer, sgd_momentum_step";
  const std::string adam = "l2_reg, average_grad, average_sqr_grad, step_count, adam_step";
  const std::string adamw = "average_grad, average_sqr_grad, step_count, weight_decay, adam_step";
  const std::string rms = "l2_reg, average_sqr_grad, centered_grad_avg, step_count, rmsprop_step";
  const std::string lamb = "average_grad, average_sqr_grad, step_count, lamb_step";
  return {
      {"SGD", maker<SGD>(SGDOptions{.lr = 0.1}), sgd},
      {"SGD momentum", maker<SGD>(SGDOptions{.lr = 0.1, .momentum = 0.9}), sgd},
      {"SGD momentum dampening decay",
       maker<SGD>(SGDOptions{.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .weight_decay = 1e-2}),
       sgd},
      {"SGD nesterov decay",
       maker<SGD>(SGDOptions{.lr = 0.05, .momentum = 0.8, .weight_decay = 1e-2, .nesterov = true}),
       sgd},
      {"Adam", maker<Adam>(AdamOptions{.lr = 1e-2}), adam},
      {"Adam coupled decay, eps 0.1",
       maker<Adam>(
           AdamOptions{.lr = 1e-2, .beta1 = 0.8, .beta2 = 0.9, .eps = 0.1, .weight_decay = 0.1}),
       adam},
      {"AdamW", maker<AdamW>(AdamWOptions{.lr = 1e-2, .weight_decay = 0.1}), adamw},
      {"RMSprop", maker<RMSprop>(RMSpropOptions{.lr = 1e-2}), rms},
      {"RMSprop centered momentum decay",
       maker<RMSprop>(RMSpropOptions{.lr = 1e-2,
                                     .alpha = 0.9,
                                     .eps = 1e-3,
                                     .weight_decay = 1e-2,
                                     .momentum = 0.9,
                                     .centered = true}),
       rms},
      {"RMSprop momentum", maker<RMSprop>(RMSpropOptions{.lr = 1e-3, .momentum = 0.5}), rms},
      {"LAMB", maker<LAMB>(LAMBOptions{.lr = 1e-2}), lamb},
      {"LAMB decay", maker<LAMB>(LAMBOptions{.lr = 1e-2, .weight_decay = 0.1}), lamb},
  };
}

// A deterministic pseudo-random value in [-1, 1) for (seed, k).
double noise(uint64_t seed, int64_t k) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + uint64_t(k) * 0xBF58476D1CE4E5B9ull + 1;
  x ^= x >> 31;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 29;
  return double(x >> 11) / double(1ull << 52) - 1.0;
}

Tensor filled(const Shape& shape, uint64_t seed, DType dt) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) v[size_t(k)] = noise(seed, k);
  return from_vector<double>(v).reshape(shape).to(dt);
}

// Three parameters: a bias, a small matrix, and one past the kernels' OpenMP threshold.
std::vector<Tensor> make_params(DType dt) {
  return {filled({7}, 1, dt).requires_grad_(), filled({13, 11}, 2, dt).requires_grad_(),
          filled({300, 257}, 3, dt).requires_grad_()};
}

// Step `step`'s gradients; parameter 0 has none on step 2 (it is skipped, its step count stays).
void give_grads(const std::vector<Tensor>& ps, int step) {
  for (size_t i = 0; i < ps.size(); ++i) {
    Tensor p = ps[i];
    if (i == 0 && step == 2) {
      p.set_grad(Tensor());
      continue;
    }
    p.set_grad(filled(p.shape(), 100 + uint64_t(step) * 7 + i, p.dtype()));
  }
}

double tolerance(DType dt) {
  return dt == DType::f64 ? 1e-11 : 2e-5;
}

void check_close(const Tensor& got, const Tensor& want, DType dt, const std::string& what) {
  REQUIRE(got.shape() == want.shape());
  const std::vector<double> g = got.detach().to(DType::f64).to_vector<double>();
  const std::vector<double> w = want.detach().to(DType::f64).to_vector<double>();
  // Relative to the element plus the tensor's root mean square: a buffer that sums terms of
  // both signs (RMSprop's momentum of grad / sqrt(square_avg)) has elements far below the size
  // of the terms, whose rounding the element carries.
  double rms = 0;
  for (double x : w) rms += x * x;
  rms = std::sqrt(rms / double(std::max<size_t>(w.size(), 1)));
  double worst = 0;
  size_t at = 0;
  for (size_t k = 0; k < g.size(); ++k) {
    const double err = std::abs(g[k] - w[k]) / (std::abs(w[k]) + rms + 1e-30);
    if (!(err <= worst)) {
      worst = err;
      at = k;
    }
  }
  CHECK_MESSAGE(worst <= tolerance(dt), what, ": element ", at, " is ", g[at], ", want ", w[at],
                " (relative error ", worst, ")");
}

// Runs `steps` steps of a case; fused_at(step) says which path each step takes. The lr halves
// from step 3 on (a scheduler's change between steps).
struct Run {
  std::vector<Tensor> params;
  std::unique_ptr<StatefulOptimizer> opt;
};
Run run(const Case& c, DType dt, int steps, const std::function<bool(int)>& fused_at) {
  Run r{make_params(dt), nullptr};
  r.opt = c.make(r.params);
  const double lr = r.opt->get("lr");
  for (int s = 0; s < steps; ++s) {
    if (s == 3) r.opt->set("lr", lr / 2);
    give_grads(r.params, s);
    r.opt->set_fused(fused_at(s));
    r.opt->step();
  }
  return r;
}

void check_same(const Run& got, const Run& want, DType dt, const std::string& what) {
  for (size_t i = 0; i < got.params.size(); ++i)
    check_close(got.params[i], want.params[i], dt, what + ", parameter " + std::to_string(i));
  const auto a = got.opt->state_dict(), b = want.opt->state_dict();
  std::vector<std::string> ka, kb;
  for (const auto& [k, v] : a) ka.push_back(k);
  for (const auto& [k, v] : b) kb.push_back(k);
  CHECK_MESSAGE(ka == kb, what, ": the two paths keep different state");
  for (const auto& [k, v] : a)
    if (b.count(k)) {
      CHECK_MESSAGE(v.dtype() == b.at(k).dtype(), what, ": ", k, " dtype differs");
      check_close(v, b.at(k), dt, what + ", " + k);
    }
}

}  // namespace

TEST_CASE("each library optimizer's fused kernel computes its recipe, state dict included") {
  for (const Case& c : cases())
    for (DType dt : {DType::f32, DType::f64}) {
      const std::string what = c.what + " " + dtype_name(dt);
      CAPTURE(what);
      const Run fused = run(c, dt, 6, [](int) { return true; });
      const Run recipe = run(c, dt, 6, [](int) { return false; });
      CHECK(fused.opt->recipe() == c.recipe);
      CHECK(fused.opt->has_fused());
      check_same(recipe, fused, dt, what + " (recipe against fused)");
      // Switching paths mid-run: the state one path left is the state the other continues.
      const Run mixed = run(c, dt, 6, [](int s) { return s % 2 == 1; });
      check_same(mixed, fused, dt, what + " (alternating paths against fused)");
      // The parameters moved at all (a step that did nothing would pass the comparisons).
      const std::vector<Tensor> start = make_params(dt);
      for (size_t i = 0; i < start.size(); ++i)
        CHECK_MESSAGE(fused.params[i].detach().to_vector<double>() != start[i].to_vector<double>(),
                      what, ": parameter ", i, " did not move");
    }
}

TEST_CASE("the recipe path leaves the gradient as backward made it (l2_reg works on a copy)") {
  Tensor p = tensor({1.0, -2.0}).requires_grad_();
  SGD opt({p}, {.lr = 0.1, .weight_decay = 0.5});
  opt.set_fused(false);
  p.set_grad(tensor({0.5, 1.0}));
  opt.step();
  CHECK(p.grad().to_vector<float>() == std::vector<float>{0.5f, 1.0f});
  // p - lr * (g + wd * p) = [1 - 0.1 * 1, -2 - 0.1 * 0]
  CHECK(p.detach().to_vector<float>()[0] == doctest::Approx(0.9));
  CHECK(p.detach().to_vector<float>()[1] == doctest::Approx(-2.0));
}

TEST_CASE("set_fused: a recipe without a kernel refuses it, and a captured step needs the kernel") {
  Tensor p = tensor({1.0, -2.0}).requires_grad_();
  StatefulOptimizer plain("mine", {p}, {sgd_step()});
  CHECK_FALSE(plain.has_fused());
  CHECK_FALSE(plain.fused());
  CHECK_THROWS_WITH_AS(plain.set_fused(true),
                       "mine: has no fused kernel: its recipe (sgd_step) runs as plain loops only",
                       tg::Error);
  plain.set_fused(false);
  SGD sgd({p}, {.lr = 0.1, .momentum = 0.9});
  CHECK(sgd.fused());
  CHECK(sgd.capturable());
  sgd.set_fused(false);
  CHECK_FALSE(sgd.capturable());
  Adam adam({p});
  adam.set_fused(false);
  CHECK_FALSE(adam.capturable());
  CHECK(adam.name() == "Adam");
  CHECK(AdamW({p}).name() == "AdamW");
}
