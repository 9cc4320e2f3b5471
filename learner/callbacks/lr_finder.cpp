// LRFinder and lr_find (Leslie Smith's LR range test, as fastai runs it): train a few batches
// while the learning rate grows geometrically, watch the smoothed loss, stop when it diverges,
// then put the model and the optimizer back exactly as they were (also when the sweep fails).
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "base/format.h"
#include "learner/callbacks/callbacks.h"
#include "tensor/grad_mode.h"

namespace tg {

namespace {
constexpr double kBeta = 0.98;  // smoothing of the loss, debiased as in Adam
}

LRFinder::LRFinder(double start_lr_, double end_lr_, int64_t num_it_, bool stop_div_)
    : start_lr(start_lr_), end_lr(end_lr_), num_it(num_it_), stop_div(stop_div_) {
  TG_CHECK(start_lr > 0 && end_lr > 0 && std::isfinite(start_lr) && std::isfinite(end_lr),
           "LRFinder", "start_lr and end_lr must be positive, got ", start_lr, " and ", end_lr);
  TG_CHECK(num_it >= 2, "LRFinder", "num_it must be >= 2, got ", num_it);
}

void LRFinder::before_fit(Learner& l) {
  NoGrad guard;
  saved_model_.clear();
  for (const auto& [k, t] : l.model->state_dict()) saved_model_[k] = t.clone();
  saved_opt_ = l.opt->state_dict();  // already copies
  saved_dl_epoch_ = l.data.train_dl.epoch();
  saved_ = true;
  lrs.clear();
  losses.clear();
  smoothed.clear();
  best_ = std::numeric_limits<double>::infinity();
  avg_ = 0;
}

void LRFinder::before_batch(Learner& l) {
  if (!l.training) return;
  const double pos = static_cast<double>(l.train_iter) / static_cast<double>(num_it - 1);
  l.opt->set("lr", start_lr * std::pow(end_lr / start_lr, pos));
}

void LRFinder::after_loss(Learner& l) {
  if (!l.training) return;
  const double loss = l.loss.item<double>();
  avg_ = kBeta * avg_ + (1 - kBeta) * loss;
  const double smooth = avg_ / (1 - std::pow(kBeta, static_cast<double>(losses.size() + 1)));
  lrs.push_back(l.opt->get("lr"));
  losses.push_back(loss);
  smoothed.push_back(smooth);
  if (smooth < best_) best_ = smooth;
  if (stop_div && (!std::isfinite(loss) || smooth > 4 * best_)) throw CancelFit();
  if (l.train_iter + 1 >= num_it) throw CancelFit();
}

void LRFinder::before_validate(Learner& l) {
  if (l.context == RunContext::fit || l.context == RunContext::lr_find) throw CancelValidate();
}

void LRFinder::after_fit(Learner& l) {
  restore(l);
}

void LRFinder::restore(Learner& l) {
  if (!saved_) return;
  l.model->load_state_dict(saved_model_);  // copies in under NoGrad
  l.opt->load_state_dict(saved_opt_);
  l.data.train_dl.set_epoch(saved_dl_epoch_);
  saved_model_.clear();
  saved_opt_.clear();
  saved_ = false;
}

// The window the suggestions look at: like fastai, leave out the first points (the smoothing
// has not settled) and the last ones (the divergence).
LRFinder::Window LRFinder::window() const {
  const size_t n = smoothed.size();
  TG_CHECK(n >= 5, "LRFinder", "the sweep recorded ", n,
           " points; at least 5 are needed for a suggestion (raise num_it, or lower start_lr "
           "if the loss diverged at once)");
  const size_t skip_start = std::min<size_t>(10, n / 10), skip_end = std::min<size_t>(5, n / 10);
  Window w{skip_start, n - skip_end, skip_start};
  bool found = false;
  for (size_t i = w.begin; i < w.end; ++i)
    if (std::isfinite(smoothed[i]) && (!found || smoothed[i] < smoothed[w.min])) {
      w.min = i;
      found = true;
    }
  TG_CHECK(found, "LRFinder", "no finite loss was recorded in the sweep");
  return w;
}

double LRFinder::suggestion() const {
  const Window w = window();
  // Steepest descent of the smoothed loss against log(lr), up to the minimum.
  double best_slope = 0;
  size_t at = w.min;
  for (size_t i = w.begin; i < w.min; ++i) {
    const double slope =
        (smoothed[i + 1] - smoothed[i]) / (std::log(lrs[i + 1]) - std::log(lrs[i]));
    if (std::isfinite(slope) && slope < best_slope) {
      best_slope = slope;
      at = i;
    }
  }
  return lrs[at];
}

double LRFinder::min_lr_over_10() const {
  return lrs[window().min] / 10;
}

LRFindResult lr_find(Learner& learn, double start_lr, double end_lr, int64_t num_it) {
  auto finder = std::make_shared<LRFinder>(start_lr, end_lr, num_it);
  TG_CHECK(learn.data.train_dl.dataset() != nullptr, "lr_find",
           "the DataBunch has no training data");
  const int64_t per_epoch = learn.data.train_dl.num_batches();
  TG_CHECK(per_epoch > 0, "lr_find", "the training loader has no batches");
  const int64_t epochs = (num_it + per_epoch - 1) / per_epoch;
  try {
    learn.fit_in_context(RunContext::lr_find, epochs, {finder});
  } catch (...) {
    // An error (not a Cancel) skips after_fit: restore here, so a failed sweep does not leave
    // the model trained at huge learning rates. The sweep's own error is the one reported.
    try {
      finder->restore(learn);
    } catch (...) {
    }
    throw;
  }
  LRFindResult r;
  r.lrs = finder->lrs;
  r.losses = finder->losses;
  r.smoothed = finder->smoothed;
  r.suggested_lr = finder->suggestion();
  r.min_lr_over_10 = finder->min_lr_over_10();
  return r;
}

Chart lr_find_chart(const LRFindResult& r) {
  // The divergence at the end would squash the interesting part: points above 1.5x the
  // starting loss are left out (the chart breaks the line there).
  const double cap =
      r.smoothed.empty() ? std::numeric_limits<double>::infinity() : 1.5 * r.smoothed.front();
  size_t dropped = 0, first = 0;  // points left out, and the batch (1-based) of the first
  for (size_t i = 0; i < r.losses.size(); ++i)
    if (!(r.losses[i] <= cap) && dropped++ == 0) first = i + 1;
  auto capped = [&](std::vector<double> v) {
    for (double& x : v)
      if (!(x <= cap)) x = std::numeric_limits<double>::quiet_NaN();
    return v;
  };
  std::vector<Series> series = {{"loss", r.lrs, capped(r.losses)},
                                {"smoothed loss", r.lrs, capped(r.smoothed)}};
  // The suggestion as a vertical line across the drawn range.
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const Series& s : series)
    for (double v : s.y)
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  if (lo <= hi)
    series.push_back(
        {"suggested lr " + sig(r.suggested_lr, 3), {r.suggested_lr, r.suggested_lr}, {lo, hi}});
  Chart c{"LR finder", "learning rate (log scale)", "training loss", series, /*log_x=*/true};
  if (dropped > 0)
    c.note = plural(static_cast<long long>(dropped), "point") + " of " +
             std::to_string(r.losses.size()) +
             " not drawn: loss above 1.5x the starting loss (diverging from batch " +
             std::to_string(first) + ")";
  return c;
}

}  // namespace tg
