// Schedules against hand-computed values (pos 0, 0.25, 0.5, 1), combine_scheds' pieces,
// boundaries, clamping and validation, the one-cycle pair, and ParamScheduler driving an
// optimizer's hyper-parameters from them during a fit.
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>

#include "learner/callbacks/callbacks.h"
#include "learner/schedule.h"
#include "learner_fixture.h"
#include "test_util.h"

using namespace tg;
using tg::test::error_of;
using tg::test::has;
using tg::test::messages;

namespace {

constexpr double kEps = 1e-12;

// A 4-8-3 MLP on 16 training examples in 4 batches (8 validation examples in 2), SGD.
std::unique_ptr<Learner> learner_with(optim::SGDOptions sgd) {
  Generator gen(5);
  auto model = nn::mlp({4, 8, 3}, gen);
  auto opt = std::make_shared<optim::SGD>(model->parameters(), sgd);
  return std::make_unique<Learner>(
      model, opt, [](const Tensor& p, const Tensor& y) { return cross_entropy(p, y); },
      tg::test::tiny_data(16, 8, 4));
}

// What the optimizer holds when each batch runs (after the scheduler, order 5).
struct HyperProbe : Callback {
  std::vector<double> lr, momentum, valid_lr;
  int order() const override { return 6; }
  void before_batch(Learner& l) override {
    if (!l.training) return valid_lr.push_back(l.opt->get("lr"));
    lr.push_back(l.opt->get("lr"));
    momentum.push_back(l.opt->get("momentum"));
  }
};

// The messages of an exception and of those nested in it.

}  // namespace

TEST_CASE("schedule: sched_no is constant") {
  Schedule s = sched_no(0.3);
  for (double pos : {0.0, 0.25, 0.5, 1.0}) CHECK(s(pos) == 0.3);
}

TEST_CASE("schedule: sched_lin hand values") {
  Schedule s = sched_lin(1, 3);
  CHECK(s(0) == doctest::Approx(1).epsilon(kEps));
  CHECK(s(0.25) == doctest::Approx(1.5).epsilon(kEps));
  CHECK(s(0.5) == doctest::Approx(2).epsilon(kEps));
  CHECK(s(1) == doctest::Approx(3).epsilon(kEps));
  CHECK(sched_lin(2, -2)(0.75) == doctest::Approx(-1).epsilon(kEps));  // going down
}

TEST_CASE("schedule: sched_cos hand values, flat at both ends") {
  Schedule s = sched_cos(1, 3);
  CHECK(s(0) == doctest::Approx(1).epsilon(kEps));
  // start + (1 + cos(pi * (1 - pos))) * (end - start) / 2 = 1 + (1 - sqrt(2)/2) at pos 0.25
  CHECK(s(0.25) == doctest::Approx(2 - std::sqrt(0.5)).epsilon(kEps));
  CHECK(s(0.5) == doctest::Approx(2).epsilon(kEps));
  CHECK(s(1) == doctest::Approx(3).epsilon(kEps));
  // Zero slope at the ends: a step of 1e-3 moves it by about (pi * 1e-3)^2 / 2 of the range.
  CHECK(std::abs(s(1e-3) - s(0)) < 1e-5);
  CHECK(std::abs(s(1) - s(1 - 1e-3)) < 1e-5);
  CHECK(sched_cos(0.5, 0.1)(0.25) == doctest::Approx(0.5 - 0.4 * (1 - std::sqrt(0.5)) / 2));
}

TEST_CASE("schedule: sched_exp hand values") {
  Schedule s = sched_exp(1e-3, 1e-1);
  CHECK(s(0) == doctest::Approx(1e-3).epsilon(kEps));
  CHECK(s(0.25) == doctest::Approx(1e-3 * std::sqrt(10.0)).epsilon(kEps));
  CHECK(s(0.5) == doctest::Approx(1e-2).epsilon(kEps));
  CHECK(s(1) == doctest::Approx(1e-1).epsilon(kEps));
  CHECK(has(error_of([] { sched_exp(0, 1); }), "sched_exp"));
  CHECK(has(error_of([] { sched_exp(-1, 1); }), "same sign"));
}

TEST_CASE("schedule: sched_multistep steps down at each milestone, as MultiStepLR") {
  const Schedule s = sched_multistep(0.1, {0.5, 0.75}, 0.1);
  CHECK(s(0) == doctest::Approx(0.1));
  CHECK(s(0.4999) == doctest::Approx(0.1));
  CHECK(s(0.5) == doctest::Approx(0.01));  // a milestone belongs to the step it starts
  CHECK(s(0.7) == doctest::Approx(0.01));
  CHECK(s(0.75) == doctest::Approx(0.001));
  CHECK(s(1) == doctest::Approx(0.001));
  CHECK(sched_multistep(2, {})(0.9) == 2);
  CHECK_THROWS_WITH_AS(sched_multistep(0.1, {0.5, 0.5}), doctest::Contains("must increase"), Error);
  CHECK_THROWS_WITH_AS(sched_multistep(0.1, {1.5}), doctest::Contains("(0, 1]"), Error);
  CHECK_THROWS_WITH_AS(sched_multistep(0.1, {0.5}, 0), doctest::Contains("gamma"), Error);
}

TEST_CASE("schedule: combine_scheds maps pos into each piece with its own progress") {
  Schedule s = combine_scheds({0.3, 0.7}, {sched_lin(0, 1), sched_lin(10, 20)});
  CHECK(s(0) == doctest::Approx(0));
  CHECK(s(0.15) == doctest::Approx(0.5));
  CHECK(s(0.3 - 1e-9) == doctest::Approx(1).epsilon(1e-6));  // the end of the first piece
  CHECK(s(0.3) == doctest::Approx(10));                      // a boundary starts the next
  CHECK(s(0.65) == doctest::Approx(15));
  CHECK(s(1) == doctest::Approx(20));
  // Outside [0, 1]: clamped to the ends.
  CHECK(s(-0.5) == doctest::Approx(0));
  CHECK(s(1.5) == doctest::Approx(20));
  CHECK(has(error_of([&] { s(std::nan("")); }), "NaN"));
}

TEST_CASE("schedule: combine_scheds with three pieces and a constant one") {
  Schedule s = combine_scheds({0.25, 0.5, 0.25}, {sched_lin(0, 1), sched_no(7), sched_cos(1, 0)});
  CHECK(s(0.125) == doctest::Approx(0.5));
  CHECK(s(0.25) == 7);
  CHECK(s(0.5) == 7);
  CHECK(s(0.75) == doctest::Approx(1));
  CHECK(s(0.875) == doctest::Approx(0.5));
  CHECK(s(1) == doctest::Approx(0).epsilon(kEps));
}

TEST_CASE("schedule: combine_scheds refuses bad fractions and schedules") {
  auto a = sched_no(1), b = sched_no(2);
  CHECK(has(error_of([&] { combine_scheds({0.5, 0.5}, {a}); }), "2 fractions but 1 schedules"));
  CHECK(has(error_of([&] { combine_scheds({}, {}); }), "no schedules"));
  CHECK(has(error_of([&] { combine_scheds({0, 1}, {a, b}); }), "fraction 0 must be positive"));
  CHECK(has(error_of([&] { combine_scheds({1.2, -0.2}, {a, b}); }), "fraction 1 must be positive"));
  CHECK(has(error_of([&] { combine_scheds({0.5, 0.4}, {a, b}); }), "must sum to 1"));
  CHECK(has(error_of([&] { combine_scheds({0.5, 0.6}, {a, b}); }), "must sum to 1"));
  CHECK(has(error_of([&] { combine_scheds({0.5, 0.5}, {a, Schedule()}); }), "schedule 1 is empty"));
  // Within 1e-6 of 1 is accepted, and the last piece still ends exactly at pos 1.
  Schedule s = combine_scheds({0.5, 0.5 - 5e-7}, {sched_lin(0, 1), sched_lin(1, 2)});
  CHECK(s(1) == doctest::Approx(2).epsilon(kEps));
  CHECK(error_of([&] { combine_scheds({0.5, 0.5 + 5e-7}, {a, b}); }) == "<no tg::Error thrown>");
}

TEST_CASE("schedule: one_cycle_lr start, peak and end values") {
  Schedule s = one_cycle_lr(1.0, 0.25, 25, 1e4);
  CHECK(s(0) == doctest::Approx(1.0 / 25).epsilon(kEps));
  CHECK(s(0.125) == doctest::Approx((1.0 / 25 + 1) / 2).epsilon(kEps));  // half-way up
  CHECK(s(0.25) == doctest::Approx(1).epsilon(kEps));                    // the peak
  CHECK(s(0.625) == doctest::Approx((1 + 4e-6) / 2).epsilon(kEps));      // half-way down
  CHECK(s(1) == doctest::Approx(1.0 / (25 * 1e4)).epsilon(kEps));
  for (double p = 0; p <= 1; p += 0.01) CHECK(s(p) <= 1 + kEps);
  CHECK(has(error_of([] { one_cycle_lr(1, 1.0); }), "pct_start"));
  CHECK(has(error_of([] { one_cycle_lr(0); }), "max_lr"));
  CHECK(has(error_of([] { one_cycle_lr(1, 0.3, 0); }), "div"));
}

TEST_CASE("schedule: one_cycle_mom goes high to low and back") {
  Schedule s = one_cycle_mom(0.95, 0.85, 0.25);
  CHECK(s(0) == doctest::Approx(0.95).epsilon(kEps));
  CHECK(s(0.125) == doctest::Approx(0.9).epsilon(kEps));
  CHECK(s(0.25) == doctest::Approx(0.85).epsilon(kEps));
  CHECK(s(0.625) == doctest::Approx(0.9).epsilon(kEps));
  CHECK(s(1) == doctest::Approx(0.95).epsilon(kEps));
  CHECK(has(error_of([] { one_cycle_mom(0.95, 0.85, 0); }), "pct_start"));
}

TEST_CASE("schedule: ParamScheduler sets lr before every training batch") {
  auto learn = learner_with({.lr = 1});
  auto sched = std::make_shared<ParamScheduler>("lr", sched_lin(0.1, 0.5));
  auto probe = std::make_shared<HyperProbe>();
  auto rec = std::make_shared<Recorder>();
  learn->fit(2, {sched, probe, rec});
  // 8 training batches: pct_train = k / 8 before batch k.
  REQUIRE(sched->values.size() == 8);
  REQUIRE(probe->lr.size() == 8);
  for (size_t k = 0; k < 8; ++k) {
    const double want = 0.1 + 0.4 * static_cast<double>(k) / 8;
    CHECK(sched->values[k] == doctest::Approx(want).epsilon(kEps));
    CHECK(probe->lr[k] == sched->values[k]);
    CHECK(rec->lrs[k] == sched->values[k]);
  }
  // Validation batches leave it alone: they see the last training value.
  REQUIRE(probe->valid_lr.size() == 4);
  CHECK(probe->valid_lr[0] == sched->values[3]);
  CHECK(probe->valid_lr[3] == sched->values[7]);
  CHECK(learn->opt->get("lr") == sched->values[7]);
  // A second fit starts its record afresh.
  learn->fit(1, {sched});
  CHECK(sched->values.size() == 4);
}

TEST_CASE("schedule: ParamScheduler drives momentum and one-cycle lr together") {
  auto learn = learner_with({.lr = 1, .momentum = 0.9});
  auto lr = std::make_shared<ParamScheduler>("lr", one_cycle_lr(0.8, 0.25));
  auto mom = std::make_shared<ParamScheduler>("momentum", one_cycle_mom(0.95, 0.85, 0.25));
  auto probe = std::make_shared<HyperProbe>();
  // Two ParamSchedulers are two callbacks of one type: the Learner refuses the second...
  CHECK(has(error_of([&] { learn->fit(1, {lr, mom}); }), "already present"));
  learn->fit(4, {mom, probe});  // 16 batches
  REQUIRE(probe->momentum.size() == 16);
  CHECK(probe->momentum[0] == doctest::Approx(0.95).epsilon(kEps));
  CHECK(probe->momentum[4] == doctest::Approx(0.85).epsilon(kEps));  // pct 0.25: the low point
  CHECK(probe->momentum[15] > 0.94);
  CHECK(probe->lr == std::vector<double>(16, 1.0));  // lr untouched
  CHECK(learn->opt->get("momentum") == mom->values.back());
  learn->fit(4, {lr});
  CHECK(lr->values[0] == doctest::Approx(0.8 / 25).epsilon(kEps));
  CHECK(lr->values[4] == doctest::Approx(0.8).epsilon(kEps));
  // The last batch: pos 15/16, that is 11/12 of the way down.
  CHECK(lr->values[15] == doctest::Approx(sched_cos(0.8, 0.8 / 25e4)(11.0 / 12)).epsilon(1e-9));
  CHECK(lr->values[15] < 0.02);
  // ...so one ParamScheduler takes both.
  auto both = std::make_shared<ParamScheduler>(std::map<std::string, Schedule>{
      {"lr", one_cycle_lr(0.8, 0.25)}, {"momentum", one_cycle_mom(0.95, 0.85, 0.25)}});
  auto both_probe = std::make_shared<HyperProbe>();
  learn->fit(4, {both, both_probe});
  CHECK(both->param == "lr");
  CHECK(both->values == lr->values);
  CHECK(both->values_of.at("lr") == lr->values);
  CHECK(both->values_of.at("momentum") == mom->values);
  CHECK(both_probe->lr == lr->values);
  CHECK(both_probe->momentum == mom->values);
}

TEST_CASE("schedule: ParamScheduler with an unknown hyper-parameter fails naming it") {
  auto learn = learner_with({.lr = 0.1});
  std::string msg;
  try {
    learn->fit(1, {std::make_shared<ParamScheduler>("betas", sched_no(0.9))});
  } catch (const std::exception& e) {
    msg = messages(e);
  }
  CHECK(has(msg, "callback ParamScheduler failed in before_fit"));
  CHECK(has(msg, "unknown hyper-parameter 'betas'"));
  CHECK(learn->opt->get("lr") == 0.1);  // nothing trained, nothing set
  CHECK(has(error_of([] { ParamScheduler("lr", Schedule()); }), "empty"));
}
