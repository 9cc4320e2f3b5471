// Hooks on many modules at once, and the course's activation statistics as a ready hook
// (notebook 06, "hooks"). Plain data, no plotting.
//
//   tg::nn::ActivationStats stats(*model);   // one hook on each child of a Sequential
//   learn.fit(1);
//   stats.means()[0];                        // layer 0's output mean, one entry per forward
//
// Hooks and ActivationStats remove their hooks when destroyed (or on remove()); they hold no
// reference to the modules, so either may outlive the model.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "nn/module.h"

namespace tg::nn {

// The course's Hooks(model, f): one forward hook per module, f told which module (its index
// in the list) fired.
class Hooks {
 public:
  using Fn = std::function<void(size_t index, Module&, const Tensor& input, const Tensor& output)>;
  Hooks(const std::vector<std::shared_ptr<Module>>& modules, Fn fn);
  Hooks(const Module& model, Fn fn);  // on each of model's direct children, in order
  Hooks(const Hooks&) = delete;
  Hooks& operator=(const Hooks&) = delete;
  Hooks(Hooks&&) = default;
  Hooks& operator=(Hooks&&) = default;
  ~Hooks() = default;  // the handles remove their hooks

  size_t size() const { return handles_.size(); }
  void remove();  // every hook; idempotent

 private:
  std::vector<HookHandle> handles_;
};

// The direct children of model, in registration order (a Sequential's layers).
std::vector<std::shared_ptr<Module>> children_of(const Module& model);

// torch.histc(v, bins, lo, hi): counts of v in `bins` equal bins over [lo, hi]; a value equal
// to hi goes in the last bin, values outside [lo, hi] and NaN are not counted. Bin of x:
// (x - lo) * bins / (hi - lo), truncated. Needs bins >= 1 and lo < hi, both finite.
std::vector<int64_t> histc(std::span<const double> v, int64_t bins, double lo, double hi);

// The histogram ActivationStats keeps of each output's |x|: the course's histc(40, 0, 10).
// bins = 0 keeps none.
struct HistogramRange {
  int64_t bins = 40;
  double lo = 0, hi = 10;
};

// Per layer, per forward of that layer: the mean and standard deviation of its output (the
// unbiased std, as torch.Tensor.std(); NaN for a one-element output) and the fraction of its
// elements with |x| < eps. means()[i][k] is layer i's k-th call. Computed in double on the host
// (the output is copied there: a hook on a CUDA model synchronises each forward).
//
// The default eps = 0.5 is the course's get_min: the share of |x| in the first two of 40
// histogram bins over [0, 10] (the course divides by the values inside [0, 10] only; this by all
// of them).
//
// And the histogram of |x| (histograms()[i][k], hist.bins counts; the course's telemetry,
// drawn as its "colorful dimension" plot: x = batch, y = bin, colour = log(1 + count)). It is
// counted in the same pass over the copied output as the mean, so it costs one compare and an
// increment per element, and hist.bins integers per forward to keep.
class ActivationStats {
 public:
  explicit ActivationStats(const std::vector<std::shared_ptr<Module>>& modules, double eps = 0.5,
                           HistogramRange hist = {});
  explicit ActivationStats(const Module& model, double eps = 0.5,
                           HistogramRange hist = {});  // model's children

  const std::vector<std::vector<double>>& means() const { return data_->means; }
  const std::vector<std::vector<double>>& stds() const { return data_->stds; }
  const std::vector<std::vector<double>>& near_zero() const { return data_->near_zero; }
  // histograms()[i][k][b]: layer i's k-th forward, the count of |x| in bin b.
  const std::vector<std::vector<std::vector<int64_t>>>& histograms() const { return data_->hists; }
  double eps() const { return data_->eps; }
  const HistogramRange& histogram_range() const { return data_->hist; }
  size_t layers() const { return data_->means.size(); }
  void clear();   // forgets the entries, keeps the hooks
  void remove();  // removes the hooks, keeps the entries

 private:
  struct Data {
    double eps = 0.5;
    HistogramRange hist;
    std::vector<std::vector<double>> means, stds, near_zero;
    std::vector<std::vector<std::vector<int64_t>>> hists;
  };
  std::shared_ptr<Data> data_;  // shared with the hooks, so an ActivationStats can move
  Hooks hooks_;
};

}  // namespace tg::nn
