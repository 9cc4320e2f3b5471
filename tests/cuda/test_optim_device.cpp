// Adam, AdamW, RMSprop and LAMB on CUDA parameters (optim/adam.cpp's device path, one
// multi-tensor launch per group) against the same optimizers on the CPU: parameters of both
// dtypes in one group, several steps with fresh gradients, a parameter without a gradient
// skipped; a state dict taken on the GPU continues the run; and the step captured in a CUDA
// Graph, replayed with a learning rate changed between replays and with the bias correction of
// each replayed step, ends where the eager CPU steps do.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cuda/cuda_test_util.h"
#include "optim/adam.h"
#include "tensor/creation.h"
#include "tensor/cuda.h"
#include "tensor/cuda_graph.h"
#include "tensor/grad_mode.h"

using namespace tg;

namespace {

constexpr Device kCuda = Device::cuda();

double max_rel(const Tensor& got, const Tensor& want) {
  const std::vector<double> a = got.to_vector<double>(), b = want.to_vector<double>();
  if (a.size() != b.size()) return std::numeric_limits<double>::infinity();
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = std::fabs(a[i] - b[i]) / (std::fabs(b[i]) + 1e-6);
    worst = std::isnan(d) ? std::numeric_limits<double>::infinity() : std::max(worst, d);
  }
  return worst;
}

using Make = std::function<std::unique_ptr<optim::Optimizer>(const std::vector<Tensor>&)>;

struct Case {
  std::string name;
  Make make;
};

std::vector<Case> cases() {
  return {
      {"Adam",
       [](const std::vector<Tensor>& p) {
         return std::make_unique<optim::Adam>(p,
                                              optim::AdamOptions{.lr = 0.01, .weight_decay = 0.1});
       }},
      {"AdamW",
       [](const std::vector<Tensor>& p) {
         return std::make_unique<optim::AdamW>(p, optim::AdamWOptions{.lr = 0.01});
       }},
      {"RMSprop centered with momentum",
       [](const std::vector<Tensor>& p) {
         return std::make_unique<optim::RMSprop>(
             p, optim::RMSpropOptions{.lr = 0.01, .momentum = 0.9, .centered = true});
       }},
      {"RMSprop plain",
       [](const std::vector<Tensor>& p) {
         return std::make_unique<optim::RMSprop>(p, optim::RMSpropOptions{.lr = 0.01});
       }},
      {"LAMB",
       [](const std::vector<Tensor>& p) {
         return std::make_unique<optim::LAMB>(p,
                                              optim::LAMBOptions{.lr = 0.02, .weight_decay = 0.1});
       }},
  };
}

// Parameters of both dtypes and odd sizes; the third never gets a gradient.
std::vector<Tensor> make_params(Device dev) {
  Generator gen(5);
  std::vector<Tensor> ps = {randn({3, 5}, gen), randn({7}, gen, DType::f64), randn({4}, gen),
                            randn({1}, gen)};
  for (Tensor& p : ps) {
    p = p.to(dev);
    p.requires_grad_();
  }
  return ps;
}

// The same gradients on both sides for step k; written in place where the parameter already
// has one (a captured step reads the gradients' addresses).
void set_grads(const std::vector<Tensor>& ps, int k) {
  Generator gen(100 + k);
  for (size_t i = 0; i < ps.size(); ++i) {
    if (i == 2) continue;
    const Tensor g = randn(ps[i].shape(), gen, ps[i].dtype());
    Tensor p = ps[i];
    if (p.grad().defined()) {
      NoGrad off;
      p.grad().copy_(g);
    } else {
      p.set_grad(g.to(p.device()));
    }
  }
}

void check_same(const std::vector<Tensor>& gpu, const std::vector<Tensor>& cpu) {
  for (size_t i = 0; i < gpu.size(); ++i) {
    CAPTURE(i);
    CHECK(gpu[i].device() == kCuda);
    CHECK(max_rel(gpu[i], cpu[i]) <= 1e-5);
  }
}

}  // namespace

TEST_CASE("cuda Adam, AdamW, RMSprop and LAMB steps on CUDA parameters match the CPU") {
  TG_SKIP_WITHOUT_CUDA();
  for (const Case& c : cases()) {
    CAPTURE(c.name);
    std::vector<Tensor> pc = make_params(Device::cpu()), pg = make_params(kCuda);
    auto oc = c.make(pc), og = c.make(pg);
    for (int k = 0; k < 3; ++k) {
      set_grads(pc, k);
      set_grads(pg, k);
      oc->step();
      og->step();
    }
    check_same(pg, pc);
    CHECK(max_rel(pg[0], make_params(Device::cpu())[0]) > 1e-3);  // it moved
    CHECK(max_rel(pg[2], make_params(Device::cpu())[2]) == 0);    // no gradient: skipped
    // The state dict of the GPU run continues on a fresh optimizer over fresh parameters.
    const auto sd = og->state_dict();
    CHECK(sd.count("state.0.0.step") == 1);
    CHECK(sd.at("state.0.0.step").to_vector<float>() == std::vector<float>{3});
    std::vector<Tensor> pg2 = make_params(kCuda);
    {
      NoGrad off;
      for (size_t i = 0; i < pg.size(); ++i) pg2[i].copy_(pg[i]);
    }
    auto og2 = c.make(pg2);
    og2->load_state_dict(sd);
    set_grads(pc, 3);
    set_grads(pg2, 3);
    oc->step();
    og2->step();
    check_same(pg2, pc);
    CHECK(og2->state_dict().at("state.0.1.step").to_vector<float>() == std::vector<float>{4});
  }
}

TEST_CASE(
    "cuda Adam, RMSprop and LAMB steps captured in a CUDA Graph follow the lr and the "
    "step count") {
  TG_SKIP_WITHOUT_CUDA();
  for (const Case& c : cases()) {
    CAPTURE(c.name);
    std::vector<Tensor> pc = make_params(Device::cpu()), pg = make_params(kCuda);
    auto oc = c.make(pc), og = c.make(pg);
    CHECK(og->capturable());
    // Two eager steps create the state, then one capture and four replays.
    for (int k = 0; k < 2; ++k) {
      set_grads(pc, k);
      set_grads(pg, k);
      oc->step();
      og->step();
    }
    og->prepare_capture();
    cuda::Graph g;
    g.capture([&] { og->step(); });
    check_same(pg, pc);  // capturing ran nothing
    for (int k = 2; k < 6; ++k) {
      CAPTURE(k);
      const double lr = 0.01 * (k - 1);
      oc->set("lr", lr);
      og->set("lr", lr);
      set_grads(pc, k);
      set_grads(pg, k);
      oc->step();
      og->before_replay();
      g.replay();
      check_same(pg, pc);
    }
    CHECK(og->state_dict().at("state.0.0.step").to_vector<float>() == std::vector<float>{6});
    // An eager step after the replays (the Learner's short last batch) continues the count.
    set_grads(pc, 6);
    set_grads(pg, 6);
    oc->step();
    og->step();
    check_same(pg, pc);
    CHECK(og->state_dict().at("state.0.0.step").to_vector<float>() == std::vector<float>{7});
  }
}

TEST_CASE("cuda Adam refuses to capture a step before the state exists") {
  TG_SKIP_WITHOUT_CUDA();
  std::vector<Tensor> pg = make_params(kCuda);
  optim::Adam opt(pg, {});
  set_grads(pg, 0);
  opt.prepare_capture();
  cuda::Graph g;
  CHECK_THROWS_WITH_AS(g.capture([&] { opt.step(); }),
                       doctest::Contains("run at least one eager step before capturing"),
                       tg::Error);
}

// The guard reaches every adaptive optimizer's kernels: a NaN leaves parameters and state as
// they were (the host's step count still advances, as documented in optim/adam.h); a finite
// value lets the step run.
TEST_CASE("cuda Adam, RMSprop and LAMB skip a step whose non-finite guard is NaN") {
  TG_SKIP_WITHOUT_CUDA();
  for (const Case& c : cases()) {
    CAPTURE(c.name);
    std::vector<Tensor> pg = make_params(kCuda);
    auto og = c.make(pg);
    set_grads(pg, 0);
    og->step();  // creates the state
    const auto before = og->state_dict();
    std::vector<Tensor> p0;
    for (const Tensor& p : pg) p0.push_back(p.detach().to(Device::cpu()));
    Tensor guard = full({1}, std::nan(""), DType::f64, kCuda);
    og->set_nonfinite_guard(guard);
    set_grads(pg, 1);
    og->step();
    for (size_t i = 0; i < pg.size(); ++i) CHECK(max_rel(pg[i], p0[i]) == 0);
    for (const auto& [k, t] : og->state_dict())
      if (k.find(".step") == std::string::npos && k.rfind("state.", 0) == 0)
        CHECK(max_rel(t, before.at(k)) == 0);
    {
      NoGrad off;
      guard.fill_(1.5);
    }
    og->step();
    CHECK(max_rel(pg[0], p0[0]) > 0);
  }
}
