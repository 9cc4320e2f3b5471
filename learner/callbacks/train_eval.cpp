// TrainEval and AvgStats: the two callbacks of the course's Runner (04c), now library parts.
#include <cmath>
#include <iostream>

#include "base/format.h"
#include "learner/callbacks/callbacks.h"

namespace tg {

void TrainEval::before_fit(Learner& l) {  // a resumed fit counts as if unbroken
  l.train_iter = l.start_epoch * l.data.train_dl.num_batches();
  l.pct_train =
      l.epochs > 0 ? static_cast<double>(l.start_epoch) / static_cast<double>(l.epochs) : 0;
}

void TrainEval::before_epoch(Learner& l) {
  l.pct_train = l.epochs > 0 ? static_cast<double>(l.epoch) / static_cast<double>(l.epochs) : 0;
}

void TrainEval::before_train(Learner& l) {
  l.model->train();
}

void TrainEval::after_batch(Learner& l) {
  if (!l.training) return;
  ++l.train_iter;
  if (l.n_iter > 0 && l.epochs > 0)
    l.pct_train += 1.0 / (static_cast<double>(l.n_iter) * static_cast<double>(l.epochs));
}

void TrainEval::before_validate(Learner& l) {
  l.model->eval();
}

AvgStats::AvgStats(bool print, std::ostream* out) : print_(print), out_(out ? out : &std::cout) {}

void AvgStats::before_fit(Learner&) {
  history.clear();
}

void AvgStats::before_epoch(Learner& l) {
  train = Phase{0, 0, std::vector<double>(l.metrics.size(), 0.0)};
  valid = train;
  start_ = std::chrono::steady_clock::now();
}

namespace {
AvgStats::Phase phase_of(const Tally& t, size_t n_metrics) {
  AvgStats::Phase p{t.samples(), t.loss_sum(), std::vector<double>(n_metrics, 0.0)};
  for (size_t i = 0; i < n_metrics; ++i) p.metrics[i] = t.metric_mean(i) * t.samples();
  return p;
}
}  // namespace

void AvgStats::after_train(Learner& l) {
  train = phase_of(l.tally, l.metrics.size());
}

void AvgStats::after_validate(Learner& l) {
  valid = phase_of(l.tally, l.metrics.size());
}

void AvgStats::after_epoch(Learner& l) {
  std::map<std::string, double> v;
  auto put = [&](const std::string& prefix, const Phase& p) {
    if (p.n == 0) return;
    v[prefix + "_loss"] = p.avg_loss();
    for (size_t i = 0; i < l.metrics.size() && i < p.metrics.size(); ++i)
      v[prefix + "_" + l.metrics[i].name] = p.metrics[i] / p.n;
  };
  put("train", train);
  put("valid", valid);
  v["epoch_seconds"] =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  for (const auto& [k, x] : v) l.values[k] = x;
  history.push_back(v);
  if (!print_ || l.cb<ProgressBar>()) return;  // a ProgressBar prints these figures itself
  std::ostream& os = *out_;
  os << "epoch " << (l.epoch + 1) << "/" << l.epochs;
  for (const char* phase : {"train", "valid"})
    for (const auto& [k, x] : v)
      if (k.rfind(phase, 0) == 0) os << "  " << k << " " << tg::fixed(x, 4);
  os << "  time " << tg::fixed(v["epoch_seconds"], 2) << "s" << std::endl;
}

}  // namespace tg
