// The training tricks of course steps 10 and 10b as callbacks: GradientClipValue, Mixup (and
// its Beta draws), and the label-smoothing loss through a Learner.
#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>

#include "autograd/functions.h"
#include "autograd/gradcheck.h"
#include "learner/callbacks/callbacks.h"
#include "learner/data/augment.h"
#include "learner_fixture.h"
#include "nn/loss.h"
#include "tensor/creation.h"
#include "tensor/grad_mode.h"

using namespace tg;
using tg::test::tiny_data;
using tg::test::tiny_learner;

namespace {

std::vector<float> vals(const Tensor& t) {
  return t.to_vector<float>();
}

std::vector<std::vector<float>> weights(const Learner& l) {
  std::vector<std::vector<float>> w;
  for (const Tensor& p : l.model->parameters()) w.push_back(vals(p));
  return w;
}

// The batch as the loader gave it, before Mixup (order -5) changes it.
struct BeforeMix : Callback {
  int order() const override { return -6; }
  void before_batch(Learner& l) override {
    x = l.xb;
    y = l.yb;
  }
  Tensor x, y;
};

// What the model saw and the loss it gave, per batch.
struct AfterLoss : Callback {
  struct Seen {
    bool training;
    Tensor x0, y0, x, pred, loss, y_shuffled;
    double lambda;
    std::vector<int32_t> perm;
    bool mixed;
  };
  void after_loss(Learner& l) override {
    const Mixup* m = l.cb<Mixup>();
    const BeforeMix* b = l.cb<BeforeMix>();
    seen.push_back({l.training, b->x, b->y, l.xb, l.pred.detach(), l.loss.detach(), m->y_shuffled,
                    m->lambda, m->perm, m->active});
  }
  std::vector<Seen> seen;
};

}  // namespace

TEST_CASE("GradientClipValue clamps every gradient element as clip_grad_value_ does") {
  auto learn = tiny_learner();
  std::vector<Tensor> ps = learn->opt->params(0);
  NoGrad off;
  for (Tensor& p : ps) p.set_grad(zeros(p.shape()));
  Tensor g = ps[1].grad();  // the first layer's bias, 8 values
  g.copy_(tensor({-5, -1, -0.5, 0, 0.25, 1, 2, 100}));
  GradientClipValue clip(1.0);
  clip.after_backward(*learn);
  CHECK(vals(ps[1].grad()) == std::vector<float>{-1, -1, -0.5, 0, 0.25, 1, 1, 1});
  CHECK(vals(ps[0].grad()) == vals(zeros(ps[0].shape())));
  CHECK_THROWS_AS(GradientClipValue(0.0), Error);
  CHECK_THROWS_AS(GradientClipValue(-1.0), Error);
  CHECK_THROWS_AS(GradientClipValue(std::nan("")), Error);
  CHECK(clip.graph_mode() == GraphMode::record);
}

TEST_CASE("GradientClipValue in a fit: no update element exceeds lr * clip_value") {
  auto learn = tiny_learner({std::make_shared<GradientClipValue>(1e-3)}, tiny_data(4, 2, 4), 1.0);
  const auto before = weights(*learn);
  learn->fit(1);  // one batch of 4: one step of lr 1
  const auto after = weights(*learn);
  double biggest = 0;
  for (size_t i = 0; i < before.size(); ++i)
    for (size_t j = 0; j < before[i].size(); ++j)
      biggest = std::max(biggest, std::fabs(static_cast<double>(after[i][j] - before[i][j])));
  CHECK(biggest > 0);
  CHECK(biggest <= 1e-3 * (1 + 1e-5));
}

TEST_CASE("sample_beta: the mean and variance of Beta(a, b) for a seed") {
  for (auto [a, b] : {std::pair{0.4, 0.4}, {2.0, 5.0}, {1.0, 1.0}}) {
    Generator gen(11);
    const int n = 20000;
    double s = 0, s2 = 0;
    for (int i = 0; i < n; ++i) {
      const double v = sample_beta(a, b, gen);
      REQUIRE(v >= 0);
      REQUIRE(v <= 1);
      s += v;
      s2 += v * v;
    }
    const double mean = s / n, var = s2 / n - mean * mean;
    const double m = a / (a + b), v = a * b / ((a + b) * (a + b) * (a + b + 1));
    CHECK(mean == doctest::Approx(m).epsilon(0.02));
    CHECK(var == doctest::Approx(v).epsilon(0.05));
  }
  Generator g1(3), g2(3);
  CHECK(sample_beta(0.4, 0.4, g1) == sample_beta(0.4, 0.4, g2));
  CHECK_THROWS_AS(sample_beta(0, 1, g1), Error);
}

TEST_CASE("Mixup: mixed inputs and the loss over both labels, by hand, validation untouched") {
  auto learn = tiny_learner({std::make_shared<Mixup>(0.4, 7)}, tiny_data(8, 4, 4));
  auto before = std::make_shared<BeforeMix>();
  auto after = std::make_shared<AfterLoss>();
  learn->fit(2, {before, after});
  REQUIRE(after->seen.size() == 2 * (2 + 1));
  int train_batches = 0;
  for (const auto& s : after->seen) {
    if (!s.training) {
      // Validation: the loader's batch as it was, and the plain loss.
      CHECK_FALSE(s.mixed);
      CHECK(vals(s.x) == vals(s.x0));
      CHECK(s.loss.item<float>() == doctest::Approx(cross_entropy(s.pred, s.y0).item<float>()));
      continue;
    }
    ++train_batches;
    REQUIRE(s.mixed);
    CHECK(s.lambda >= 0.5);
    CHECK(s.lambda <= 1);
    CHECK(s.lambda < 1);  // a Beta draw is 1 with probability 0
    const auto x0 = vals(s.x0), x = vals(s.x);
    const auto y0 = s.y0.to_vector<int32_t>(), ys = s.y_shuffled.to_vector<int32_t>();
    REQUIRE(s.perm.size() == 4);
    const int64_t row = 4;  // features per example
    for (size_t i = 0; i < 4; ++i) {
      const size_t j = static_cast<size_t>(s.perm[i]);
      CHECK(ys[i] == y0[j]);
      for (int64_t k = 0; k < row; ++k)
        CHECK(x[i * row + k] ==
              doctest::Approx(s.lambda * x0[i * row + k] + (1 - s.lambda) * x0[j * row + k]));
    }
    const double expect = s.lambda * cross_entropy(s.pred, s.y0).item<double>() +
                          (1 - s.lambda) * cross_entropy(s.pred, s.y_shuffled).item<double>();
    CHECK(s.loss.item<double>() == doctest::Approx(expect));
  }
  CHECK(train_batches == 4);
  // The Learner's own loss function is back once the fit is over.
  Mixup* m = learn->cb<Mixup>();
  m->active = true;
  m->lambda = 0.5;
  m->y_shuffled = from_vector<int32_t>({0, 0});
  Tensor p = tensor({{1, 2, 3}, {0, 1, 0}}), y = from_vector<int32_t>({2, 1});
  CHECK(learn->loss_func(p, y).item<float>() == cross_entropy(p, y).item<float>());
}

TEST_CASE("Mixup: the same seed trains the same weights, another seed others") {
  auto run = [](uint64_t seed) {
    auto learn = tiny_learner({std::make_shared<Mixup>(0.4, seed)}, tiny_data(8, 4, 4));
    learn->fit(2);
    return weights(*learn);
  };
  const auto a = run(1), b = run(1), c = run(2);
  CHECK(a == b);
  CHECK(a != c);
  auto plain = tiny_learner({}, tiny_data(8, 4, 4));
  plain->fit(2);
  CHECK(weights(*plain) != a);
}

TEST_CASE("Mixup: the loss function is restored when a fit ends in an error") {
  struct Boom : Callback {
    void after_batch(Learner& l) override {
      if (l.training) throw std::runtime_error("boom");
    }
  };
  auto learn = tiny_learner({std::make_shared<Mixup>(0.4, 1)});
  CHECK_THROWS(learn->fit(1, {std::make_shared<Boom>()}));
  Mixup* m = learn->cb<Mixup>();
  CHECK_FALSE(m->active);
  m->active = true;  // were the wrapper still installed, it would mix now
  m->lambda = 0.5;
  m->y_shuffled = from_vector<int32_t>({0, 0});
  Tensor p = tensor({{1, 2, 3}, {0, 1, 0}}), y = from_vector<int32_t>({2, 1});
  CHECK(learn->loss_func(p, y).item<float>() == cross_entropy(p, y).item<float>());
  learn->fit(1);  // and the next fit wraps it once again, without error
}

TEST_CASE("Mixup: the mixed loss through the Learner's loss function passes gradcheck") {
  auto learn = tiny_learner();
  Mixup mix(0.4, 3);
  mix.before_fit(*learn);  // wraps learn->loss_func
  mix.active = true;
  mix.lambda = 0.7;
  mix.y_shuffled = from_vector<int32_t>({1, 2, 0});
  const Tensor y = from_vector<int32_t>({0, 2, 2});
  Generator gen(2);
  Tensor logits = uniform({3, 3}, -1, 1, gen, DType::f64).requires_grad_();
  const LossFn f = learn->loss_func;
  GradcheckResult r = gradcheck([&](auto& in) { return f(in[0], y); }, {logits});
  CHECK_MESSAGE(r.ok, r.message);
  // The value is the combination of the two losses.
  const double expect = 0.7 * cross_entropy(logits, y).item<double>() +
                        0.3 * cross_entropy(logits, mix.y_shuffled).item<double>();
  CHECK(f(logits, y).item<double>() == doctest::Approx(expect));
  learn->run_end();  // what the run's guard does: the plain loss again
  CHECK(learn->loss_func(logits, y).item<double>() ==
        doctest::Approx(cross_entropy(logits, y).item<double>()));
  CHECK_THROWS_AS(Mixup(0.0), Error);
  CHECK(mix.graph_mode() == GraphMode::refuse);
}

TEST_CASE("CrossEntropyLoss with label smoothing as a Learner's loss: softmax preds, its loss") {
  Generator gen(5);
  auto model = nn::mlp({4, 8, 3}, gen);
  auto opt = std::make_shared<optim::SGD>(model->parameters(), optim::SGDOptions{.lr = 0.1});
  Learner learn(model, opt, nn::CrossEntropyLoss{.label_smoothing = 0.2}, tiny_data(4, 6, 4));
  REQUIRE(static_cast<bool>(learn.activation));
  const auto probs = learn.get_preds();
  const auto raw = learn.get_preds(nullptr, /*raw=*/true);
  const auto r = learn.validate();
  CHECK(r.at("loss") ==
        doctest::Approx(label_smoothing_cross_entropy(raw.preds, raw.targets, 0.2).item<double>()));
  CHECK(r.at("loss") != doctest::Approx(cross_entropy(raw.preds, raw.targets).item<double>()));
  const auto p = vals(probs.preds);
  CHECK(p[0] + p[1] + p[2] == doctest::Approx(1.0));
}

TEST_CASE("augmentation on the training loader: training batches changed, validation as it is") {
  Generator gen(3);
  auto train = std::make_shared<Dataset>(randn({8, 4}, gen), randint(0, 3, {8}, gen));
  auto valid = std::make_shared<Dataset>(randn({4, 4}, gen), randint(0, 3, {4}, gen));
  DataBunch db;
  db.train_dl =
      DataLoader(train, {.batch_size = 4,
                         .seed = 1,
                         .prefetch = true,
                         .transform = pad_crop_flip({.pad = 1, .height = 2, .width = 2})});
  db.valid_dl = DataLoader(valid, {.batch_size = 4});
  db.c = 3;
  struct Seen : Callback {
    std::vector<std::pair<bool, std::vector<float>>> xs;
    void before_batch(Learner& l) override { xs.emplace_back(l.training, vals(l.xb)); }
  };
  auto seen = std::make_shared<Seen>();
  auto learn = tiny_learner({}, db);
  learn->fit(1, {seen});
  REQUIRE(seen->xs.size() == 3);
  const auto tx = vals(train->x()), vx = vals(valid->x());
  CHECK(seen->xs[0].first);
  CHECK(seen->xs[0].second != std::vector<float>(tx.begin(), tx.begin() + 16));
  CHECK_FALSE(seen->xs[2].first);
  CHECK(seen->xs[2].second == vx);
}

TEST_CASE("ReduceLROnPlateau in a fit reads AvgStats' figures after each epoch") {
  // Maximising the loss: every epoch whose loss falls is a bad one.
  auto learn = tiny_learner({std::make_shared<AvgStats>(false)});
  auto r = std::make_shared<ReduceLROnPlateau>("train_loss", 0.5, 0, 0, 0, 0, Mode::max);
  learn->fit(3, {r});
  CHECK(r->best > 0);
  CHECK(learn->opt->get("lr") == doctest::Approx(0.1 * std::pow(0.5, r->reduced_at.size())));
  CHECK_FALSE(r->reduced_at.empty());
}
