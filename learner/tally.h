// Tally: the running figures of the current phase (a training or a validation pass), owned by
// the Learner and kept where the batches live.
//
// For every batch whose loss is computed, the Learner adds (before after_loss fires): the batch
// size, the size-weighted loss and metrics, and (training) the batch's own loss. On the CPU the
// sums are plain doubles, current at once. On a GPU they stay in device memory — one small
// kernel per figure, no batch waits for the GPU — and flush() reads them, once: the Learner
// flushes before after_train and after_validate (and before after_fit), so callbacks read
// current figures there on every device. Callbacks (AvgStats, Recorder, TerminateOnNaN) read
// the tally and never ask which device it is on.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace tg {

// A metric of one batch, averaged over batches weighted by their size. tensor_fn, when set,
// computes the same value as a one-element tensor on the batch's device without reading it: the
// tally uses it on a GPU so that a step never waits for the GPU.
struct Metric {
  std::string name;
  std::function<double(const Tensor& pred, const Tensor& target)> fn;
  std::function<Tensor(const Tensor& pred, const Tensor& target)> tensor_fn = nullptr;
};
Metric accuracy_metric();  // fraction of rows whose argmax is the label

class Tally {
 public:
  // A new phase: sums cleared; keep_losses keeps every batch's loss (training).
  void begin(const std::vector<Metric>* metrics, bool keep_losses);
  // One batch of bs samples (pred, target, loss as the Learner has them). loss_summed: the
  // loss is already in the device sum (add_to_loss_sum ran inside a captured step).
  void add(const Tensor& loss, const Tensor& pred, const Tensor& target, double bs,
           bool loss_summed = false);
  // On a GPU, once device_loss_sum() exists: bs * loss into the running sum, as tensor work
  // only (a captured step does it before its optimizer step, which reads the sum).
  void add_to_loss_sum(const Tensor& loss, double bs);
  // Makes the figures below current (on a GPU: one read of the device sums). Cheap when
  // nothing changed; the Learner calls it at the end of each phase.
  void flush();

  // The figures, current on the CPU at any time and on a GPU as of the last flush().
  int64_t batches() const { return batches_; }  // batches added in this phase
  double samples() const { return samples_; }
  double loss_sum() const { return loss_; }
  double mean_loss() const { return samples_ > 0 ? loss_ / samples_ : 0; }
  double metric_mean(size_t i) const;
  // False once a batch of this phase had a NaN or infinite loss.
  bool finite() const { return finite_; }
  // The loss of batch i of this phase (keep_losses), NaN where not yet flushed.
  double batch_loss(int64_t i) const;
  // On a GPU: the running loss sum as a one-element float64 device tensor (the same memory
  // for the whole fit, so a captured step may read it); none on the CPU or before the first
  // batch. Optimizer::set_nonfinite_guard takes it.
  const Tensor& device_loss_sum() const { return dev_loss_sum_; }

 private:
  const std::vector<Metric>* metrics_ = nullptr;
  bool keep_losses_ = false;
  int64_t batches_ = 0;
  double samples_ = 0, loss_ = 0;
  std::vector<double> metric_sums_, losses_;
  bool finite_ = true;
  // On a GPU: [loss, metrics...] size-weighted sums and the phase's batch losses, on the device.
  // Kept across phases (zeroed, not reallocated), so their addresses hold for a fit.
  Tensor dev_sums_, dev_losses_, dev_loss_sum_;
  int64_t dev_losses_used_ = 0;  // losses copied into dev_losses_ and not yet read
  bool dirty_ = false;           // device sums not yet read
};

}  // namespace tg
