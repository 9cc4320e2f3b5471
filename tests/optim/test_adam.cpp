// Adam, AdamW, RMSprop and LAMB against references written here in double from the documented
// algorithms (the pseudocode of torch.optim's docs, 1.13, and the course's lamb_step), not
// from the kernels' code:
//   Adam:    g += wd * p;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
//            m^ = m / (1-b1^t);  v^ = v / (1-b2^t);  p -= lr m^ / (sqrt(v^) + eps)
//   AdamW:   p *= 1 - lr wd, then Adam's step without the decay in g
//   RMSprop: g += wd * p;  s = a s + (1-a) g^2;  centered: c = a c + (1-a) g, s~ = s - c^2;
//            d = sqrt(s~) + eps;  momentum: b = mu b + g / d, p -= lr b;  else p -= lr g / d
//   LAMB:    m, v as Adam (no decay in g);  u = m^ / (sqrt(v^) + eps) + wd p;
//            r1 = rms(p), r2 = rms(u);  q = (r1 == 0 || r2 == 0) ? 1 : min(r1 / r2, 10);  p -= lr q
//            u
// Large eps values (0.1) make its placement visible: inside or outside the root, before or
// after the bias correction, the numbers differ by far more than float32 rounding.
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
#include "tensor/creation.h"
#include "tensor/storage.h"

using namespace tg;
using optim::Adam;
using optim::AdamW;
using optim::LAMB;
using optim::RMSprop;
using V = std::vector<double>;

namespace {

const V kP0 = {1, -2, 0.5, 3};
const std::vector<V> kGrads = {{0.5, 1, -0.25, 2}, {0.25, -0.5, -1, 1.5}, {-0.75, 0.125, 0.5, 1}};

void check_values(const Tensor& t, const V& want, double eps) {
  V got = t.detach().to(DType::f64).to_vector<double>();
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i)
    CHECK_MESSAGE(got[i] == doctest::Approx(want[i]).epsilon(eps), "element ", i, ": got ", got[i],
                  ", want ", want[i]);
}

Tensor tv(const V& v, DType dt = DType::f32) {
  return from_vector<double>(v).to(dt);
}

void give_grad(const Tensor& p, const V& g) {
  Tensor t = p;
  t.set_grad(tv(g, p.dtype()).reshape(p.shape()));
}

// Runs the optimizer made by `make` over kGrads, checking p after each step against a fresh
// copy of the reference `proto` (which steps its own double copy of p, given the step number
// t >= 1 and the gradient), in float32 and in float64.
// Returns the reference after the float64 run.
template <typename Ref>
Ref check_steps(const std::function<std::unique_ptr<optim::Optimizer>(Tensor)>& make,
                const Ref& proto) {
  Ref last = proto;
  for (DType dt : {DType::f32, DType::f64}) {
    const std::string dtype = dtype_name(dt);
    CAPTURE(dtype);
    last = proto;
    Ref& ref = last;
    Tensor p = tv(kP0, dt).requires_grad_();
    auto opt = make(p);
    V want = kP0;
    for (int t = 1; t <= 3; ++t) {
      CAPTURE(t);
      give_grad(p, kGrads[t - 1]);
      opt->step();
      ref(want, kGrads[t - 1], t);
      check_values(p, want, dt == DType::f32 ? 2e-6 : 1e-12);
    }
  }
  return last;
}

// Adam / AdamW reference in double.
struct RefAdam {
  double lr, b1, b2, eps, wd;
  bool decoupled;
  V m = V(4, 0.0), v = V(4, 0.0);
  void operator()(V& p, const V& grad, int t) {
    for (size_t i = 0; i < p.size(); ++i) {
      double g = grad[i];
      if (decoupled)
        p[i] *= 1 - lr * wd;
      else
        g += wd * p[i];
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      const double mhat = m[i] / (1 - std::pow(b1, t));
      const double vhat = v[i] / (1 - std::pow(b2, t));
      p[i] -= lr * mhat / (std::sqrt(vhat) + eps);
    }
  }
};

struct RefRmsprop {
  double lr, alpha, eps, wd, mu;
  bool centered;
  V s = V(4, 0.0), c = V(4, 0.0), b = V(4, 0.0);
  void operator()(V& p, const V& grad, int) {
    for (size_t i = 0; i < p.size(); ++i) {
      const double g = grad[i] + wd * p[i];
      s[i] = alpha * s[i] + (1 - alpha) * g * g;
      double st = s[i];
      if (centered) {
        c[i] = alpha * c[i] + (1 - alpha) * g;
        st -= c[i] * c[i];
      }
      const double d = std::sqrt(st) + eps;
      if (mu > 0) {
        b[i] = mu * b[i] + g / d;
        p[i] -= lr * b[i];
      } else {
        p[i] -= lr * g / d;
      }
    }
  }
};

struct RefLamb {
  double lr, b1, b2, eps, wd;
  V m = V(4, 0.0), v = V(4, 0.0);
  double last_q = 0;
  void operator()(V& p, const V& grad, int t) {
    const size_t n = p.size();
    V u(n);
    double sp = 0, su = 0;
    for (size_t i = 0; i < n; ++i) {
      m[i] = b1 * m[i] + (1 - b1) * grad[i];
      v[i] = b2 * v[i] + (1 - b2) * grad[i] * grad[i];
      const double mhat = m[i] / (1 - std::pow(b1, t));
      const double vhat = v[i] / (1 - std::pow(b2, t));
      u[i] = mhat / (std::sqrt(vhat) + eps) + wd * p[i];
      sp += p[i] * p[i];
      su += u[i] * u[i];
    }
    const double r1 = std::sqrt(sp / double(n)), r2 = std::sqrt(su / double(n));
    last_q = (r1 == 0 || r2 == 0) ? 1.0 : std::min(r1 / r2, 10.0);
    for (size_t i = 0; i < n; ++i) p[i] -= lr * last_q * u[i];
  }
};

// The per-parameter state of an optimizer, read through its state dict.
Tensor state_of(const optim::Optimizer& opt, const std::string& name) {
  auto sd = opt.state_dict();
  auto it = sd.find("state.0.0." + name);
  return it == sd.end() ? Tensor() : it->second;
}

}  // namespace

TEST_CASE("Adam's first step moves each weight by about lr against its gradient's sign") {
  // m^ = g and v^ = g^2 after one step, so the update is lr * g / (|g| + eps).
  Tensor p = tensor({1, -2}).requires_grad_();
  Adam opt({p}, {.lr = 0.1});
  give_grad(p, {0.5, -1});
  opt.step();
  check_values(p, {0.9, -1.9}, 1e-6);
  CHECK(opt.name() == "Adam");
  CHECK(state_of(opt, "step").item<double>() == 1);
  check_values(state_of(opt, "exp_avg"), {0.05, -0.1}, 1e-6);         // (1 - 0.9) g
  check_values(state_of(opt, "exp_avg_sq"), {0.00025, 0.001}, 1e-6);  // (1 - 0.999) g^2
}

TEST_CASE("Adam: three steps with bias correction, eps after the root, coupled L2 decay") {
  const double lr = 0.1, b1 = 0.8, b2 = 0.9, eps = 0.1, wd = 0.2;
  RefAdam ref{lr, b1, b2, eps, wd, false};
  check_steps(
      [&](Tensor p) {
        return std::make_unique<Adam>(std::vector<Tensor>{p},
                                      optim::AdamOptions{lr, b1, b2, eps, wd});
      },
      ref);
}

TEST_CASE("Adam: the step size follows lr and the betas set between steps") {
  Tensor p = tv(kP0).requires_grad_();
  Adam opt({p}, {.lr = 0.1, .eps = 0.1});
  RefAdam ref{0.1, 0.9, 0.999, 0.1, 0, false};
  V want = kP0;
  for (int t = 1; t <= 3; ++t) {
    give_grad(p, kGrads[t - 1]);
    opt.step();
    ref(want, kGrads[t - 1], t);
    check_values(p, want, 2e-6);
    opt.set("lr", 0.05 * t);
    opt.set("beta1", 0.9 - 0.05 * t);
    ref.lr = 0.05 * t;
    ref.b1 = 0.9 - 0.05 * t;
  }
}

TEST_CASE("AdamW: decoupled decay p *= 1 - lr * wd, differing from Adam's coupled L2") {
  const double lr = 0.1, b1 = 0.8, b2 = 0.9, eps = 0.1, wd = 0.2;
  RefAdam ref{lr, b1, b2, eps, wd, true};
  check_steps(
      [&](Tensor p) {
        return std::make_unique<AdamW>(std::vector<Tensor>{p},
                                       optim::AdamWOptions{lr, b1, b2, eps, wd});
      },
      ref);
  // The two decays give different weights after one step (a test that they differ at all).
  Tensor pa = tv(kP0).requires_grad_(), pw = tv(kP0).requires_grad_();
  Adam a({pa}, {lr, b1, b2, eps, wd});
  AdamW w({pw}, {lr, b1, b2, eps, wd});
  give_grad(pa, kGrads[0]);
  give_grad(pw, kGrads[0]);
  a.step();
  w.step();
  CHECK(std::abs(pa.to_vector<float>()[3] - pw.to_vector<float>()[3]) > 1e-3);
}

TEST_CASE("AdamW: torch's default weight decay 1e-2, and its name") {
  Tensor p = tensor({1}).requires_grad_();
  AdamW opt({p});
  CHECK(opt.name() == "AdamW");
  CHECK(opt.get("weight_decay") == 1e-2);
  CHECK(opt.get("lr") == 1e-3);
  CHECK(opt.get("beta1") == 0.9);
  CHECK(opt.get("beta2") == 0.999);
  CHECK(opt.get("eps") == 1e-8);
  Adam adam({tensor({1}).requires_grad_()});
  CHECK(adam.get("weight_decay") == 0);
}

TEST_CASE("RMSprop: plain, eps outside the root, with weight decay") {
  RefRmsprop ref{0.01, 0.9, 0.1, 0.2, 0, false};
  check_steps(
      [&](Tensor p) {
        return std::make_unique<RMSprop>(
            std::vector<Tensor>{p},
            optim::RMSpropOptions{.lr = 0.01, .alpha = 0.9, .eps = 0.1, .weight_decay = 0.2});
      },
      ref);
}

TEST_CASE("RMSprop: first step by hand") {
  // s = (1 - 0.99) g^2 = 0.01 g^2, so p -= lr g / (0.1 |g| + eps).
  Tensor p = tensor({1, -2}).requires_grad_();
  RMSprop opt({p}, {.lr = 0.01});
  give_grad(p, {0.5, -1});
  opt.step();
  check_values(p, {1 - 0.01 * 0.5 / (0.05 + 1e-8), -2 + 0.01 * 1 / (0.1 + 1e-8)}, 1e-6);
  CHECK(opt.name() == "RMSprop");
}

TEST_CASE("RMSprop: momentum, and centered with momentum") {
  for (bool centered : {false, true}) {
    CAPTURE(centered);
    RefRmsprop ref{0.01, 0.9, 0.1, 0.1, 0.8, centered};
    check_steps(
        [&](Tensor p) {
          return std::make_unique<RMSprop>(std::vector<Tensor>{p},
                                           optim::RMSpropOptions{.lr = 0.01,
                                                                 .alpha = 0.9,
                                                                 .eps = 0.1,
                                                                 .weight_decay = 0.1,
                                                                 .momentum = 0.8,
                                                                 .centered = centered});
        },
        ref);
  }
  RefRmsprop ref{0.01, 0.9, 0.1, 0, 0, true};
  check_steps(
      [&](Tensor p) {
        return std::make_unique<RMSprop>(
            std::vector<Tensor>{p},
            optim::RMSpropOptions{.lr = 0.01, .alpha = 0.9, .eps = 0.1, .centered = true});
      },
      ref);
}

TEST_CASE("RMSprop keeps a momentum buffer only with momentum, a grad average only centered") {
  Tensor p = tensor({1, -2}).requires_grad_();
  RMSprop plain({p});
  give_grad(p, {0.5, -1});
  plain.step();
  CHECK(state_of(plain, "square_avg").defined());
  CHECK_FALSE(state_of(plain, "momentum_buffer").defined());
  CHECK_FALSE(state_of(plain, "grad_avg").defined());
  Tensor q = tensor({1, -2}).requires_grad_();
  RMSprop both({q}, {.momentum = 0.9, .centered = true});
  give_grad(q, {0.5, -1});
  both.step();
  CHECK(state_of(both, "momentum_buffer").defined());
  CHECK(state_of(both, "grad_avg").defined());
}

TEST_CASE("LAMB: the course's step, trust ratio per tensor, eps outside the root of v^") {
  RefLamb ref{0.1, 0.8, 0.9, 0.1, 0.2};
  ref = check_steps(
      [&](Tensor p) {
        return std::make_unique<LAMB>(std::vector<Tensor>{p},
                                      optim::LAMBOptions{0.1, 0.8, 0.9, 0.1, 0.2});
      },
      ref);
  CHECK(ref.last_q != doctest::Approx(1));  // the ratio took part
}

TEST_CASE("LAMB: the trust ratio is 1 for zero weights and at most 10") {
  // p = 0: r1 = 0, q = 1, so the first step is lr * g / (|g| + eps) (+ nothing from the decay).
  Tensor z = tensor({0, 0}).requires_grad_();
  LAMB opt({z}, {.lr = 0.1});
  give_grad(z, {0.5, -1});
  opt.step();
  check_values(z, {-0.1 * 0.5 / (0.5 + 1e-6), 0.1 * 1 / (1 + 1e-6)}, 1e-6);
  CHECK(opt.name() == "LAMB");
  CHECK(opt.get("eps") == 1e-6);
  CHECK(opt.get("beta2") == 0.99);
  // Large weights, |u| about 1: r1 / r2 = 100, clamped to 10.
  Tensor big = tensor({100, -100}).requires_grad_();
  LAMB opt2({big}, {.lr = 0.1});
  give_grad(big, {0.5, -1});
  opt2.step();
  check_values(big, {100 - 0.1 * 10 * 0.5 / (0.5 + 1e-6), -100 + 0.1 * 10 / (1 + 1e-6)}, 1e-6);
}

TEST_CASE("LAMB on a large tensor: the OpenMP path matches the reference") {
  const int64_t n = 100003;
  V p0(n), g(n);
  for (int64_t i = 0; i < n; ++i) {
    p0[i] = std::sin(0.001 * double(i)) + 0.5;
    g[i] = std::cos(0.003 * double(i));
  }
  Tensor p = tv(p0, DType::f64).requires_grad_();
  LAMB opt({p}, {.lr = 0.01, .weight_decay = 0.1});
  RefLamb ref{0.01, 0.9, 0.99, 1e-6, 0.1, V(n, 0.0), V(n, 0.0)};
  V want = p0;
  for (int t = 1; t <= 2; ++t) {
    give_grad(p, g);
    opt.step();
    ref(want, g, t);
  }
  V got = p.to_vector<double>();
  double worst = 0;
  for (int64_t i = 0; i < n; ++i) worst = std::max(worst, std::abs(got[i] - want[i]));
  CHECK(worst < 1e-12);
}

namespace {

// Trains `a` two steps, loads its state dict into a fresh optimizer `b` over a copy of the
// weights, then one more step on each must give the same weights, bit for bit.
template <typename Opt, typename Options>
void check_round_trip(const Options& o) {
  Tensor pa = tv(kP0).requires_grad_();
  Opt a({pa}, o);
  for (int t = 0; t < 2; ++t) {
    give_grad(pa, kGrads[t]);
    a.step();
  }
  const std::map<std::string, Tensor> sd = a.state_dict();
  REQUIRE(sd.count("state.0.0.step"));
  const Tensor steps = sd.at("state.0.0.step");
  CHECK(steps.item<double>() == 2);
  Tensor pb = pa.detach().clone().requires_grad_();
  Opt b({pb}, Options{});
  b.load_state_dict(sd);
  for (const auto& name : a.hyper_names()) CHECK(b.get(name) == a.get(name));
  give_grad(pa, kGrads[2]);
  give_grad(pb, kGrads[2]);
  a.step();
  b.step();
  CHECK(pa.to_vector<float>() == pb.to_vector<float>());
  // Without the state the third step differs (the bias corrections and averages matter).
  Tensor pc = tv(kP0).requires_grad_();
  Opt c({pc}, o);
  Tensor pd = pc.detach().clone();
  give_grad(pc, kGrads[2]);
  c.step();
  CHECK(pc.to_vector<float>() != pb.to_vector<float>());
  (void)pd;
}

}  // namespace

TEST_CASE("Adam, AdamW, RMSprop, LAMB: a state dict round trip mid-training gives the same step") {
  SUBCASE("Adam") {
    check_round_trip<Adam>(optim::AdamOptions{.lr = 0.1, .beta1 = 0.8, .weight_decay = 0.1});
  }
  SUBCASE("AdamW") {
    check_round_trip<AdamW>(optim::AdamWOptions{.lr = 0.1, .beta2 = 0.9});
  }
  SUBCASE("RMSprop") {
    check_round_trip<RMSprop>(
        optim::RMSpropOptions{.lr = 0.01, .alpha = 0.9, .momentum = 0.5, .centered = true});
  }
  SUBCASE("LAMB") {
    check_round_trip<LAMB>(optim::LAMBOptions{.lr = 0.1, .weight_decay = 0.1});
  }
}

TEST_CASE("Adam-family optimizers refuse bad hyper-parameters with tg::Error") {
  Tensor p = tensor({1}).requires_grad_();
  CHECK_THROWS_AS(Adam({p}, {.lr = -1}), Error);
  CHECK_THROWS_AS(Adam({p}, {.beta1 = 1}), Error);
  CHECK_THROWS_AS(Adam({p}, {.beta2 = -0.1}), Error);
  CHECK_THROWS_AS(Adam({p}, {.eps = -1e-8}), Error);
  CHECK_THROWS_AS(Adam({p}, {.weight_decay = -1}), Error);
  CHECK_THROWS_AS(AdamW({p}, {.beta1 = 1.5}), Error);
  CHECK_THROWS_AS(LAMB({p}, {.beta2 = 1}), Error);
  CHECK_THROWS_AS(LAMB({p}, {.lr = -0.1}), Error);
  CHECK_THROWS_AS(RMSprop({p}, {.lr = -1}), Error);
  CHECK_THROWS_AS(RMSprop({p}, {.alpha = -0.5}), Error);
  CHECK_THROWS_AS(RMSprop({p}, {.momentum = -0.5}), Error);
  CHECK_THROWS_AS(RMSprop({p}, {.eps = -1}), Error);
  Adam opt({p});
  CHECK_THROWS_WITH_AS(opt.set("beta1", 1.0), doctest::Contains("beta1"), Error);
  CHECK(opt.get("beta1") == 0.9);                    // a rejected value changes nothing
  CHECK_THROWS_AS(opt.set("momentum", 0.9), Error);  // Adam has beta1, not momentum
  RMSprop r({p});
  CHECK_THROWS_AS(r.set("centered", 2), Error);
}

TEST_CASE("Adam-family optimizers skip a parameter without a gradient") {
  Tensor a = tensor({1, 2}).requires_grad_(), b = tensor({3}).requires_grad_();
  Adam opt({a, b}, {.lr = 0.1});
  give_grad(a, {1, 1});
  opt.step();
  CHECK(b.to_vector<float>() == std::vector<float>{3});
  auto sd = opt.state_dict();
  CHECK(sd.count("state.0.0.step"));
  CHECK_FALSE(sd.count("state.0.1.step"));
  CHECK_FALSE(sd.count("state.0.1.exp_avg"));
}
