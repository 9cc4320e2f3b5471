// Course step 05b, "early stopping" (fastai notebook 05b_early_stopping): callbacks stop
// things by throwing a Cancel exception — CancelBatch, CancelTrain, CancelValidate,
// CancelEpoch, CancelFit — each caught at its own level, instead of returning bools. Then two
// callbacks built on that: the learning-rate finder (an exponential sweep of lr that stops when
// the loss diverges) and EarlyStopping (stop when the validation loss stops improving).
//
//   build/bin/05b_early_stopping [--limit N] [--data DIR] [--epochs E] [--stop-after K]
//                                [--plot lr_find.svg]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "examples/common/course.h"
#include "learner/callbacks/callbacks.h"
#include "learner/io/checkpoint.h"
#include "learner/io/plot.h"
#include "learner/learner.h"

namespace {

// The notebook's TestCallback: counts the optimizer steps of the fit and throws Cancel once
// it has seen `limit` of them.
template <typename Cancel>
class StopAfter : public tg::Callback {
 public:
  explicit StopAfter(int64_t limit) : limit_(limit) {}
  void before_fit(tg::Learner&) override { steps = 0; }
  void after_step(tg::Learner&) override {
    if (++steps >= limit_) throw Cancel();
  }
  int64_t steps = 0;

 private:
  int64_t limit_;
};

// Writes down the events above the batch level, to show where each Cancel lands.
class EventTrace : public tg::Callback {
 public:
  int order() const override { return 100; }
  void before_fit(tg::Learner&) override { add("before_fit"); }
  void before_epoch(tg::Learner& l) override { add("before_epoch " + std::to_string(l.epoch + 1)); }
  void before_train(tg::Learner&) override { add("before_train"); }
  void after_cancel_train(tg::Learner& l) override {
    add("after_cancel_train (in batch " + std::to_string(l.iter + 1) + ")");
  }
  void after_train(tg::Learner&) override { add("after_train"); }
  void before_validate(tg::Learner&) override { add("before_validate"); }
  void after_validate(tg::Learner&) override { add("after_validate"); }
  void after_epoch(tg::Learner&) override { add("after_epoch"); }
  void after_cancel_fit(tg::Learner&) override { add("after_cancel_fit"); }
  void after_fit(tg::Learner&) override { add("after_fit"); }

  void print() const { std::printf("  events: %s\n", trace_.c_str()); }

 private:
  void add(const std::string& e) { trace_ += (trace_.empty() ? "" : ", ") + e; }
  std::string trace_;
};

}  // namespace

int main(int argc, char** argv) {
  course::Options o;
  o.epochs = 10;
  int64_t stop_after = 10, num_it = 100, patience = 1;
  course::Flags flags("05b_early_stopping",
                      "the Cancel exceptions shown with a callback that stops after N batches, "
                      "the LR finder (sweep summary and suggested lr) and EarlyStopping on "
                      "valid_loss.");
  flags.data(o).training(o);
  flags.integer("--stop-after", stop_after, "batches after which StopAfter cancels")
      .integer("--num-it", num_it, "batches of the LR finder's sweep (at least 5)", 5)
      .integer("--patience", patience, "epochs without improvement EarlyStopping waits")
      .text("--plot", "PATH", o.plot, "write the LR finder's loss against lr as SVG");
  if (auto rc = flags.parse_or_exit(argc, argv)) return *rc;

  return course::run([&] {
    const course::Data data = course::load_data(o);
    auto make_learner = [&](double lr, bool print_stats) {
      auto [model, opt] = course::get_model(data.d, o.nh, lr, o.seed);
      return std::make_unique<tg::Learner>(
          model, opt, tg::cross_entropy, tg::make_databunch(data.d, o.bs, o.seed),
          tg::LearnerOptions{.metrics = {tg::accuracy_metric()}},
          std::vector<std::shared_ptr<tg::Callback>>{std::make_shared<tg::AvgStats>(print_stats)});
    };
    auto learn = make_learner(o.lr, false);

    // 1. Cancel exceptions. CancelTrain ends the training phase: after_cancel_train and
    //    after_train run, the epoch goes on to validate, and the next epoch trains again.
    std::printf("\n1. fit(2) with StopAfter<CancelTrain>(%lld)\n",
                static_cast<long long>(stop_after));
    auto stop_train = std::make_shared<StopAfter<tg::CancelTrain>>(stop_after);
    auto trace = std::make_shared<EventTrace>();
    learn->fit(2, {stop_train, trace});
    trace->print();
    std::printf(
        "  optimizer steps: %lld (%lld, then 1 more in epoch 2: the count is already "
        "past the limit); valid_loss %.4f\n",
        static_cast<long long>(stop_train->steps), static_cast<long long>(stop_after),
        learn->values.at("valid_loss"));

    // CancelFit ends the whole fit: only after_cancel_fit and after_fit run.
    std::printf("\n   fit(2) with StopAfter<CancelFit>(%lld)\n",
                static_cast<long long>(stop_after));
    auto stop_fit = std::make_shared<StopAfter<tg::CancelFit>>(stop_after);
    trace = std::make_shared<EventTrace>();
    learn->fit(2, {stop_fit, trace});
    trace->print();
    std::printf("  optimizer steps: %lld\n", static_cast<long long>(stop_fit->steps));

    // 2. The LR finder: lr grows from 1e-6 to 10 over num_it batches; the sweep stops when the
    //    smoothed loss exceeds 4x its best; the weights and the optimizer are put back after.
    learn = make_learner(o.lr, false);
    std::printf("\n2. tg::lr_find(learn, 1e-6, 10, %lld)\n", static_cast<long long>(num_it));
    const tg::LRFindResult r = tg::lr_find(*learn, 1e-6, 10, num_it);
    size_t best = 0;
    for (size_t i = 0; i < r.smoothed.size(); ++i)
      if (r.smoothed[i] < r.smoothed[best]) best = i;
    std::printf("  %zu batches, lr %.3g to %.3g%s\n", r.lrs.size(), r.lrs.front(), r.lrs.back(),
                static_cast<int64_t>(r.lrs.size()) < num_it ? " (stopped: the loss diverged)" : "");
    std::printf("  %8s  %8s  %8s\n", "lr", "loss", "smoothed");
    const size_t step = std::max<size_t>(1, r.lrs.size() / 10);
    for (size_t i = 0; i < r.lrs.size(); i += step)
      std::printf("  %8.2g  %8.4f  %8.4f\n", r.lrs[i], r.losses[i], r.smoothed[i]);
    std::printf("  lowest smoothed loss %.4f at lr %.3g\n", r.smoothed[best], r.lrs[best]);
    std::printf("  suggested lr %.3g (steepest descent); min lr / 10 = %.3g\n", r.suggested_lr,
                r.min_lr_over_10);
    if (!o.plot.empty()) {
      // The smoothed loss, less the last 5 points as the notebook's plot(skip_last=5): the
      // divergence at the end would squash the rest of the curve.
      const size_t n = r.lrs.size() > 10 ? r.lrs.size() - 5 : r.lrs.size();
      const std::vector<double> lrs(r.lrs.begin(), r.lrs.begin() + n),
          smoothed(r.smoothed.begin(), r.smoothed.begin() + n);
      course::make_parent_dir(o.plot);
      tg::write_file_atomic(o.plot, tg::svg_chart("LR finder", "learning rate", "smoothed loss",
                                                  {{"smoothed loss", lrs, smoothed}},
                                                  /*log_x=*/true));
      std::printf("  wrote %s\n", o.plot.c_str());
    }

    // 3. EarlyStopping: stops (CancelFit) once valid_loss has not improved for `patience`
    //    epochs. It reads learn.values, which AvgStats writes after every epoch.
    std::printf("\n3. fit(%lld) at lr %g with EarlyStopping(\"valid_loss\", patience %lld)\n",
                static_cast<long long>(o.epochs), o.lr, static_cast<long long>(patience));
    learn = make_learner(o.lr, true);
    auto es = std::make_shared<tg::EarlyStopping>("valid_loss", static_cast<int>(patience));
    learn->fit(o.epochs, {es});
    if (es->stopped_epoch >= 0)
      std::printf("  stopped after epoch %lld; best valid_loss %.4f at epoch %lld\n",
                  static_cast<long long>(es->stopped_epoch + 1), es->best,
                  static_cast<long long>(es->best_epoch + 1));
    else
      std::printf("  did not stop: valid_loss improved to the end (best %.4f at epoch %lld)\n",
                  es->best, static_cast<long long>(es->best_epoch + 1));
    return 0;
  });
}
