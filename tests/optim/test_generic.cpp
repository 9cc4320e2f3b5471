// The course's generic optimizer (optim/generic.h): its recipes against hand computation from
// the documented updates, against the fused SGD, its state dict, and its errors. Expected values
// were computed in double with the update formulas written out independently (torch.optim.AdamW's
// and the course's lamb_step), starting from p = [1, -2], grads [0.5, 1] then [0.25, -0.5].
#include <doctest/doctest.h>

#include <vector>

#include "autograd/autograd.h"
#include "optim/generic.h"
#include "optim/optimizer.h"
#include "tensor/creation.h"

using namespace tg;
using namespace tg::optim;

namespace {

Tensor param(double a, double b, DType dt = DType::f32) {
  return tensor({a, b}, dt).requires_grad_();
}
void give_grad(const Tensor& p, std::initializer_list<double> g) {
  Tensor t = p;
  t.set_grad(tensor(g, p.dtype()));
}
void check_values(const Tensor& t, const std::vector<double>& want, double eps = 1e-6) {
  std::vector<double> got = t.detach().to(DType::f64).to_vector<double>();
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i)
    CHECK_MESSAGE(got[i] == doctest::Approx(want[i]).epsilon(eps), "element ", i);
}

}  // namespace

TEST_CASE("adam_opt with weight decay is torch.optim.AdamW: bias correction, eps outside sqrt") {
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor p = param(1, -2, dt);
    auto opt = adam_opt(
        {p},
        {{"lr", 0.1}, {"momentum", 0.9}, {"sqr_mom", 0.99}, {"eps", 1e-5}, {"weight_decay", 0.1}});
    CHECK(opt.name() == "adam_opt");
    give_grad(p, {0.5, 1});
    opt.step();
    check_values(p, {0.890002, -2.079999});
    give_grad(p, {0.25, -0.5});
    opt.step();
    check_values(p, {0.787759545, -2.08586862});
  }
}

TEST_CASE("lamb_opt is the course's lamb_step: the trust ratio, clipped at 10") {
  Tensor p = param(1, -2, DType::f64);
  auto opt = lamb_opt({p}, {{"lr", 0.1}, {"weight_decay", 0.01}});
  CHECK(opt.get("eps") == 1e-6);  // lamb_step's default
  give_grad(p, {0.5, 1});
  opt.step();
  check_values(p, {0.8395208, -2.15571264});
  give_grad(p, {0.25, -0.5});
  opt.step();
  check_values(p, {0.615638476, -2.21398464});

  // Large weights against a unit step: |p| / |s| = 158, clipped to 10.
  Tensor big = param(100, -200, DType::f64);
  auto clipped = lamb_opt({big}, {{"lr", 0.1}});
  give_grad(big, {0.5, 1});
  clipped.step();
  check_values(big, {99.000002, -200.999999});
}

TEST_CASE("momentum_opt and sgd_opt follow the fused SGD (l2_reg is coupled decay)") {
  const std::vector<std::vector<double>> grads{{0.5, 1}, {0.25, -0.5}, {-1, 2}};
  SUBCASE("momentum") {
    Tensor a = param(1, -2), b = param(1, -2);
    auto generic = momentum_opt({a}, {{"lr", 0.1}, {"momentum", 0.9}});
    SGD fused({b}, {.lr = 0.1, .momentum = 0.9});
    for (const auto& g : grads) {
      give_grad(a, {g[0], g[1]});
      give_grad(b, {g[0], g[1]});
      generic.step();
      fused.step();
      check_values(a, b.to_vector<double>());
    }
  }
  SUBCASE("coupled weight decay into the momentum: l2_reg runs before the stats") {
    Tensor a = param(1, -2), b = param(1, -2);
    StatefulOptimizer generic("sgd_l2", {a}, {momentum_step(), l2_reg()}, {average_grad()},
                              {{"lr", 0.1}, {"momentum", 0.9}, {"weight_decay", 0.1}});
    SGD fused({b}, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.1});
    for (const auto& g : grads) {
      give_grad(a, {g[0], g[1]});
      give_grad(b, {g[0], g[1]});
      generic.step();
      fused.step();
      check_values(a, b.to_vector<double>());
    }
  }
  SUBCASE("plain SGD with decoupled decay: the same step as coupled decay without momentum") {
    Tensor a = param(1, -2), b = param(1, -2);
    auto generic = sgd_opt({a}, {{"lr", 0.1}, {"weight_decay", 0.1}});
    SGD fused({b}, {.lr = 0.1, .weight_decay = 0.1});
    for (const auto& g : grads) {
      give_grad(a, {g[0], g[1]});
      give_grad(b, {g[0], g[1]});
      generic.step();
      fused.step();
      check_values(a, b.to_vector<double>());
    }
  }
}

TEST_CASE("the generic optimizer's hyper-parameters are schedulable and its state round-trips") {
  Tensor p = param(1, -2);
  auto opt = adam_opt({p}, {{"lr", 0.1}});
  CHECK(opt.hyper_names() ==
        std::vector<std::string>{"lr", "momentum", "sqr_mom", "weight_decay", "eps"});
  give_grad(p, {0.5, 1});
  opt.step();
  give_grad(p, {0.25, -0.5});
  opt.step();
  const auto saved = opt.state_dict();
  CHECK(saved.count("state.0.0.grad_avg"));
  CHECK(saved.count("state.0.0.sqr_avg"));
  CHECK(saved.at("state.0.0.step").item<double>() == 2);

  // A fresh optimizer given the state takes the same next step as the original.
  Tensor q = p.detach().clone().requires_grad_();
  auto restored = adam_opt({q}, {{"lr", 0.1}});
  restored.load_state_dict(saved);
  give_grad(p, {-1, 2});
  give_grad(q, {-1, 2});
  opt.step();
  restored.step();
  CHECK(p.to_vector<float>() == q.to_vector<float>());

  // A schedule's change applies to the next step: lr 0 leaves the weights.
  opt.set("lr", 0.0);
  const auto before = p.to_vector<float>();
  give_grad(p, {3, 3});
  opt.step();
  CHECK(p.to_vector<float>() == before);
}

TEST_CASE("the generic optimizer names what is wrong") {
  Tensor p = param(1, -2);
  CHECK_THROWS_WITH_AS(adam_opt({p}, {{"betas", 0.9}}),
                       doctest::Contains("no stat or stepper reads the hyper-parameter 'betas'"),
                       Error);
  CHECK_THROWS_WITH_AS(StatefulOptimizer("broken", {p}, {adam_step()}, {average_grad(true)}),
                       doctest::Contains("adam_step needs the state 'sqr_avg'"), Error);
  auto opt = adam_opt({p});
  CHECK_THROWS_WITH_AS(opt.set("momentum", 1.0), doctest::Contains("must be in [0, 1)"), Error);
  CHECK_THROWS_WITH_AS(opt.set("lr", -1.0), doctest::Contains("invalid lr"), Error);
  CHECK(opt.get("momentum") == doctest::Approx(0.9));  // a rejected value changes nothing
  // A parameter without a gradient is skipped.
  opt.step();
  CHECK(p.to_vector<float>() == std::vector<float>{1, -2});
}
