// The standard callbacks. Each is a few lines over the Learner's public state.
//
// Orders (lower runs first): AdaptiveThreads -30, DeviceCallback -20, TrainEval -10, TerminateOnNaN
// -9, Mixup -5, ParamScheduler 5, AvgStats 10, Recorder 20, ProgressBar 30, SaveModel 35,
// EarlyStopping 40, LRFinder 50. SaveModel runs before EarlyStopping so that an epoch that ends the
// fit is still saved when it improved.
//
// An LR find (context lr_find) is not part of the training history: ParamScheduler, Recorder,
// ProgressBar, EarlyStopping and SaveModel do nothing during one, so a Learner can keep them
// across lr_find() and fit().
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "learner/callback.h"
#include "learner/io/plot.h"
#include "learner/io/safetensors.h"
#include "learner/learner.h"
#include "learner/schedule.h"
#include "tensor/random.h"

namespace tg {

// Puts the model in train or eval mode for each phase and keeps the progress counters:
// learn.train_iter (training batches done) and learn.pct_train (0..1 over the whole fit).
// The Learner adds one by default.
class TrainEval : public Callback {
 public:
  int order() const override { return -10; }
  void before_fit(Learner& l) override;
  void before_epoch(Learner& l) override;
  void before_train(Learner& l) override;
  void after_batch(Learner& l) override;
  void before_validate(Learner& l) override;
};

// Loss and metrics (learn.metrics) averaged over each phase with batch-size weights, read from
// the Learner's tally at after_train and after_validate. After each epoch it writes
// learn.values ("train_loss", "train_<metric>", "valid_loss", "valid_<metric>",
// "epoch_seconds"), appends them to history, and — when printing — writes one line per epoch to
// out, unless a ProgressBar is among the callbacks (it prints the same figures as its table).
class AvgStats : public Callback {
 public:
  explicit AvgStats(bool print = true, std::ostream* out = nullptr);  // out: std::cout
  int order() const override { return 10; }
  void before_fit(Learner& l) override;
  void before_epoch(Learner& l) override;
  void after_train(Learner& l) override;
  void after_validate(Learner& l) override;
  void after_epoch(Learner& l) override;

  struct Phase {
    double n = 0, loss = 0;
    std::vector<double> metrics;  // size-weighted sums
    double avg_loss() const { return n > 0 ? loss / n : 0; }
  };
  Phase train, valid;
  std::vector<std::map<std::string, double>> history;  // one entry per epoch

 private:
  bool print_;
  std::ostream* out_;
  std::chrono::steady_clock::time_point start_;
};

// Records the learning rate and loss of every training batch, and every epoch's figures; writes
// them as CSV (atomically). The lr is read at after_batch, the loss from the tally (so on a GPU
// the losses of a phase arrive when it ends).
class Recorder : public Callback {
 public:
  int order() const override { return 20; }
  void before_fit(Learner& l) override;
  void after_batch(Learner& l) override;
  void after_train(Learner& l) override;
  void after_epoch(Learner& l) override;
  void after_fit(Learner& l) override;

  std::vector<double> lrs, losses;                    // per training batch
  std::vector<std::map<std::string, double>> epochs;  // learn.values after each epoch
  // One row per epoch: "epoch,<keys of values...>".
  void write_csv(const std::string& path) const;
  // One row per training batch: "iter,lr,loss" (iter from 0).
  void write_batches_csv(const std::string& path) const;

 private:
  // Batches of the tally seen so far; the tally indices of the batches whose loss is due.
  void take_losses(Learner& l);
  int64_t seen_ = 0;
  std::vector<int64_t> pending_;
  size_t lr_id_ = 0;
};

// Sets optimizer hyper-parameters (any name: "lr", "momentum", ...) from schedules of
// learn.pct_train before every training batch. A Learner holds one callback per type, so
// several parameters go in one ParamScheduler:
//   ParamScheduler({{"lr", one_cycle_lr(0.1)}, {"momentum", one_cycle_mom()}})
// The names are resolved to the optimizer's ids once, at before_fit (an unknown name fails
// there); each batch sets the values by id, and the optimizer checks each value once.
class ParamScheduler : public Callback {
 public:
  ParamScheduler(std::string param, Schedule sched);
  explicit ParamScheduler(std::map<std::string, Schedule> scheds);  // param: the first key
  int order() const override { return 5; }
  void before_fit(Learner& l) override;  // clears the values; checks the optimizer's names
  void before_batch(Learner& l) override;
  std::string param;
  Schedule sched;
  std::vector<double> values;              // what was set for param, per training batch
  std::map<std::string, Schedule> scheds;  // every scheduled parameter
  std::map<std::string, std::vector<double>> values_of;  // what was set, per parameter

 private:
  std::vector<std::pair<size_t, const std::string*>> ids_;  // resolved at before_fit
};

// Stops the fit (CancelFit) when a loss is NaN or infinite, read from the Learner's tally: at
// after_loss — before backward and step, so the weights stay those of the last good step —
// and at after_train / after_validate. On the CPU the tally is current at every batch; on a
// GPU it is read once per phase (reading each loss would stall every step), so there the fit
// stops at the end of the phase in which the loss went bad — but no step applies the bad batch
// or any after it: TerminateOnNaN sets learn.guard_nonfinite_steps, and the optimizer's update
// kernel skips itself once the tally's running loss sum is not finite (eager and replayed
// steps alike). Both devices end with the weights of the last good step.
class TerminateOnNaN : public Callback {
 public:
  int order() const override { return -9; }
  void before_fit(Learner& l) override;
  void after_loss(Learner& l) override;  // before backward: the weights stay finite
  void after_train(Learner& l) override;
  void after_validate(Learner& l) override;
  bool stopped = false;
  std::ostream* out = nullptr;  // where the one-line message goes; std::cerr when null

 private:
  void check(Learner& l, const std::string& where);
};

// Scales the gradients so that their global L2 norm is at most max_norm, between backward and
// the optimizer step (torch.nn.utils.clip_grad_norm_: scale = min(1, max_norm / (norm + 1e-6))).
// It is tensor work only — the norm is never read on the host — so it runs on every device and
// inside a captured CUDA Graph step (graph_mode record: its kernels are part of the graph).
// learn.values gets nothing; grad_norm() is the last norm seen (a tensor on the model's device).
class GradientClip : public Callback {
 public:
  explicit GradientClip(double max_norm);
  GraphMode graph_mode() const override { return GraphMode::record; }
  void after_backward(Learner& l) override;
  double max_norm;
  const Tensor& grad_norm() const { return norm_; }

 private:
  Tensor norm_;
};

// Clamps every gradient element to [-clip_value, clip_value] between backward and the step
// (torch.nn.utils.clip_grad_value_). Tensor work only, so it is recorded into a CUDA Graph step.
class GradientClipValue : public Callback {
 public:
  explicit GradientClipValue(double clip_value);
  GraphMode graph_mode() const override { return GraphMode::record; }
  void after_backward(Learner& l) override;
  double clip_value;
};

// Chooses the OpenMP thread count of the training steps by timing them, so that a busy core
// does not make a run slower on more threads than on fewer. With another process on one of
// the cores, every parallel region waits for the thread that shares that core (a static split
// is as slow as its slowest part), and waking a sleeping team behind a busy core costs a
// scheduler slice: a 2-thread step can then take several times a 1-thread one.
//
// Candidates: max_threads (0: omp_get_max_threads() at before_fit), halved down to 1
// (16, 8, 4, 2, 1). A probe runs each candidate for at least `probe` training batches and at
// least `min_seconds` of them (the first batch after a switch is not counted) and keeps the one
// with the lowest mean batch time: a mean over several scheduler time slices, since the cost
// of a shared core is the occasional long wait, which a median or a short window would miss.
// That one then runs `hold` batches, and the next probe follows. When a probe keeps the same count,
// the hold doubles (up to 16 x hold), so a steady machine probes less and less; a change resets it.
// Validation runs on the count in use. The count only decides which thread computes what: the
// kernels give the same numbers for any thread count, so a run's results do not depend on
// the choices. The count in use before the fit is restored when it ends, however it ends.
class AdaptiveThreads : public Callback {
 public:
  explicit AdaptiveThreads(int max_threads = 0, int64_t probe = 6, int64_t hold = 200,
                           double min_seconds = 0.05);
  int order() const override { return -30; }  // first in, last out: times the whole batch
  void before_fit(Learner& l) override;
  void before_batch(Learner& l) override;
  void after_batch(Learner& l) override;
  int max_threads;
  int64_t probe, hold;
  double min_seconds;
  std::vector<int> candidates;  // set at before_fit
  int threads() const { return current_; }
  // Every choice a probe made: (training batch at which it took effect, threads, the mean
  // batch time in seconds of each candidate, in `candidates` order).
  struct Choice {
    int64_t train_iter;
    int threads;
    std::vector<double> means;
  };
  std::vector<Choice> choices;

 private:
  void start_probe();
  int current_ = 1;
  int64_t hold_now_ = 0, left_ = 0;  // the current hold, batches left in the phase
  bool probing_ = false;
  size_t cand_ = 0;             // the candidate being probed
  int64_t done_ = 0;            // batches of this candidate in this probe
  std::vector<double> sum_;     // per candidate, this probe's timed seconds
  std::vector<int64_t> count_;  // and timed batches
  std::chrono::steady_clock::time_point t0_{};
};

// A draw from Beta(a, b) (a, b > 0), as the ratio of two Gamma draws (Marsaglia and Tsang).
double sample_beta(double a, double b, Generator& gen);

// Mixup (Zhang et al. 2018, fastai's MixUp), for training batches only: each batch draws
// lambda ~ Beta(alpha, alpha), taken as max(lambda, 1 - lambda) (fastai: the mix leans to the
// batch's own examples), and a permutation of the batch; the model sees
//   xb = lambda * xb + (1 - lambda) * xb[perm]
// and the loss is, through the Learner's own loss function,
//   lambda * loss_func(pred, yb) + (1 - lambda) * loss_func(pred, yb[perm])
// (the same as fastai's lerp of per-example losses for a mean-reduced loss). The loss_func is
// wrapped at before_fit and restored when the run ends, however it ends (Learner::at_run_end);
// validation batches pass through untouched. The draws for training batch t of a fit come from
// a generator keyed by (seed, t), so a run is the same for a seed and a resumed fit continues
// the draws. learn.yb stays the batch's own labels (training metrics read them).
// Refuses a captured CUDA Graph step: lambda and the permutation change every batch.
class Mixup : public Callback {
 public:
  explicit Mixup(double alpha = 0.4, uint64_t seed = 0);
  int order() const override { return -5; }  // after DeviceCallback (-20) has moved the batch
  GraphMode graph_mode() const override { return GraphMode::refuse; }
  void before_fit(Learner& l) override;
  void before_batch(Learner& l) override;
  double alpha;
  uint64_t seed;
  // The current training batch's draw (active: it is being mixed).
  bool active = false;
  double lambda = 1;
  std::vector<int32_t> perm;
  Tensor y_shuffled;

 private:
  int64_t batch_ = 0;  // training batches of this fit so far (resumed fits included)
};

enum class Mode { automatic, min, max };  // automatic: max for names with "acc", else min

// Stops the fit (CancelFit) when `monitor` (a key of learn.values) has not improved by more
// than min_delta for `patience` epochs.
class EarlyStopping : public Callback {
 public:
  EarlyStopping(std::string monitor = "valid_loss", int patience = 1, double min_delta = 0,
                Mode mode = Mode::automatic);
  int order() const override { return 40; }
  void before_fit(Learner& l) override;
  void after_epoch(Learner& l) override;
  std::string monitor;
  int patience;
  double min_delta;
  Mode mode;
  double best = 0;
  int64_t best_epoch = -1, stopped_epoch = -1;

 private:
  int wait_ = 0;
};

// Saves a checkpoint (model and optimizer, safetensors) whenever `monitor` improves, so `path`
// always holds the best epoch's weights; optionally reloads them when the fit ends. A fit that
// continues an earlier one (a resume) carries that one's best with carry(), so a worse epoch
// never replaces a better checkpoint; the metadata ("monitor", "value", "epoch") says what the
// file holds.
class SaveModel : public Callback {
 public:
  SaveModel(std::string path, std::string monitor = "valid_loss", Mode mode = Mode::automatic,
            bool load_best_at_end = false);
  int order() const override { return 35; }
  void before_fit(Learner& l) override;
  void after_epoch(Learner& l) override;
  void after_fit(Learner& l) override;
  // The best so far of the run this fit continues: the next fit starts from it, not from the
  // worst value, and best_epoch stays as given (-1: an epoch of that earlier run).
  void carry(double best_value, int64_t epoch = -1);
  std::string path, monitor;
  Mode mode;
  bool load_best_at_end;
  // Written into every save's metadata beside epoch, monitor and value: the trainer puts
  // tg::learner_metadata(learn) here, so its --save file is one load_learner reads.
  Metadata meta;
  double best = 0;
  int64_t best_epoch = -1;

 private:
  bool carried_ = false;
};

// torch.optim.lr_scheduler.ReduceLROnPlateau as a callback: after each epoch, when `monitor`
// has not improved for more than `patience` epochs, every group's lr becomes
// max(lr * factor, min_lr). Improvement is relative, as torch's default threshold_mode "rel":
// below best * (1 - threshold) when minimising, above best * (1 + threshold) when maximising.
// After a reduction, `cooldown` epochs pass before counting again. A ParamScheduler that
// schedules "lr" would overwrite the reduction every batch: a fit with both is refused.
class ReduceLROnPlateau : public Callback {
 public:
  ReduceLROnPlateau(std::string monitor = "valid_loss", double factor = 0.1, int patience = 10,
                    double threshold = 1e-4, double min_lr = 0, int cooldown = 0,
                    Mode mode = Mode::automatic);
  int order() const override { return 38; }  // after AvgStats has written the epoch's values
  void before_fit(Learner& l) override;
  void after_epoch(Learner& l) override;
  // A fit that continues an earlier one (a resume): the monitor's values of the epochs done,
  // replayed so that the count of bad epochs and the cooldown continue where they were. The lr
  // itself comes back with the optimizer's state; replay changes nothing there.
  void carry(const std::vector<double>& past);
  std::string monitor;
  double factor;
  int patience;
  double threshold, min_lr;
  int cooldown;
  Mode mode;
  double best = 0;
  std::vector<int64_t> reduced_at;  // the epochs after which the lr was reduced

 private:
  void reset();
  bool observe(double v);  // one epoch's value; true: reduce now
  int bad_epochs_ = 0, cooldown_left_ = 0;
  bool carried_ = false;
};

// A progress bar for the batches (with loss and ETA) on a terminal, redrawn in place; one plain
// line per epoch when the output is not a terminal or the CI environment variable is set.
class ProgressBar : public Callback {
 public:
  explicit ProgressBar(std::ostream* out = nullptr, bool force_plain = false);  // std::cout
  int order() const override { return 30; }
  void before_fit(Learner& l) override;
  void before_epoch(Learner& l) override;
  void before_train(Learner& l) override;
  void after_batch(Learner& l) override;
  void after_train(Learner& l) override;
  void after_epoch(Learner& l) override;
  void after_fit(Learner& l) override;
  bool interactive() const { return interactive_; }

 private:
  void clear_line();
  std::ostream* out_;
  bool interactive_;
  bool header_done_ = false;
  std::vector<std::string> columns_;  // of the table, fixed by the first epoch
  size_t drawn_ = 0;                  // length of the bar line on screen, 0 when none
  std::chrono::steady_clock::time_point phase_start_, last_draw_, epoch_start_;
};

// The learning-rate finder: an exponential sweep of lr over num_it training batches, stopped
// when the loss diverges (4x the best, or NaN); restores the weights and optimizer state when
// done. Runs with context lr_find and skips validation.
class LRFinder : public Callback {
 public:
  LRFinder(double start_lr = 1e-7, double end_lr = 10, int64_t num_it = 100, bool stop_div = true);
  int order() const override { return 50; }
  void before_fit(Learner& l) override;
  void before_batch(Learner& l) override;
  void after_loss(Learner& l) override;
  void before_validate(Learner& l) override;
  void after_fit(Learner& l) override;  // restore(l)
  // Puts back the model, the optimizer and the loader's epoch saved at before_fit (once; later
  // calls do nothing). after_fit calls it; lr_find() also calls it when the sweep ends in an
  // error, which skips after_fit.
  void restore(Learner& l);

  double start_lr, end_lr;
  int64_t num_it;
  bool stop_div;
  std::vector<double> lrs, losses, smoothed;  // per batch of the sweep
  // The suggested learning rate: where the smoothed loss falls fastest (steepest negative
  // slope) before the minimum; also the minimum's lr / 10.
  double suggestion() const;
  double min_lr_over_10() const;

 private:
  struct Window {
    size_t begin, end, min;  // points considered, [begin, end), and the smoothed minimum
  };
  Window window() const;
  std::map<std::string, Tensor> saved_model_, saved_opt_;
  int64_t saved_dl_epoch_ = 0;  // the training loader's epoch, restored too
  bool saved_ = false;
  double best_ = 0, avg_ = 0;
};

struct LRFindResult {
  std::vector<double> lrs, losses, smoothed;  // smoothed: the debiased moving average of losses
  double suggested_lr = 0, min_lr_over_10 = 0;
};
// Runs an LRFinder sweep on learn (as many epochs as num_it needs) and reports it.
LRFindResult lr_find(Learner& learn, double start_lr = 1e-7, double end_lr = 10,
                     int64_t num_it = 100);
// The sweep as a chart (loss and smoothed loss against lr, log x, the suggestion as a vertical
// line). Points above 1.5x the starting smoothed loss are left out, since the divergence at the
// end would squash the rest, and the chart's note says how many and from which batch.
Chart lr_find_chart(const LRFindResult& r);

}  // namespace tg
