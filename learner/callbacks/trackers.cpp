// Callbacks that watch a figure of the fit and act on it: TerminateOnNaN (stop on a NaN or
// infinite loss), EarlyStopping (stop when the monitor stops improving), SaveModel (keep
// the best epoch's weights on disk) and ReduceLROnPlateau (lower the lr when it stalls).
#include <algorithm>
#include <cmath>
#include <iostream>
#include <limits>
#include <utility>

#include "base/format.h"
#include "learner/callbacks/callbacks.h"
#include "learner/io/checkpoint.h"

namespace tg {

namespace {

bool maximise(const std::string& monitor, Mode mode) {
  if (mode == Mode::automatic) return monitor.find("acc") != std::string::npos;
  return mode == Mode::max;
}

double worst(bool max) {
  return max ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
}

// Better than best by more than min_delta; NaN is never better.
bool improved(double v, double best, double min_delta, bool max) {
  return max ? v > best + min_delta : v < best - min_delta;
}

// learn.values[monitor], or an error naming the figures there are.
double monitored(const Learner& l, const std::string& monitor, const char* who) {
  auto it = l.values.find(monitor);
  if (it != l.values.end()) return it->second;
  std::string have;
  for (const auto& [k, v] : l.values) have += (have.empty() ? "" : ", ") + k;
  TG_FAIL(who, "the monitor '", monitor, "' is not among the epoch's values [", have,
          "] (AvgStats writes them; is it among the callbacks?)");
}

}  // namespace

// --- TerminateOnNaN ---------------------------------------------------------------------------

void TerminateOnNaN::before_fit(Learner& l) {
  stopped = false;
  l.guard_nonfinite_steps = true;  // on a GPU the step itself skips a non-finite batch
}

// At after_loss, before backward and step: the fit stops with the weights of the last good
// step, not with weights a NaN gradient has already spoilt (fastai checks after the step).
void TerminateOnNaN::after_loss(Learner& l) {
  check(l, "batch " + std::to_string(l.iter + 1));
}

void TerminateOnNaN::after_train(Learner& l) {
  check(l, "the end of the phase");
}

void TerminateOnNaN::after_validate(Learner& l) {
  check(l, "the end of the phase");
}

void TerminateOnNaN::check(Learner& l, const std::string& where) {
  if (l.tally.finite()) return;
  stopped = true;
  (out ? *out : std::cerr) << "TerminateOnNaN: the loss is not finite (the phase's loss sum is "
                           << num(l.tally.loss_sum()) << ") at epoch " << (l.epoch + 1) << ", "
                           << where << " (" << (l.training ? "training" : "validating")
                           << "); stopping the fit" << std::endl;
  throw CancelFit();
}

// --- EarlyStopping ----------------------------------------------------------------------------

EarlyStopping::EarlyStopping(std::string monitor_, int patience_, double min_delta_, Mode mode_)
    : monitor(std::move(monitor_)), patience(patience_), min_delta(min_delta_), mode(mode_) {
  TG_CHECK(!monitor.empty(), "EarlyStopping", "no monitor given");
  TG_CHECK(patience >= 1, "EarlyStopping", "patience must be >= 1, got ", patience);
  TG_CHECK(std::isfinite(min_delta) && min_delta >= 0, "EarlyStopping",
           "min_delta must be >= 0, got ", min_delta);
}

void EarlyStopping::before_fit(Learner& l) {
  if (l.context == RunContext::lr_find) return;  // keeps its record of the fit
  best = worst(maximise(monitor, mode));
  best_epoch = stopped_epoch = -1;
  wait_ = 0;
}

void EarlyStopping::after_epoch(Learner& l) {
  if (l.context == RunContext::lr_find) return;  // no validation there, and nothing to stop
  const double v = monitored(l, monitor, "EarlyStopping");
  if (improved(v, best, min_delta, maximise(monitor, mode))) {
    best = v;
    best_epoch = l.epoch;
    wait_ = 0;
    return;
  }
  if (++wait_ < patience) return;
  stopped_epoch = l.epoch;
  throw CancelFit();
}

// --- SaveModel --------------------------------------------------------------------------------

SaveModel::SaveModel(std::string path_, std::string monitor_, Mode mode_, bool load_best_at_end_)
    : path(std::move(path_)),
      monitor(std::move(monitor_)),
      mode(mode_),
      load_best_at_end(load_best_at_end_) {
  TG_CHECK(!path.empty(), "SaveModel", "no path given");
  TG_CHECK(!monitor.empty(), "SaveModel", "no monitor given");
}

void SaveModel::before_fit(Learner& l) {
  if (l.context == RunContext::lr_find) return;  // keeps its record of the fit
  if (carried_) {                                // once: a later fit of this callback starts afresh
    carried_ = false;
    return;
  }
  best = worst(maximise(monitor, mode));
  best_epoch = -1;
}

void SaveModel::carry(double best_value, int64_t epoch) {
  best = best_value;
  best_epoch = epoch;
  carried_ = true;
}

void SaveModel::after_epoch(Learner& l) {
  if (l.context == RunContext::lr_find) return;  // the finder's weights are thrown away
  const double v = monitored(l, monitor, "SaveModel");
  if (!improved(v, best, 0, maximise(monitor, mode))) return;
  // "epoch" counts from 1, as the console and the history CSV do.
  Metadata m = meta;
  m["epoch"] = std::to_string(l.epoch + 1);
  m["monitor"] = monitor;
  m["value"] = num(v);
  save_checkpoint(path, *l.model, l.opt.get(), m);
  best = v;
  best_epoch = l.epoch;
}

void SaveModel::after_fit(Learner& l) {
  if (l.context == RunContext::lr_find) return;
  if (load_best_at_end && best_epoch >= 0) load_checkpoint(path, *l.model);
}

// --- ReduceLROnPlateau ------------------------------------------------------------------------

ReduceLROnPlateau::ReduceLROnPlateau(std::string monitor_, double factor_, int patience_,
                                     double threshold_, double min_lr_, int cooldown_, Mode mode_)
    : monitor(std::move(monitor_)),
      factor(factor_),
      patience(patience_),
      threshold(threshold_),
      min_lr(min_lr_),
      cooldown(cooldown_),
      mode(mode_) {
  const char* op = "ReduceLROnPlateau";
  TG_CHECK(!monitor.empty(), op, "no monitor given");
  TG_CHECK(factor > 0 && factor < 1, op, "factor must be in (0, 1), got ", factor);
  TG_CHECK(patience >= 0, op, "patience must be >= 0, got ", patience);
  TG_CHECK(std::isfinite(threshold) && threshold >= 0, op, "threshold must be >= 0, got ",
           threshold);
  TG_CHECK(std::isfinite(min_lr) && min_lr >= 0, op, "min_lr must be >= 0, got ", min_lr);
  TG_CHECK(cooldown >= 0, op, "cooldown must be >= 0, got ", cooldown);
}

void ReduceLROnPlateau::reset() {
  best = worst(maximise(monitor, mode));
  bad_epochs_ = cooldown_left_ = 0;
  reduced_at.clear();
}

void ReduceLROnPlateau::carry(const std::vector<double>& past) {
  reset();
  for (size_t e = 0; e < past.size(); ++e)
    if (observe(past[e])) reduced_at.push_back(static_cast<int64_t>(e));
  carried_ = true;
}

void ReduceLROnPlateau::before_fit(Learner& l) {
  if (l.context == RunContext::lr_find) return;
  if (const auto* ps = l.cb<ParamScheduler>())
    TG_CHECK(!ps->scheds.count("lr"), "ReduceLROnPlateau",
             "a ParamScheduler schedules \"lr\" in the same fit, and would overwrite every "
             "reduction at the next batch: use one or the other");
  l.opt->hyper_id("lr");  // an optimizer without an lr is named here, not after an epoch
  if (carried_) {         // once: a later fit of this callback starts afresh
    carried_ = false;
    return;
  }
  reset();
}

// torch's step(): the relative threshold (best starts infinite, so the first finite value
// improves on it), bad epochs ignored during the cooldown, a reduction after more than
// patience bad epochs.
bool ReduceLROnPlateau::observe(double v) {
  const bool max = maximise(monitor, mode);
  const bool better = max ? v > best * (1 + threshold) : v < best * (1 - threshold);
  if (better) {
    best = v;
    bad_epochs_ = 0;
  } else {
    ++bad_epochs_;
  }
  if (cooldown_left_ > 0) {
    --cooldown_left_;
    bad_epochs_ = 0;
  }
  if (bad_epochs_ <= patience) return false;
  cooldown_left_ = cooldown;
  bad_epochs_ = 0;
  return true;
}

void ReduceLROnPlateau::after_epoch(Learner& l) {
  if (l.context == RunContext::lr_find) return;
  if (!observe(monitored(l, monitor, "ReduceLROnPlateau"))) return;
  const size_t lr = l.opt->hyper_id("lr");
  bool changed = false;
  for (size_t g = 0; g < l.opt->num_groups(); ++g) {
    const double old_lr = l.opt->get(lr, g);
    const double new_lr = std::max(old_lr * factor, min_lr);
    if (old_lr - new_lr > 1e-8) {  // torch's eps: a change smaller than that is ignored
      l.opt->set(lr, new_lr, g);
      changed = true;
    }
  }
  if (changed) reduced_at.push_back(l.epoch);
}

}  // namespace tg
