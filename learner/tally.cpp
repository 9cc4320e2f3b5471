// Tally (tally.h): host sums on the CPU; device sums, one read per phase, on a GPU.
#include "learner/tally.h"

#include <cmath>
#include <limits>

#include "tensor/creation.h"
#include "tensor/grad_mode.h"
#include "tensor/ops.h"

namespace tg {

Metric accuracy_metric() {
  // One kernel for int32 labels of (n, classes) logits; any other layout through the ops.
  auto acc = [](const Tensor& pred, const Tensor& y) {
    if (pred.dim() == 2 && y.dim() == 1 && y.dtype() == DType::i32) return ops::accuracy(pred, y);
    Tensor hit = ops::binary(BinaryOp::eq, ops::argmax(pred, -1).to(DType::f32), y.to(DType::f32));
    return ops::reduce(ReduceOp::mean, hit, {}, false);
  };
  return {"accuracy", [acc](const Tensor& p, const Tensor& y) { return acc(p, y).item<double>(); },
          acc};
}

void Tally::begin(const std::vector<Metric>* metrics, bool keep_losses) {
  metrics_ = metrics;
  keep_losses_ = keep_losses;
  batches_ = 0;
  samples_ = loss_ = 0;
  metric_sums_.assign(metrics ? metrics->size() : 0, 0.0);
  losses_.clear();
  finite_ = true;
  // The device buffers are made on the first batch, where it lives, and then reused.
  if (dev_sums_.defined()) {
    NoGrad off;
    // The same metrics for a whole fit, so the same size: a captured step keeps its address.
    if (dev_sums_.size(0) == 1 + int64_t(metric_sums_.size()))
      dev_sums_.fill_(0.0);
    else
      dev_sums_ = dev_loss_sum_ = Tensor();
  }
  dev_losses_used_ = 0;
  dirty_ = false;
}

void Tally::add_to_loss_sum(const Tensor& loss, double bs) {
  TG_CHECK(dev_loss_sum_.defined() && dev_loss_sum_.device() == loss.device(), "Tally",
           "add_to_loss_sum needs the device sums of an earlier batch on ", loss.device().str());
  NoGrad off;
  ops::axpy_(dev_loss_sum_, bs, loss.detach().reshape({1}).to(DType::f64));
}

void Tally::add(const Tensor& loss, const Tensor& pred, const Tensor& target, double bs,
                bool loss_summed) {
  NoGrad off;
  const size_t m = metric_sums_.size();
  ++batches_;
  samples_ += bs;
  if (!loss.device().is_cuda()) {
    const double v = loss.item<double>();
    loss_ += bs * v;
    finite_ = finite_ && std::isfinite(v);
    for (size_t i = 0; i < m; ++i) metric_sums_[i] += bs * (*metrics_)[i].fn(pred, target);
    if (keep_losses_) losses_.push_back(v);
    return;
  }
  // On the device: the sums in one buffer, the batch losses in another (grown by doubling).
  const Device dev = loss.device();
  if (!dev_sums_.defined() || dev_sums_.device() != dev) {
    dev_sums_ = zeros({1 + int64_t(m)}, DType::f64, dev);  // float64: long phases
    dev_loss_sum_ = dev_sums_.narrow(0, 0, 1);
  }
  auto add_to = [&](int64_t slot, const Tensor& v) {
    Tensor dst = dev_sums_.narrow(0, slot, 1);
    ops::axpy_(dst, bs, v.detach().reshape({1}).to(DType::f64));
  };
  if (!loss_summed) add_to(0, loss);
  for (size_t i = 0; i < m; ++i) {
    const Metric& metric = (*metrics_)[i];
    if (metric.tensor_fn)
      add_to(1 + int64_t(i), metric.tensor_fn(pred, target));
    else  // a host-only metric: it waits for the GPU, once per batch
      metric_sums_[i] += bs * metric.fn(pred, target);
  }
  if (keep_losses_) {
    if (!dev_losses_.defined() || dev_losses_.device() != dev ||
        dev_losses_used_ == dev_losses_.size(0)) {
      flush();  // reads what the old buffer holds before a larger one replaces it
      dev_losses_ = empty({std::max<int64_t>(64, 2 * dev_losses_used_)}, DType::f32, dev);
      dev_losses_used_ = 0;
    }
    dev_losses_.narrow(0, dev_losses_used_++, 1).copy_(loss.detach().reshape({1}));
    losses_.push_back(std::numeric_limits<double>::quiet_NaN());  // until flushed
  }
  dirty_ = true;
}

void Tally::flush() {
  if (!dirty_) return;
  dirty_ = false;
  if (dev_sums_.defined()) {
    const std::vector<double> sums = dev_sums_.to_vector<double>();  // waits for the GPU
    // The device keeps running sums: take them whole rather than adding.
    loss_ = sums[0];
    finite_ = std::isfinite(loss_);  // a NaN or an infinity anywhere makes the sum non-finite
    for (size_t i = 0; i + 1 < sums.size() && i < metric_sums_.size(); ++i)
      if ((*metrics_)[i].tensor_fn) metric_sums_[i] = sums[i + 1];
  }
  if (dev_losses_used_ > 0) {
    const std::vector<double> v = dev_losses_.narrow(0, 0, dev_losses_used_).to_vector<double>();
    const size_t first = losses_.size() - v.size();
    for (size_t i = 0; i < v.size(); ++i) losses_[first + i] = v[i];
    dev_losses_used_ = 0;
  }
}

double Tally::metric_mean(size_t i) const {
  return samples_ > 0 && i < metric_sums_.size() ? metric_sums_[i] / samples_ : 0;
}

double Tally::batch_loss(int64_t i) const {
  return i >= 0 && size_t(i) < losses_.size() ? losses_[size_t(i)]
                                              : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace tg
