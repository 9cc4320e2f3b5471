// Mixup (callbacks.h): a Beta draw and a permutation per training batch, the inputs mixed with
// tensor ops on the batch's device, and the loss function wrapped for the run.
#include <algorithm>
#include <cmath>

#include "autograd/functions.h"
#include "learner/callbacks/callbacks.h"
#include "tensor/creation.h"
#include "tensor/grad_mode.h"

namespace tg {

namespace {

// Gamma(k, 1) by Marsaglia and Tsang (2000); k < 1 through Gamma(k + 1) * U^(1/k).
double sample_gamma(double k, Generator& gen) {
  if (k < 1) return sample_gamma(k + 1, gen) * std::pow(gen.uniform(), 1 / k);
  const double d = k - 1.0 / 3, c = 1 / std::sqrt(9 * d);
  for (;;) {
    const double x = gen.normal(), t = 1 + c * x;
    if (t <= 0) continue;
    const double v = t * t * t, u = gen.uniform();
    if (std::log(u) < 0.5 * x * x + d - d * v + d * std::log(v)) return d * v;
  }
}

}  // namespace

double sample_beta(double a, double b, Generator& gen) {
  TG_CHECK(a > 0 && b > 0 && std::isfinite(a) && std::isfinite(b), "sample_beta",
           "the parameters must be positive numbers, got ", a, " and ", b);
  const double x = sample_gamma(a, gen), y = sample_gamma(b, gen);
  return x + y > 0 ? x / (x + y) : 0.5;  // both underflowed: tiny a and b, an even split
}

Mixup::Mixup(double alpha_, uint64_t seed_) : alpha(alpha_), seed(seed_) {
  TG_CHECK(std::isfinite(alpha) && alpha > 0, "Mixup", "alpha must be a positive number, got ",
           alpha);
}

void Mixup::before_fit(Learner& l) {
  active = false;
  batch_ = l.start_epoch * l.data.train_dl.num_batches();
  LossFn inner = l.loss_func;
  l.loss_func = [this, inner](const Tensor& pred, const Tensor& y) {
    if (!active) return inner(pred, y);
    return add(mul(inner(pred, y), lambda), mul(inner(pred, y_shuffled), 1 - lambda));
  };
  l.at_run_end([&l, inner, this] {
    l.loss_func = inner;
    active = false;
  });
}

void Mixup::before_batch(Learner& l) {
  active = false;
  if (!l.training) return;
  Generator gen(seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(batch_++));
  const double lam = sample_beta(alpha, alpha, gen);
  lambda = std::max(lam, 1 - lam);
  const int64_t n = l.xb.size(0);
  perm.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) perm[static_cast<size_t>(i)] = static_cast<int32_t>(i);
  for (size_t i = perm.size(); i > 1; --i)
    std::swap(perm[i - 1], perm[static_cast<size_t>(gen.randint(static_cast<int64_t>(i)))]);
  NoGrad off;
  const Tensor idx = from_vector<int32_t>(perm).to(l.xb.device());
  const Tensor x = l.xb.detach();
  l.xb = add(mul(x, lambda), mul(x.index_select(0, idx), 1 - lambda));
  y_shuffled = l.yb.detach().index_select(0, idx.to(l.yb.device()));
  active = true;
}

}  // namespace tg
