// Learner: a model, an optimizer, a loss function and data, trained by fit() while callbacks
// watch and steer every step (the fastai Learner, in C++).
//
//   auto model = tg::nn::mlp({784, 50, 10}, gen);
//   auto opt = std::make_shared<SGD>(model->parameters(), SGDOptions{.lr = 0.5});  // of tg::optim
//   tg::Learner learn(model, opt, tg::cross_entropy, data, {.metrics = {tg::accuracy_metric()}});
//   learn.fit(3, {std::make_shared<tg::AvgStats>()});  // callbacks for this fit only
//
// The Learner works with any tg::optim::Optimizer and never names a concrete one; the body of
// a training batch is learn.step (step.h), the running figures are learn.tally (tally.h).
//
// The state is public and plain: callbacks read and write it (see callback.h). The event order
// and the cancel rules are in events.h; callbacks passed to fit() are removed when it ends,
// however it ends; fit() resets the per-fit state, so nothing leaks from one fit to the next.
// An exception other than a Cancel thrown by a callback unwinds without the after_ events,
// wrapped (std::throw_with_nested) in a tg::Error naming the callback, the event, the epoch
// and the iteration.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <typeinfo>
#include <vector>

#include "learner/callback.h"
#include "learner/data/data.h"
#include "learner/step.h"
#include "learner/tally.h"
#include "nn/module.h"
#include "optim/optimizer.h"

namespace tg {

struct Prediction;  // learner/inference.h

using LossFn = std::function<Tensor(const Tensor& pred, const Tensor& target)>;

struct LearnerOptions {
  std::vector<Metric> metrics;
  bool train_eval = true;  // add the TrainEval callback (train/eval mode, progress counters)
};

class Learner {
 public:
  Learner(std::shared_ptr<nn::Module> model, std::shared_ptr<optim::Optimizer> opt,
          LossFn loss_func, DataBunch data, LearnerOptions options = {},
          std::vector<std::shared_ptr<Callback>> cbs = {});

  // Trains for n epochs; extra callbacks live for this fit only. start_epoch > 0 runs only
  // epochs start_epoch..n_epochs-1 of the n-epoch fit: the rest of a fit whose first epochs
  // ran before (a resume, tg::load_train_state): epoch numbers, pct_train and train_iter are
  // those of the unbroken fit, so schedules continue where they were.
  void fit(int64_t n_epochs, std::vector<std::shared_ptr<Callback>> extra_cbs = {},
           int64_t start_epoch = 0);

  // The validation phase alone (before_validate, batches, after_validate) on dl (default:
  // data.valid_dl), context validate. Returns the size-weighted mean loss as "loss" and each
  // metric under its name.
  std::map<std::string, double> validate(DataLoader* dl = nullptr,
                                         std::vector<std::shared_ptr<Callback>> extra_cbs = {});
  // Predictions and targets of every batch of dl (default: data.valid_dl), concatenated; runs
  // the validation events with context get_preds. The predictions go through `activation`
  // (probabilities for cross-entropy, as fastai gives them) unless raw is true.
  // decoded: each row's class, the argmax of preds (int32 (n)), when preds are (n, classes).
  struct Preds {
    Tensor preds, targets, decoded;
  };
  Preds get_preds(DataLoader* dl = nullptr, bool raw = false);
  // The conveniences of learner/inference.h as members (fastai's names): the layer table of
  // tg::summary(learn), and tg::predict(learn, item) (include learner/inference.h to use it).
  std::string summary();
  Prediction predict(const Tensor& item);

  // Callbacks, sorted by order(), ties in insertion order; one per type.
  void add_cb(std::shared_ptr<Callback> cb);
  void remove_cb(const Callback* cb);
  template <typename T>
  T* cb() const {
    for (const auto& c : cbs_)
      if (auto* t = dynamic_cast<T*>(c.get())) return t;
    return nullptr;
  }
  template <typename T>
  bool remove_cb() {
    T* t = cb<T>();
    if (t) remove_cb(t);
    return t != nullptr;
  }
  const std::vector<std::shared_ptr<Callback>>& cbs() const { return cbs_; }

  // Runs every callback's handler for e, in order (what fit does at each event).
  void event(Event e);
  // Runs the handlers for e of the callbacks whose graph_mode() is mode only (a captured step
  // fires its in-step events this way: callback.h).
  void event_for(Event e, GraphMode mode);

  // --- for BatchStep implementations (learner/step.h) -----------------------------------------
  // The backward and the step levels: before_, body, after_, with CancelBackward / CancelStep
  // turned into after_cancel_ as events.h says.
  void backward_level(const std::function<void()>& body);
  void step_level(const std::function<void()>& body);
  // Adds the current batch (loss, pred, yb, its size) to the tally; a step calls it once per
  // batch, after the loss and before after_loss (loss_summed: Tally::add says).
  void record_batch(bool loss_summed = false);

  // --- the state callbacks read and write -------------------------------------------------
  std::shared_ptr<nn::Module> model;
  std::shared_ptr<optim::Optimizer> opt;
  LossFn loss_func;
  // What get_preds applies to the model's outputs: softmax when loss_func is tg::cross_entropy
  // or an nn::CrossEntropyLoss (set by the constructor), none (an empty function) otherwise.
  std::function<Tensor(const Tensor&)> activation;
  // The body of a training batch: EagerStep unless set (CudaGraphStep, learner/graph_step.h).
  std::shared_ptr<BatchStep> step = std::make_shared<EagerStep>();
  DataBunch data;
  std::vector<Metric> metrics;

  RunContext context = RunContext::none;  // what the Learner is running now
  DataLoader* dl = nullptr;               // the loader of the current phase
  Tensor xb, yb, pred, loss;              // the current batch and what came of it
  int64_t epochs = 0;                     // of this fit
  int64_t start_epoch = 0;                // the first epoch this fit runs (0 unless resumed)
  int64_t epoch = 0;                      // current epoch, from 0
  int64_t iter = 0;                       // batch index within the current phase
  int64_t n_iter = 0;                     // batches in the current phase
  int64_t train_iter = 0;                 // training batches done in this fit (TrainEval)
  double pct_train = 0;                   // fraction of this fit's training done, 0..1
  bool training = false;                  // in the training phase
  // The running figures of the current phase (tally.h): flushed before after_train and
  // after_validate, read there by AvgStats, Recorder, TerminateOnNaN.
  Tally tally;
  // Set by TerminateOnNaN at before_fit: each batch hands the tally's device loss sum to the
  // optimizer (Optimizer::set_nonfinite_guard), so on a GPU no step applies a non-finite loss.
  bool guard_nonfinite_steps = false;
  // The latest epoch's figures ("train_loss", "valid_loss", "valid_accuracy", ...), written by
  // AvgStats and read by EarlyStopping, SaveModel, Recorder and the trainer.
  std::map<std::string, double> values;

  // Runs f when the current run (fit, lr_find, validate, get_preds) ends, however it ends
  // (also on an error, which skips after_fit): the scope guard for a callback that swaps
  // Learner state for one run (Mixup's loss_func). Run in reverse order of registration.
  void at_run_end(std::function<void()> f) { run_end_.push_back(std::move(f)); }
  void run_end();  // runs and clears them now (the run's guard calls it)

  // Used by lr_find and friends: fit with a given context.
  void fit_in_context(RunContext ctx, int64_t n_epochs,
                      std::vector<std::shared_ptr<Callback>> extra_cbs, int64_t start_epoch = 0);

 private:
  template <typename Cancel, typename F>
  void with_events(Event before, Event after_cancel, Event after, F&& body, bool flush = false);
  void do_epoch();
  void do_train();
  void do_validate(DataLoader* loader);
  void all_batches();
  void one_batch();
  void reset_state();
  void run_validation(RunContext ctx, DataLoader* loader,
                      std::vector<std::shared_ptr<Callback>> cbs);
  std::vector<std::shared_ptr<Callback>> add_for_run(std::vector<std::shared_ptr<Callback>> cbs);

  std::vector<std::shared_ptr<Callback>> cbs_;
  std::vector<std::function<void()>> run_end_;  // at_run_end's, for the current run
};

}  // namespace tg
