// The batch seam (learner/step.h), the Learner's tally (learner/tally.h) and what reads it, the
// gradient clipping callback, and get_preds' activation — on the CPU. tests/cuda runs the same
// seam on a (real or emulated) GPU with the CUDA Graph step.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <sstream>

#include "autograd/functions.h"
#include "event_tracer.h"
#include "learner/callbacks/callbacks.h"
#include "learner_fixture.h"
#include "nn/layers.h"
#include "tensor/creation.h"
#include "tensor/grad_mode.h"
#include "tensor/ops.h"
#include "test_util.h"

using namespace tg;
using tg::test::has;
using tg::test::tiny_data;
using tg::test::tiny_learner;
using tg::test::Tracer;

namespace {

// The eager step, counted: what a replacement step sees.
struct CountingStep : EagerStep {
  int begins = 0, ends = 0, batches = 0;
  std::string name() const override { return "CountingStep"; }
  void begin_fit(Learner& l) override {
    ++begins;
    EagerStep::begin_fit(l);
  }
  void train_batch(Learner& l) override {
    ++batches;
    EagerStep::train_batch(l);
  }
  void end_fit(Learner& l) override {
    ++ends;
    EagerStep::end_fit(l);
  }
};

std::vector<float> vals(const Tensor& t) {
  NoGrad off;
  return t.detach().to_vector<float>();
}

}  // namespace

TEST_CASE("step: a replacement step runs every training batch and keeps the eager trace") {
  auto eager_trace = std::make_shared<Tracer>();
  tiny_learner({eager_trace})->fit(2);
  auto trace = std::make_shared<Tracer>();
  auto learn = tiny_learner({trace});
  auto step = std::make_shared<CountingStep>();
  learn->step = step;
  learn->fit(2);
  CHECK(step->batches == 4);  // 2 epochs of 2 training batches; validation is the Learner's
  CHECK(step->begins == 1);
  CHECK(step->ends == 1);
  CHECK(trace->trace == eager_trace->trace);
  // end_fit runs however the fit ends, also on an error.
  struct Boom : Callback {
    void after_step(Learner&) override { throw std::runtime_error("boom"); }
  };
  CHECK_THROWS_AS(learn->fit(1, {std::make_shared<Boom>()}), Error);
  CHECK(step->begins == 2);
  CHECK(step->ends == 2);
  learn->step = nullptr;
  CHECK_THROWS_WITH_AS(learn->fit(1), doctest::Contains("learn.step is null"), Error);
}

TEST_CASE("step: the tally holds the phase's size-weighted figures when after_ events read it") {
  // 5 training examples in batches of 2, 2, 1; 3 validation examples in batches of 2, 1.
  struct Check : Callback {
    double n = 0, loss = 0, hits = 0;
    std::vector<double> batch_losses;
    int64_t at_train = -1, at_valid = -1;
    double train_mean = 0, valid_mean = 0, valid_acc = 0;
    int order() const override { return 50; }
    void before_train(Learner&) override { n = loss = 0, batch_losses.clear(); }
    void before_validate(Learner&) override { n = loss = hits = 0; }
    void after_loss(Learner& l) override {
      const double bs = static_cast<double>(l.xb.size(0));
      n += bs;
      loss += bs * l.loss.item<double>();
      if (l.training)
        batch_losses.push_back(l.loss.item<double>());
      else
        hits += bs * accuracy_metric().fn(l.pred, l.yb);
      CHECK(l.tally.batches() == l.iter + 1);  // the batch is in before after_loss fires
    }
    void after_train(Learner& l) override {
      at_train = l.tally.batches();
      train_mean = l.tally.mean_loss();
      CHECK(l.tally.samples() == n);
      for (int64_t i = 0; i < l.tally.batches(); ++i)
        CHECK(l.tally.batch_loss(i) == batch_losses[static_cast<size_t>(i)]);
    }
    void after_validate(Learner& l) override {
      at_valid = l.tally.batches();
      valid_mean = l.tally.mean_loss();
      valid_acc = l.tally.metric_mean(0);
    }
  };
  auto check = std::make_shared<Check>();
  auto learn = tiny_learner({check}, tiny_data(5, 3, 2));
  learn->fit(1);
  CHECK(check->at_train == 3);
  CHECK(check->at_valid == 2);
  CHECK(check->valid_mean == doctest::Approx(check->loss / 3));
  CHECK(check->valid_acc == doctest::Approx(check->hits / 3));
  CHECK(std::isfinite(check->train_mean));
  // validate() returns the same tally figures.
  auto v = learn->validate();
  CHECK(v.at("loss") == doctest::Approx(check->valid_mean));
  CHECK(v.at("accuracy") == doctest::Approx(check->valid_acc));
}

TEST_CASE("step: Tally sums, finiteness and batch losses by hand") {
  Tally t;
  std::vector<Metric> metrics = {{"two", [](const Tensor&, const Tensor&) { return 2.0; }}};
  t.begin(&metrics, /*keep_losses=*/true);
  const Tensor none;
  t.add(scalar_tensor(1.0), none, none, 2);
  t.add(scalar_tensor(4.0), none, none, 1);
  t.flush();
  CHECK(t.batches() == 2);
  CHECK(t.samples() == 3);
  CHECK(t.loss_sum() == 6);  // 2 * 1 + 1 * 4
  CHECK(t.mean_loss() == 2);
  CHECK(t.metric_mean(0) == 2);
  CHECK(t.finite());
  CHECK(t.batch_loss(1) == 4);
  CHECK(std::isnan(t.batch_loss(2)));
  t.add(scalar_tensor(std::numeric_limits<double>::infinity()), none, none, 1);
  CHECK_FALSE(t.finite());
  t.begin(&metrics, false);
  CHECK(t.finite());
  CHECK(t.batches() == 0);
  CHECK(t.mean_loss() == 0);
}

TEST_CASE("step: TerminateOnNaN prints nan, never -nan") {
  const double neg_nan = -std::numeric_limits<double>::quiet_NaN();
  REQUIRE(std::signbit(neg_nan));
  LossFn loss = [neg_nan](const Tensor& p, const Tensor& y) {
    return cross_entropy(p, y) * neg_nan;
  };
  Generator gen(5);
  auto model = nn::mlp({4, 8, 3}, gen);
  auto opt = std::make_shared<optim::SGD>(model->parameters(), optim::SGDOptions{.lr = 0.1});
  Learner learn(model, opt, loss, tiny_data());
  auto nan = std::make_shared<TerminateOnNaN>();
  std::ostringstream msg;
  nan->out = &msg;
  learn.fit(1, {nan});
  CHECK(nan->stopped);
  CHECK(has(msg.str(), "loss sum is nan)"));
  CHECK_FALSE(has(msg.str(), "-nan"));
}

TEST_CASE("step: GradientClip scales the gradients to max_norm as clip_grad_norm_ does") {
  auto learn = tiny_learner();
  std::vector<Tensor> ps = learn->opt->params(0);
  NoGrad off;
  for (Tensor& p : ps) p.set_grad(zeros(p.shape()));
  // Two non-zero entries: 3 and 4, so the global norm is 5.
  Tensor g0 = ps[0].grad(), g1 = ps[1].grad();
  g0.narrow(0, 0, 1).narrow(1, 0, 1).fill_(3.0);
  g1.narrow(0, 0, 1).fill_(4.0);
  GradientClip clip(1.0);
  clip.after_backward(*learn);
  CHECK(clip.grad_norm().item<double>() == doctest::Approx(5.0));
  const double scale = 1.0 / (5.0 + 1e-6);
  CHECK(vals(ps[0].grad())[0] == doctest::Approx(3.0 * scale));
  CHECK(vals(ps[1].grad())[0] == doctest::Approx(4.0 * scale));
  CHECK(vals(ps[1].grad())[1] == 0);
  // Under the limit nothing changes.
  GradientClip loose(10.0);
  const std::vector<float> before = vals(ps[0].grad());
  loose.after_backward(*learn);
  CHECK(vals(ps[0].grad()) == before);
  CHECK_THROWS_AS(GradientClip(0.0), Error);
  CHECK_THROWS_AS(GradientClip(std::nan("")), Error);
  CHECK(clip.graph_mode() == GraphMode::record);
}

TEST_CASE("step: a fit with GradientClip takes smaller steps than one without") {
  auto plain = tiny_learner({}, tiny_data(), /*lr=*/1.0);
  auto clipped = tiny_learner({std::make_shared<GradientClip>(1e-3)}, tiny_data(), 1.0);
  std::vector<std::vector<float>> start;
  for (const Tensor& p : plain->model->parameters()) start.push_back(vals(p));
  plain->fit(1);
  clipped->fit(1);
  double moved_plain = 0, moved_clipped = 0;
  auto pp = plain->model->parameters(), pc = clipped->model->parameters();
  for (size_t i = 0; i < pp.size(); ++i) {
    const auto a = vals(pp[i]), b = vals(pc[i]);
    for (size_t j = 0; j < a.size(); ++j) {
      moved_plain += std::fabs(a[j] - start[i][j]);
      moved_clipped += std::fabs(b[j] - start[i][j]);
    }
  }
  // Two steps of lr 1 with the update's norm at most 1e-3 each.
  CHECK(moved_clipped > 0);
  CHECK(moved_clipped < 2 * 1e-3 * std::sqrt(static_cast<double>(pp.size()) * 64));
  CHECK(moved_plain > 100 * moved_clipped);
}

TEST_CASE("step: get_preds gives probabilities for cross-entropy, raw outputs on request") {
  Generator gen(5);
  auto model = nn::mlp({4, 8, 3}, gen);
  auto opt = std::make_shared<optim::SGD>(model->parameters(), optim::SGDOptions{.lr = 0.1});
  Learner learn(model, opt, tg::cross_entropy, tiny_data(4, 6, 4));
  REQUIRE(static_cast<bool>(learn.activation));
  const auto probs = learn.get_preds();
  const auto raw = learn.get_preds(nullptr, /*raw=*/true);
  REQUIRE(probs.preds.shape() == Shape{6, 3});
  const std::vector<float> p = vals(probs.preds), r = vals(raw.preds);
  for (int64_t i = 0; i < 6; ++i) {
    double sum = 0, zsum = 0;
    for (int64_t c = 0; c < 3; ++c) sum += p[size_t(i * 3 + c)];
    for (int64_t c = 0; c < 3; ++c) zsum += std::exp(r[size_t(i * 3 + c)]);
    CHECK(sum == doctest::Approx(1.0));
    for (int64_t c = 0; c < 3; ++c)
      CHECK(p[size_t(i * 3 + c)] == doctest::Approx(std::exp(r[size_t(i * 3 + c)]) / zsum));
  }
  // Any other loss: no activation, the raw outputs.
  auto other = tiny_learner({}, tiny_data(4, 6, 4));
  CHECK_FALSE(static_cast<bool>(other->activation));
}

TEST_CASE("step: AvgStats prints its epoch line only when no ProgressBar prints the table") {
  std::ostringstream stats_out, bar_out;
  auto stats = std::make_shared<AvgStats>(true, &stats_out);
  auto bar = std::make_shared<ProgressBar>(&bar_out, /*force_plain=*/true);
  tiny_learner({stats, bar})->fit(2);
  CHECK(stats_out.str().empty());
  CHECK(has(bar_out.str(), "valid_loss"));
  std::ostringstream alone;
  tiny_learner({std::make_shared<AvgStats>(true, &alone)})->fit(2);
  const std::string lines = alone.str();
  CHECK(std::count(lines.begin(), lines.end(), '\n') == 2);
}
