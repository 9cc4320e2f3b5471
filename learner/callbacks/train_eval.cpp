// TrainEval and AvgStats: the two callbacks of the course's Runner (04c), now library parts.
#include <cmath>
#include <iomanip>
#include <iostream>

#include "learner/callbacks/callbacks.h"
#include "tensor/creation.h"
#include "tensor/grad_mode.h"
#include "tensor/ops.h"

namespace tg {

void TrainEval::before_fit(Learner& l) {
  l.train_iter = 0;
  l.pct_train = 0;
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
  train = Phase{0, 0, std::vector<double>(l.metrics.size(), 0.0), Tensor()};
  valid = train;
  start_ = std::chrono::steady_clock::now();
}

void AvgStats::after_loss(Learner& l) {
  Phase& p = l.training ? train : valid;
  const double bs = static_cast<double>(l.xb.size(0));
  p.n += bs;
  if (l.loss.device().is_cuda()) {
    add_on_device(l, p, bs);
    return;
  }
  p.loss += bs * l.loss.item<double>();
  p.metrics.resize(l.metrics.size());
  for (size_t i = 0; i < l.metrics.size(); ++i) p.metrics[i] += bs * l.metrics[i].fn(l.pred, l.yb);
}

void AvgStats::add_on_device(Learner& l, Phase& p, double bs) {
  NoGrad off;
  const int64_t m = static_cast<int64_t>(l.metrics.size());
  p.metrics.resize(l.metrics.size());
  if (!p.device_sums.defined()) p.device_sums = zeros({1 + m}, DType::f32, l.loss.device());
  auto add = [&](int64_t slot, const Tensor& v) {
    Tensor dst = p.device_sums.narrow(0, slot, 1);
    ops::axpy_(dst, bs, v.detach().reshape({1}).to(DType::f32));
  };
  add(0, l.loss);
  for (int64_t i = 0; i < m; ++i) {
    const Metric& metric = l.metrics[static_cast<size_t>(i)];
    if (metric.tensor_fn)
      add(1 + i, metric.tensor_fn(l.pred, l.yb));
    else  // a host-only metric: it waits for the GPU, once per batch
      p.metrics[static_cast<size_t>(i)] += bs * metric.fn(l.pred, l.yb);
  }
}

void AvgStats::fold_device_sums(Phase& p) {
  if (!p.device_sums.defined()) return;
  const std::vector<double> sums = p.device_sums.to_vector<double>();  // waits for the GPU
  p.loss += sums[0];
  for (size_t i = 1; i < sums.size() && i - 1 < p.metrics.size(); ++i) p.metrics[i - 1] += sums[i];
  p.device_sums = Tensor();
}

void AvgStats::after_epoch(Learner& l) {
  fold_device_sums(train);
  fold_device_sums(valid);
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
  if (!print_) return;
  std::ostream& os = *out_;
  os << "epoch " << (l.epoch + 1) << "/" << l.epochs << std::fixed << std::setprecision(4);
  for (const char* phase : {"train", "valid"})
    for (const auto& [k, x] : v)
      if (k.rfind(phase, 0) == 0) os << "  " << k << " " << x;
  os << std::setprecision(2) << "  time " << v["epoch_seconds"] << "s" << std::endl;
  os.unsetf(std::ios::floatfield);
}

}  // namespace tg
