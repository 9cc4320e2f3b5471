// The event contract of shared/design.md: the exact trace of a fit, each Cancel from each event
// it can come from, plain exceptions, ordering, per-fit callbacks and the run context.
#include <doctest/doctest.h>

#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "event_tracer.h"
#include "learner/callbacks/callbacks.h"
#include "learner_fixture.h"
#include "tensor/grad_mode.h"
#include "tensor/ops.h"

using namespace tg;
using tg::test::tiny_learner;

namespace {

const std::vector<Event> kAllEvents = {Event::after_create,       Event::before_fit,
                                       Event::before_epoch,       Event::before_train,
                                       Event::before_batch,       Event::after_pred,
                                       Event::after_loss,         Event::before_backward,
                                       Event::after_backward,     Event::before_step,
                                       Event::after_step,         Event::after_batch,
                                       Event::after_train,        Event::before_validate,
                                       Event::after_validate,     Event::after_epoch,
                                       Event::after_fit,          Event::after_cancel_backward,
                                       Event::after_cancel_step,  Event::after_cancel_batch,
                                       Event::after_cancel_train, Event::after_cancel_validate,
                                       Event::after_cancel_epoch, Event::after_cancel_fit};

using tg::test::Tracer;

using Trace = std::vector<std::string>;

Trace train_batch() {
  return {"before_batch",   "after_pred",  "after_loss", "before_backward",
          "after_backward", "before_step", "after_step", "after_batch"};
}
Trace valid_batch() {
  return {"before_batch", "after_pred", "after_loss", "after_batch"};
}
Trace operator+(Trace a, const Trace& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// One epoch of the tiny learner: two training batches, one validation batch.
Trace one_epoch() {
  return Trace{"before_epoch", "before_train"} + train_batch() + train_batch() +
         Trace{"after_train", "before_validate"} + valid_batch() +
         Trace{"after_validate", "after_epoch"};
}

Trace fit_trace(const std::shared_ptr<Tracer>& t) {
  return Trace(t->trace.begin() + 1, t->trace.end());  // without after_create
}

}  // namespace

// The table in events.h is the one list: these names, in this order, and each event reaches the
// handler of its own name.
TEST_CASE("events: the event table holds the 24 events in order, each dispatched to its handler") {
  const std::vector<std::string> names = {"after_create",       "before_fit",
                                          "before_epoch",       "before_train",
                                          "before_batch",       "after_pred",
                                          "after_loss",         "before_backward",
                                          "after_backward",     "before_step",
                                          "after_step",         "after_batch",
                                          "after_train",        "before_validate",
                                          "after_validate",     "after_epoch",
                                          "after_fit",          "after_cancel_backward",
                                          "after_cancel_step",  "after_cancel_batch",
                                          "after_cancel_train", "after_cancel_validate",
                                          "after_cancel_epoch", "after_cancel_fit"};
  REQUIRE(kNumEvents == static_cast<int>(names.size()));
  REQUIRE(kAllEvents.size() == names.size());
  auto learn = tiny_learner();
  Tracer t;
  for (int i = 0; i < kNumEvents; ++i) {
    const Event e = static_cast<Event>(i);
    CHECK(e == kAllEvents[static_cast<size_t>(i)]);
    CHECK(event_name(e) == names[static_cast<size_t>(i)]);
    t.handle(e, *learn);
  }
  CHECK(t.trace == names);
  CHECK(std::string(event_name(static_cast<Event>(kNumEvents))) == "unknown_event");
}

TEST_CASE("events: the exact trace of a full fit") {
  auto t = std::make_shared<Tracer>();
  auto learn = tiny_learner({t});
  REQUIRE(t->trace == Trace{"after_create"});
  learn->fit(2);
  CHECK(fit_trace(t) == Trace{"before_fit"} + one_epoch() + one_epoch() + Trace{"after_fit"});
}

TEST_CASE("events: fit(0) runs only before_fit and after_fit") {
  auto t = std::make_shared<Tracer>();
  auto learn = tiny_learner({t});
  learn->fit(0);
  CHECK(fit_trace(t) == Trace{"before_fit", "after_fit"});
}

TEST_CASE("events: exact traces of cancels at each level") {
  auto run = [](Event at, std::function<void()> thrower) {
    auto t = std::make_shared<Tracer>();
    t->at = at;
    t->thrower = std::move(thrower);
    auto learn = tiny_learner({t});
    learn->fit(1);
    return fit_trace(t);
  };
  // CancelFit from before_fit: nothing runs but the cancel and after_fit.
  CHECK(run(Event::before_fit, [] { throw CancelFit(); }) ==
        Trace{"before_fit", "after_cancel_fit", "after_fit"});
  // CancelEpoch from before_epoch: the epoch's body is skipped.
  CHECK(run(Event::before_epoch, [] { throw CancelEpoch(); }) ==
        Trace{"before_fit", "before_epoch", "after_cancel_epoch", "after_epoch", "after_fit"});
  // CancelTrain from the first after_batch: training stops, validation still runs.
  CHECK(run(Event::after_batch, [] { throw CancelTrain(); }) ==
        Trace{"before_fit", "before_epoch", "before_train"} + train_batch() +
            Trace{"after_cancel_train", "after_train", "before_validate"} + valid_batch() +
            Trace{"after_validate", "after_epoch", "after_fit"});
  // CancelValidate from before_validate.
  CHECK(run(Event::before_validate, [] { throw CancelValidate(); }) ==
        Trace{"before_fit", "before_epoch", "before_train"} + train_batch() + train_batch() +
            Trace{"after_train", "before_validate", "after_cancel_validate", "after_validate",
                  "after_epoch", "after_fit"});
  // CancelBatch from the first after_pred: that batch ends, the next one runs.
  CHECK(run(Event::after_pred, [] { throw CancelBatch(); }) ==
        Trace{"before_fit", "before_epoch", "before_train", "before_batch", "after_pred",
              "after_cancel_batch", "after_batch"} +
            train_batch() + Trace{"after_train", "before_validate"} + valid_batch() +
            Trace{"after_validate", "after_epoch", "after_fit"});
  // CancelBackward from before_backward: no backward, but the step still runs.
  CHECK(run(Event::before_backward, [] { throw CancelBackward(); }) ==
        Trace{"before_fit", "before_epoch", "before_train", "before_batch", "after_pred",
              "after_loss", "before_backward", "after_cancel_backward", "after_backward",
              "before_step", "after_step", "after_batch"} +
            train_batch() + Trace{"after_train", "before_validate"} + valid_batch() +
            Trace{"after_validate", "after_epoch", "after_fit"});
  // CancelStep from before_step: the step is skipped.
  CHECK(run(Event::before_step, [] { throw CancelStep(); }) ==
        Trace{"before_fit", "before_epoch", "before_train", "before_batch", "after_pred",
              "after_loss", "before_backward", "after_backward", "before_step", "after_cancel_step",
              "after_step", "after_batch"} +
            train_batch() + Trace{"after_train", "before_validate"} + valid_batch() +
            Trace{"after_validate", "after_epoch", "after_fit"});
}

namespace {

// The specification of the cancel rules, written as a plain simulation of one epoch (two
// training batches, one validation batch): the Learner must produce exactly its traces.
struct Spec {
  Event at = Event::after_create;
  std::string level;  // the Cancel thrown, by level name
  bool fired = false;
  Trace out;
  struct Thrown {
    std::string level;
  };
  void fire(Event e) {
    out.push_back(event_name(e));
    if (!fired && e == at) {
      fired = true;
      throw Thrown{level};
    }
  }
  template <typename F>
  void level_(const std::string& lvl, Event before, Event cancel, Event after, F body) {
    try {
      fire(before);
      body();
    } catch (const Thrown& t) {
      if (t.level != lvl) throw;
      fire(cancel);
    }
    fire(after);
  }
  void batch(bool train) {
    level_("batch", Event::before_batch, Event::after_cancel_batch, Event::after_batch, [&] {
      fire(Event::after_pred);
      fire(Event::after_loss);
      if (!train) return;
      level_("backward", Event::before_backward, Event::after_cancel_backward,
             Event::after_backward, [] {});
      level_("step", Event::before_step, Event::after_cancel_step, Event::after_step, [] {});
    });
  }
  // Returns false when the cancel escaped its level (the Learner reports an error then).
  bool run() {
    try {
      level_("fit", Event::before_fit, Event::after_cancel_fit, Event::after_fit, [&] {
        level_("epoch", Event::before_epoch, Event::after_cancel_epoch, Event::after_epoch, [&] {
          level_("train", Event::before_train, Event::after_cancel_train, Event::after_train, [&] {
            batch(true);
            batch(true);
          });
          level_("validate", Event::before_validate, Event::after_cancel_validate,
                 Event::after_validate, [&] { batch(false); });
        });
      });
      return true;
    } catch (const Thrown&) {
      return false;
    }
  }
};

const std::map<std::string, std::function<void()>> kThrowers = {
    {"fit", [] { throw CancelFit(); }},          {"epoch", [] { throw CancelEpoch(); }},
    {"train", [] { throw CancelTrain(); }},      {"validate", [] { throw CancelValidate(); }},
    {"batch", [] { throw CancelBatch(); }},      {"step", [] { throw CancelStep(); }},
    {"backward", [] { throw CancelBackward(); }}};

}  // namespace

TEST_CASE("events: every Cancel from every event gives the specified trace") {
  int caught = 0, escaped = 0;
  for (const auto& level_thrower : kThrowers) {  // no structured binding: CAPTURE needs a name
    const auto& level = level_thrower.first;     // clang 14 can capture
    const auto& thrower = level_thrower.second;
    for (Event at : kAllEvents) {
      if (at == Event::after_create) continue;
      Spec spec;
      spec.at = at;
      spec.level = level;
      bool ok = spec.run();
      auto t = std::make_shared<Tracer>();
      t->at = at;
      t->thrower = thrower;
      auto learn = tiny_learner({t});
      CAPTURE(level);
      CAPTURE(event_name(at));
      if (ok) {
        CHECK_NOTHROW(learn->fit(1));
        CHECK(fit_trace(t) == spec.out);
        caught += spec.fired;
      } else {
        // Thrown outside its level: a clear error, naming the cancel, and no after_ events
        // past that point.
        CHECK_THROWS_WITH_AS(learn->fit(1), doctest::Contains("outside the level"), tg::Error);
        CHECK(fit_trace(t) == spec.out);
        ++escaped;
      }
    }
  }
  CHECK(caught > 40);  // the matrix really exercised the catching paths
  CHECK(escaped > 10);
}

TEST_CASE("events: a plain exception unwinds without after_ events, nested with its context") {
  auto t = std::make_shared<Tracer>();
  t->at = Event::after_loss;
  int hits = 0;
  t->thrower = [&] {
    if (++hits == 1) throw std::runtime_error("boom");
  };
  auto learn = tiny_learner({t});
  try {
    learn->fit(1);
    FAIL("fit should have thrown");
  } catch (const tg::Error& e) {
    std::string msg = e.what();
    CHECK(msg.find("Tracer") != std::string::npos);
    CHECK(msg.find("after_loss") != std::string::npos);
    CHECK(msg.find("epoch 0") != std::string::npos);
    CHECK(msg.find("iter 0") != std::string::npos);
    try {
      std::rethrow_if_nested(e);
      FAIL("not nested");
    } catch (const std::runtime_error& inner) {
      CHECK(std::string(inner.what()) == "boom");
    }
  }
  CHECK(fit_trace(t) == Trace{"before_fit", "before_epoch", "before_train", "before_batch",
                              "after_pred", "after_loss"});
  CHECK(learn->context == RunContext::none);
}

TEST_CASE("events: callbacks run by order, ties in insertion order") {
  std::vector<std::string> log;
  struct Named : Callback {
    std::string n;
    int o;
    std::vector<std::string>* log;
    Named(std::string n, int o, std::vector<std::string>* log) : n(std::move(n)), o(o), log(log) {}
    int order() const override { return o; }
    void before_fit(Learner&) override { log->push_back(n); }
  };
  struct A : Named {
    using Named::Named;
  };
  struct B : Named {
    using Named::Named;
  };
  struct C : Named {
    using Named::Named;
  };
  struct D : Named {
    using Named::Named;
  };
  auto learn = tiny_learner({std::make_shared<A>("a5", 5, &log), std::make_shared<B>("b1", 1, &log),
                             std::make_shared<C>("c5", 5, &log)});
  learn->fit(1, {std::make_shared<D>("d-3", -3, &log)});
  CHECK(log == std::vector<std::string>{"d-3", "b1", "a5", "c5"});
  // TrainEval (order -10) comes first of all.
  CHECK(learn->cbs().front()->name() == "TrainEval");
}

TEST_CASE("events: a second callback of the same type is refused") {
  auto learn = tiny_learner({std::make_shared<AvgStats>(false)});
  CHECK_THROWS_WITH_AS(learn->add_cb(std::make_shared<AvgStats>(false)),
                       doctest::Contains("AvgStats"), tg::Error);
  // Also for fit's extra callbacks; the Learner is unchanged afterwards.
  size_t n = learn->cbs().size();
  CHECK_THROWS_AS(learn->fit(1, {std::make_shared<Recorder>(), std::make_shared<AvgStats>(false)}),
                  tg::Error);
  CHECK(learn->cbs().size() == n);
  CHECK(learn->cb<Recorder>() == nullptr);
}

TEST_CASE("events: add, look up and remove callbacks by type") {
  auto learn = tiny_learner();
  CHECK(learn->cb<Recorder>() == nullptr);
  learn->add_cb(std::make_shared<Recorder>());
  REQUIRE(learn->cb<Recorder>() != nullptr);
  CHECK(learn->remove_cb<Recorder>());
  CHECK(learn->cb<Recorder>() == nullptr);
  CHECK_FALSE(learn->remove_cb<Recorder>());
}

TEST_CASE("events: callbacks given to fit live for that fit only, however it ends") {
  auto learn = tiny_learner();
  size_t n = learn->cbs().size();
  auto t = std::make_shared<Tracer>();
  learn->fit(1, {t});
  CHECK(learn->cbs().size() == n);
  // Ends by error.
  auto bad = std::make_shared<Tracer>();
  bad->at = Event::after_batch;
  bad->thrower = [] { throw std::logic_error("bad"); };
  CHECK_THROWS_AS(learn->fit(1, {bad}), tg::Error);
  CHECK(learn->cbs().size() == n);
  // Ends by CancelFit.
  auto stop = std::make_shared<Tracer>();
  stop->at = Event::before_epoch;
  stop->thrower = [] { throw CancelFit(); };
  learn->fit(3, {stop});
  CHECK(learn->cbs().size() == n);
}

TEST_CASE("events: fit twice leaks no state") {
  auto stats = std::make_shared<AvgStats>(false);
  auto learn = tiny_learner({stats});
  learn->fit(2);
  CHECK(learn->train_iter == 4);
  CHECK(stats->history.size() == 2);
  auto t = std::make_shared<Tracer>();
  learn->fit(1, {t});
  CHECK(learn->train_iter == 2);  // counted afresh
  CHECK(learn->pct_train == doctest::Approx(1.0));
  CHECK(stats->history.size() == 1);
  // Added for this fit only: it never saw after_create.
  CHECK(t->trace == Trace{"before_fit"} + one_epoch() + Trace{"after_fit"});
  CHECK(learn->context == RunContext::none);
  CHECK(learn->dl == nullptr);
}

TEST_CASE("events: a callback changing lr mid-fit is seen by the optimizer") {
  struct SetLr : Callback {
    std::vector<double> seen;
    void before_batch(Learner& l) override {
      if (l.training && l.iter == 1) l.opt->set("lr", 0.025);
    }
    void after_step(Learner& l) override { seen.push_back(l.opt->get("lr")); }
  };
  auto cb = std::make_shared<SetLr>();
  auto learn = tiny_learner({cb});
  learn->fit(1);
  CHECK(cb->seen == std::vector<double>{0.1, 0.025});
  CHECK(learn->opt->get("lr", 0) == 0.025);
}

TEST_CASE("events: callbacks read typed state and the run context") {
  struct Look : Callback {
    std::vector<std::string> seen;
    void before_fit(Learner& l) override { seen.push_back(context_name(l.context)); }
    void before_validate(Learner& l) override {
      seen.push_back(std::string("validate:") + context_name(l.context));
    }
    void after_pred(Learner& l) override {
      CHECK(l.pred.shape() == Shape{l.xb.size(0), 3});
      CHECK(l.training == l.model->is_training());
    }
    void after_loss(Learner& l) override { CHECK(l.loss.numel() == 1); }
  };
  auto look = std::make_shared<Look>();
  auto learn = tiny_learner({look});
  learn->fit(1);
  learn->validate();
  learn->get_preds();
  CHECK(look->seen ==
        std::vector<std::string>{"fit", "validate:fit", "validate:validate", "validate:get_preds"});
}

TEST_CASE("events: validate runs only the validation events and returns loss and metrics") {
  auto t = std::make_shared<Tracer>();
  auto learn = tiny_learner({t});
  auto r = learn->validate();
  CHECK(fit_trace(t) == Trace{"before_validate"} + valid_batch() + Trace{"after_validate"});
  CHECK(r.count("loss") == 1);
  CHECK(r.count("accuracy") == 1);
  CHECK(r["accuracy"] >= 0);
  CHECK(r["accuracy"] <= 1);
  // The same loss as computing it by hand on the validation set.
  NoGrad guard;
  const Dataset& v = *learn->data.valid_dl.dataset();
  learn->model->eval();
  double expect = cross_entropy((*learn->model)(v.x()), v.y()).item<double>();
  CHECK(r["loss"] == doctest::Approx(expect));
}

TEST_CASE("events: get_preds returns every prediction and target in order") {
  auto learn = tiny_learner({}, tg::test::tiny_data(4, 5, 2));
  auto p = learn->get_preds();
  CHECK(p.preds.shape() == Shape{5, 3});
  CHECK(p.targets.shape() == Shape{5});
  CHECK(equal(p.targets, learn->data.valid_dl.dataset()->y()));
  CHECK_FALSE(p.preds.requires_grad());
}

TEST_CASE("events: TrainEval sets modes and progress counters") {
  struct Watch : Callback {
    std::vector<double> pct;
    std::vector<bool> modes;
    void before_batch(Learner& l) override {
      if (l.training) pct.push_back(l.pct_train);
      modes.push_back(l.model->is_training());
    }
  };
  auto w = std::make_shared<Watch>();
  auto learn = tiny_learner({w});
  learn->fit(2);
  CHECK(w->pct == std::vector<double>{0, 0.25, 0.5, 0.75});
  CHECK(w->modes == std::vector<bool>{true, true, false, true, true, false});
  CHECK(learn->train_iter == 4);
}

TEST_CASE("events: AvgStats averages with batch-size weights and prints one line per epoch") {
  std::ostringstream out;
  auto stats = std::make_shared<AvgStats>(true, &out);
  // 5 training examples in batches of 2: sizes 2, 2, 1.
  auto learn = tiny_learner({stats}, tg::test::tiny_data(5, 3, 2));
  struct Sizes : Callback {
    double n = 0, loss = 0;
    int order() const override { return 50; }
    void after_loss(Learner& l) override {
      if (!l.training) return;
      n += l.xb.size(0);
      loss += l.xb.size(0) * l.loss.item<double>();
    }
  };
  auto sizes = std::make_shared<Sizes>();
  learn->fit(1, {sizes});
  CHECK(stats->train.n == 5);
  CHECK(learn->values["train_loss"] == doctest::Approx(sizes->loss / 5));
  CHECK(learn->values.count("valid_accuracy") == 1);
  CHECK(learn->values.count("epoch_seconds") == 1);
  std::string s = out.str();
  CHECK(s.find("epoch 1/1") != std::string::npos);
  CHECK(s.find("valid_loss") != std::string::npos);
  CHECK(std::count(s.begin(), s.end(), '\n') == 1);
}

TEST_CASE("events: fit refuses a negative epoch count and a nested fit") {
  auto learn = tiny_learner();
  CHECK_THROWS_WITH_AS(learn->fit(-1), doctest::Contains("epochs"), tg::Error);
  struct Nested : Callback {
    void before_fit(Learner& l) override { l.fit(1); }
  };
  CHECK_THROWS_WITH_AS(learn->fit(1, {std::make_shared<Nested>()}),
                       doctest::Contains("already running"), tg::Error);
}
