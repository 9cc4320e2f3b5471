// Training on the GPU, end to end: a warm step allocates nothing from the driver; SGD steps on
// CUDA follow the CPU loss for loss and weight for weight; Adam, AdamW, RMSprop and LAMB fits,
// eager and replayed, follow the CPU's; a Learner fit with DeviceCallback
// (data moved per batch or living on the GPU) gives the CPU's AvgStats history; CudaGraphStep
// captures the step, replays it for every later full training batch and gives the eager fit's
// history, also while a ParamScheduler changes hyper-parameters every batch; and tg::cuda::Graph
// itself: replay on inputs written in place, capture refusing code that synchronises, and the
// memory of a capture kept out of later allocations while the graph lives.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "autograd/autograd.h"
#include "cuda/cuda_test_util.h"
#include "event_tracer.h"
#include "learner/callbacks/callbacks.h"
#include "learner/callbacks/device.h"
#include "learner/data/data.h"
#include "learner/graph_step.h"
#include "learner/learner.h"
#include "learner/schedule.h"
#include "nn/layers.h"
#include "optim/adam.h"
#include "optim/optimizer.h"
#include "tensor/creation.h"
#include "tensor/cuda.h"
#include "tensor/cuda_graph.h"
#include "tensor/ops.h"
#include "test_util.h"

using namespace tg;
using tg::test::error_of;
using tg::test::has;

namespace {

constexpr Device kCuda = Device::cuda();
using Cbs = std::vector<std::shared_ptr<Callback>>;

// max |got - want| / (max |want| + tiny), both read to the host.
double nerr(const Tensor& got, const Tensor& want) {
  const std::vector<double> a = got.to_vector<double>(), b = want.to_vector<double>();
  if (a.size() != b.size()) return std::numeric_limits<double>::infinity();
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num = std::max(num, std::fabs(a[i] - b[i]));
    den = std::max(den, std::fabs(b[i]));
  }
  return std::isnan(num) ? std::numeric_limits<double>::infinity() : num / (den + 1e-30);
}

// Full float32 GEMMs for the length of a test: TF32 would need bounds near 1e-3.
class NoTf32 {
 public:
  NoTf32() : prev_(cuda::allow_tf32()) { cuda::set_allow_tf32(false); }
  ~NoTf32() { cuda::set_allow_tf32(prev_); }
  NoTf32(const NoTf32&) = delete;
  NoTf32& operator=(const NoTf32&) = delete;

 private:
  bool prev_;
};

// n points in d dims, labelled by which of c fixed random directions they lean to most: a
// linearly separable problem, so training makes visible progress.
struct Problem {
  Tensor x, y;  // (n, d) float32, (n) int32
};
Problem separable(int64_t n, int64_t d, int64_t c, uint64_t seed) {
  Generator gen(seed);
  const Tensor teacher = randn({d, c}, gen);
  const Tensor x = randn({n, d}, gen);
  return {x, ops::argmax(ops::matmul(x, teacher), 1)};
}

// One eager SGD step; the loss read back (which synchronises, as a test may).
double train_step(nn::Module& model, optim::Optimizer& opt, const Tensor& x, const Tensor& y) {
  opt.zero_grad();
  const Tensor loss = cross_entropy(model(x), y);
  backward(loss);
  opt.step();
  return loss.item<double>();
}

// --- the Learner fits ---------------------------------------------------------------------------

constexpr int64_t kTrain = 300, kValid = 100, kBatch = 32, kEpochs = 3;
constexpr int64_t kFullBatches = kTrain / kBatch;  // per epoch; then one short batch of 12
constexpr int64_t kWarmup = 3;                     // CudaGraphStep's default

// 8-d points in 4 classes: 300 for training (shuffled, seeded), 100 for validation.
DataBunch make_data() {
  const Problem p = separable(kTrain + kValid, 8, 4, 11);
  auto part = [&](int64_t start, int64_t n) {
    return std::make_shared<Dataset>(p.x.narrow(0, start, n).clone(),
                                     p.y.narrow(0, start, n).clone());
  };
  DataBunch db;
  db.train_dl = DataLoader(part(0, kTrain), {.batch_size = kBatch, .shuffle = true, .seed = 7});
  db.valid_dl = DataLoader(part(kTrain, kValid), {.batch_size = kBatch});
  db.c = 4;
  return db;
}

using OptFactory =
    std::function<std::shared_ptr<optim::Optimizer>(const std::vector<Tensor>& params)>;
std::shared_ptr<optim::Optimizer> sgd_opt(const std::vector<Tensor>& params) {
  return std::make_shared<optim::SGD>(
      params, optim::SGDOptions{.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-3});
}

// A seeded 8-32-4 MLP with SGD (momentum, weight decay) unless another optimizer is given: the
// same start on every device.
std::unique_ptr<Learner> make_learner(DataBunch data, const OptFactory& make_opt = sgd_opt) {
  Generator gen(5);
  auto model = nn::mlp({8, 32, 4}, gen);
  auto opt = make_opt(model->parameters());
  return std::make_unique<Learner>(
      model, opt, [](const Tensor& p, const Tensor& y) { return cross_entropy(p, y); },
      std::move(data), LearnerOptions{.metrics = {accuracy_metric()}});
}

struct Fit {
  std::vector<std::map<std::string, double>> history;  // AvgStats, one entry per epoch
  std::vector<Tensor> weights;                         // the final parameters, on the CPU
  Device model_device;
};

Fit fit(DataBunch data, Cbs cbs, std::shared_ptr<BatchStep> step = nullptr,
        const OptFactory& make_opt = sgd_opt) {
  NoTf32 exact;
  auto learn = make_learner(std::move(data), make_opt);
  if (step) learn->step = std::move(step);
  auto stats = std::make_shared<AvgStats>(/*print=*/false);
  cbs.push_back(stats);
  learn->fit(kEpochs, std::move(cbs));
  Fit f;
  f.history = stats->history;
  f.model_device = learn->model->device();
  for (const Tensor& p : learn->model->parameters())
    f.weights.push_back(p.detach().to(Device::cpu()));
  return f;
}

// Every figure of every epoch (but the time) within tol, relative above 1; the weights within tol
// by normalised error.
void check_same_fit(const Fit& got, const Fit& want, double tol = 1e-4) {
  REQUIRE(got.history.size() == want.history.size());
  REQUIRE(!want.history.empty());
  for (size_t e = 0; e < want.history.size(); ++e) {
    CAPTURE(e);
    CHECK(got.history[e].size() == want.history[e].size());
    for (const auto& kv : want.history[e]) {
      if (kv.first == "epoch_seconds") continue;
      const auto it = got.history[e].find(kv.first);
      REQUIRE_MESSAGE(it != got.history[e].end(), "missing ", kv.first);
      CHECK_MESSAGE(std::fabs(it->second - kv.second) <= tol * std::max(1.0, std::fabs(kv.second)),
                    kv.first, ": ", it->second, " vs ", kv.second);
    }
  }
  REQUIRE(got.weights.size() == want.weights.size());
  for (size_t i = 0; i < want.weights.size(); ++i) {
    const double e = nerr(got.weights[i], want.weights[i]);
    CHECK_MESSAGE(e <= tol, "parameter ", i, ": normalised error ", e);
  }
}

std::shared_ptr<Callback> on_gpu() {
  return std::make_shared<DeviceCallback>(kCuda);
}

// Reads CudaGraphStep's state at the end of each epoch (the graph is released after the fit).
class GraphProbe : public Callback {
 public:
  explicit GraphProbe(std::shared_ptr<CudaGraphStep> step) : step_(std::move(step)) {}
  int order() const override { return 200; }
  void after_epoch(Learner&) override {
    captured.push_back(step_->captured());
    nodes.push_back(step_->graph_nodes());
  }
  std::vector<bool> captured;
  std::vector<size_t> nodes;

 private:
  std::shared_ptr<CudaGraphStep> step_;
};

}  // namespace

// --- training steps -----------------------------------------------------------------------------

TEST_CASE("cuda training: a warm step allocates nothing from the driver") {
  TG_SKIP_WITHOUT_CUDA();
  Generator gen(1);
  auto model = nn::mlp({784, 50, 10}, gen);
  model->to(kCuda);
  optim::SGD opt(model->parameters(), {.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-4});
  const Tensor x = randn({64, 784}, gen).to(kCuda);
  const Tensor y = randint(0, 10, {64}, gen).to(kCuda);
  Tensor loss;
  auto step = [&] {
    opt.zero_grad();
    loss = cross_entropy((*model)(x), y);
    backward(loss);
    opt.step();
  };
  for (int i = 0; i < 3; ++i) step();  // gradients, momentum buffers, the cache's blocks
  cuda::synchronize();
  const cuda::MemoryStats before = cuda::memory_stats();
  for (int i = 0; i < 10; ++i) step();
  cuda::synchronize();
  const cuda::MemoryStats after = cuda::memory_stats();
  CHECK(after.driver_allocs == before.driver_allocs);
  CHECK(after.reserved == before.reserved);
  // The steps did allocate (activations, gradients of intermediates) — all from the cache.
  CHECK(after.allocs > before.allocs);
  CHECK(after.reuses - before.reuses == after.allocs - before.allocs);
  CHECK(std::isfinite(loss.item<double>()));
}

TEST_CASE("cuda training: 20 SGD steps follow the CPU loss for loss and weight for weight") {
  TG_SKIP_WITHOUT_CUDA();
  NoTf32 exact;
  Generator g_cpu(7), g_gpu(7);
  auto cpu = nn::mlp({784, 50, 10}, g_cpu);
  auto gpu = nn::mlp({784, 50, 10}, g_gpu);
  REQUIRE(tg::test::same_bits(cpu->state_dict(), gpu->state_dict()));  // the same start
  gpu->to(kCuda);
  REQUIRE(gpu->device().is_cuda());
  const optim::SGDOptions o{.lr = 0.05, .momentum = 0.9, .weight_decay = 5e-4};
  optim::SGD opt_cpu(cpu->parameters(), o), opt_gpu(gpu->parameters(), o);
  constexpr int64_t steps = 20, bs = 64;
  const Problem p = separable(steps * bs, 784, 10, 3);
  std::vector<double> lc, lg;
  for (int64_t s = 0; s < steps; ++s) {
    const Tensor xb = p.x.narrow(0, s * bs, bs), yb = p.y.narrow(0, s * bs, bs);
    lc.push_back(train_step(*cpu, opt_cpu, xb, yb));
    lg.push_back(train_step(*gpu, opt_gpu, xb.to(kCuda), yb.to(kCuda)));
  }
  for (size_t s = 0; s < lc.size(); ++s)
    CHECK_MESSAGE(std::fabs(lg[s] - lc[s]) <= 1e-4 * std::fabs(lc[s]), "step ", s, ": CUDA loss ",
                  lg[s], " vs CPU ", lc[s]);
  // Training happened (so the comparison is of a moving model, not a still one).
  double last = 0;
  for (size_t s = lc.size() - 5; s < lc.size(); ++s) last += lc[s] / 5;
  CHECK(last < lc.front());
  const auto pc = cpu->named_parameters(), pg = gpu->named_parameters();
  REQUIRE(pc.size() == pg.size());
  for (size_t i = 0; i < pc.size(); ++i) {
    CHECK(pg[i].second.device().is_cuda());
    const double e = nerr(pg[i].second.detach(), pc[i].second.detach());
    CHECK_MESSAGE(e <= 1e-4, pc[i].first, ": normalised error ", e);
  }
}

// --- Learner fits -------------------------------------------------------------------------------

TEST_CASE("cuda training: a Learner fit with DeviceCallback gives the CPU fit's history") {
  TG_SKIP_WITHOUT_CUDA();
  const Fit cpu = fit(make_data(), {});
  REQUIRE(cpu.model_device.is_cpu());
  REQUIRE(cpu.history.size() == static_cast<size_t>(kEpochs));
  // The problem is learnable: the comparison below is of a fit that moved.
  CHECK(cpu.history.back().at("train_loss") < cpu.history.front().at("train_loss"));
  SUBCASE("data on the CPU, each batch moved by DeviceCallback") {
    const Fit gpu = fit(make_data(), {on_gpu()});
    CHECK(gpu.model_device.is_cuda());
    check_same_fit(gpu, cpu);
  }
  SUBCASE("data moved to the GPU whole with to_device") {
    const DataBunch data = to_device(make_data(), kCuda);
    REQUIRE(data.train_dl.dataset()->x().device().is_cuda());
    REQUIRE(data.valid_dl.dataset()->y().device().is_cuda());
    const Fit gpu = fit(data, {on_gpu()});
    CHECK(gpu.model_device.is_cuda());
    check_same_fit(gpu, cpu);
  }
}

TEST_CASE("cuda training: CudaGraphStep replays every later full batch and matches eager") {
  TG_SKIP_WITHOUT_CUDA();
  const Fit eager = fit(to_device(make_data(), kCuda), {on_gpu()});
  auto graph = std::make_shared<CudaGraphStep>(kWarmup);
  auto probe = std::make_shared<GraphProbe>(graph);
  const Fit replayed = fit(to_device(make_data(), kCuda), {on_gpu(), probe}, graph);
  CHECK(probe->captured == std::vector<bool>(kEpochs, true));
  for (size_t n : probe->nodes) CHECK(n > 0);
  // The first kWarmup training batches run eagerly; the next is captured and replayed, and so
  // is every later full batch; the short last batch of each epoch runs eagerly.
  CHECK(graph->replays() == kEpochs * kFullBatches - kWarmup);
  check_same_fit(replayed, eager);
  // And so the CPU's history too.
  check_same_fit(replayed, fit(make_data(), {}));
}

TEST_CASE("cuda training: a replayed step follows a ParamScheduler that changes every batch") {
  TG_SKIP_WITHOUT_CUDA();
  std::map<std::string, Schedule> scheds = {{"lr", sched_cos(0.1, 0.005)}};
  SUBCASE("lr") {}
  SUBCASE("lr and momentum") {
    scheds["momentum"] = sched_lin(0.9, 0.7);
  }
  auto sched_eager = std::make_shared<ParamScheduler>(scheds);
  auto sched_graph = std::make_shared<ParamScheduler>(scheds);
  const Fit eager = fit(to_device(make_data(), kCuda), {on_gpu(), sched_eager});
  auto graph = std::make_shared<CudaGraphStep>(kWarmup);
  const Fit replayed = fit(to_device(make_data(), kCuda), {on_gpu(), sched_graph}, graph);
  CHECK(graph->replays() == kEpochs * kFullBatches - kWarmup);
  // The same values were set before every training batch of both fits ...
  REQUIRE(sched_eager->values.size() == static_cast<size_t>(kEpochs * (kFullBatches + 1)));
  CHECK(sched_graph->values_of == sched_eager->values_of);
  // ... and the replays used them: a graph that kept the lr of its capture would drift away.
  check_same_fit(replayed, eager);
  // The schedule matters, so the check above can fail: without it the fit ends elsewhere.
  const Fit unscheduled = fit(to_device(make_data(), kCuda), {on_gpu()});
  CHECK(std::fabs(unscheduled.history.back().at("train_loss") -
                  eager.history.back().at("train_loss")) > 1e-3);
}

// The adaptive optimizers' device updates in a fit: their bias corrections and a schedule of lr
// (and Adam's beta1, as the trainer's one-cycle cycles it) advance with every replayed step.
TEST_CASE(
    "cuda training: Adam, AdamW, RMSprop and LAMB fits replayed by CudaGraphStep match "
    "eager and the CPU") {
  TG_SKIP_WITHOUT_CUDA();
  std::map<std::string, Schedule> scheds = {{"lr", sched_cos(0.01, 0.001)}};
  OptFactory make;
  SUBCASE("Adam, lr and beta1 scheduled") {
    scheds["beta1"] = sched_lin(0.95, 0.85);
    make = [](const std::vector<Tensor>& p) {
      return std::make_shared<optim::Adam>(p, optim::AdamOptions{.weight_decay = 1e-3});
    };
  }
  SUBCASE("AdamW") {
    make = [](const std::vector<Tensor>& p) { return std::make_shared<optim::AdamW>(p); };
  }
  SUBCASE("RMSprop, centered with momentum") {
    make = [](const std::vector<Tensor>& p) {
      return std::make_shared<optim::RMSprop>(
          p, optim::RMSpropOptions{.momentum = 0.5, .centered = true});
    };
  }
  SUBCASE("LAMB") {
    make = [](const std::vector<Tensor>& p) {
      return std::make_shared<optim::LAMB>(p, optim::LAMBOptions{.weight_decay = 1e-2});
    };
  }
  auto sched = [&] { return std::make_shared<ParamScheduler>(scheds); };
  const Fit cpu = fit(make_data(), {sched()}, nullptr, make);
  CHECK(cpu.history.back().at("train_loss") < cpu.history.front().at("train_loss"));
  const Fit eager = fit(to_device(make_data(), kCuda), {on_gpu(), sched()}, nullptr, make);
  auto graph = std::make_shared<CudaGraphStep>(kWarmup);
  const Fit replayed = fit(to_device(make_data(), kCuda), {on_gpu(), sched()}, graph, make);
  CHECK(graph->replays() == kEpochs * kFullBatches - kWarmup);
  check_same_fit(eager, cpu);
  check_same_fit(replayed, eager);
}

// --- one batch seam: the same events and numbers on every device and step ------------------------

TEST_CASE("cuda training: the CPU, eager CUDA and replayed CUDA fits fire the same events") {
  TG_SKIP_WITHOUT_CUDA();
  auto cpu = std::make_shared<test::Tracer>();
  fit(make_data(), {cpu});
  auto eager = std::make_shared<test::Tracer>();
  fit(to_device(make_data(), kCuda), {on_gpu(), eager});
  auto replayed = std::make_shared<test::Tracer>();
  auto graph = std::make_shared<CudaGraphStep>(kWarmup);
  fit(to_device(make_data(), kCuda), {on_gpu(), replayed}, graph);
  REQUIRE(graph->replays() == kEpochs * kFullBatches - kWarmup);  // the replays were traced
  const int64_t batches = kEpochs * (kFullBatches + 1);
  CHECK(std::count(cpu->trace.begin(), cpu->trace.end(), "before_step") == batches);
  CHECK(std::count(cpu->trace.begin(), cpu->trace.end(), "after_backward") == batches);
  CHECK(eager->trace == cpu->trace);
  CHECK(replayed->trace == cpu->trace);
}

namespace {
// Checks between backward and step that the gradients' global norm is at most `limit`; in
// record mode its kernels are captured, so a replayed step checks too (the flag is on the
// device and read at the end).
struct NormAtMost : Callback {
  double limit;
  Tensor worst;  // the largest norm seen, on the device
  explicit NormAtMost(double l) : limit(l) {}
  int order() const override { return 10; }  // after GradientClip (0)
  GraphMode graph_mode() const override { return GraphMode::record; }
  void after_backward(Learner& l) override {
    NoGrad off;
    Tensor total;
    for (const Tensor& p : l.opt->params(0)) {
      if (!p.grad().defined()) continue;
      Tensor sq = ops::reduce(ReduceOp::sum, ops::unary(UnaryOp::square, p.grad()), {}, false);
      total = total.defined() ? ops::binary(BinaryOp::add, total, sq) : sq;
    }
    const Tensor norm = ops::unary(UnaryOp::sqrt, total).reshape({1});
    if (!worst.defined()) worst = zeros({1}, DType::f32, norm.device());
    worst.copy_(ops::binary(BinaryOp::max, worst, norm));
  }
};
}  // namespace

TEST_CASE("cuda training: GradientClip inside a captured step gives the eager fit's numbers") {
  TG_SKIP_WITHOUT_CUDA();
  constexpr double kMax = 0.05;  // far below this problem's gradient norms: every step clipped
  auto run = [&](std::shared_ptr<BatchStep> step, std::shared_ptr<NormAtMost> probe) {
    return fit(to_device(make_data(), kCuda),
               {on_gpu(), std::make_shared<GradientClip>(kMax), probe}, std::move(step));
  };
  auto eager_probe = std::make_shared<NormAtMost>(kMax);
  const Fit eager = run(nullptr, eager_probe);
  auto graph = std::make_shared<CudaGraphStep>(kWarmup);
  auto graph_probe = std::make_shared<NormAtMost>(kMax);
  const Fit replayed = run(graph, graph_probe);
  CHECK(graph->replays() == kEpochs * kFullBatches - kWarmup);
  check_same_fit(replayed, eager);
  CHECK(eager_probe->worst.item<double>() <= kMax * 1.0001);
  CHECK(graph_probe->worst.item<double>() <= kMax * 1.0001);
  // Clipping mattered: the unclipped fit ends elsewhere.
  const Fit plain = fit(to_device(make_data(), kCuda), {on_gpu()});
  CHECK(std::fabs(plain.history.back().at("train_loss") - eager.history.back().at("train_loss")) >
        1e-3);
  // And on the CPU the same clipped fit.
  check_same_fit(eager, fit(make_data(), {std::make_shared<GradientClip>(kMax)}));
}

TEST_CASE("cuda training: what a captured step refuses, it refuses before the fit starts") {
  TG_SKIP_WITHOUT_CUDA();
  struct Refuses : Callback {
    GraphMode graph_mode() const override { return GraphMode::refuse; }
  };
  auto learn = make_learner(to_device(make_data(), kCuda));
  learn->step = std::make_shared<CudaGraphStep>(kWarmup);
  CHECK_THROWS_WITH_AS(learn->fit(1, {on_gpu(), std::make_shared<Refuses>()}),
                       doctest::Contains("Refuses cannot run with a captured step"), Error);
  // The model stays where the data is not: the step names the missing DeviceCallback.
  auto cpu_model = make_learner(make_data());
  cpu_model->step = std::make_shared<CudaGraphStep>(kWarmup);
  CHECK_THROWS_WITH_AS(cpu_model->fit(1), doctest::Contains("add a DeviceCallback"), Error);
  // An optimizer that cannot be captured is named.
  struct Plain : optim::Optimizer {
    explicit Plain(std::vector<Tensor> ps) : optim::Optimizer({"lr"}, {0.1}) {
      add_param_group({std::move(ps), {}});
    }
    void step() override {}
    std::string_view name() const override { return "Plain"; }
  };
  Generator gen(5);
  auto model = nn::mlp({8, 32, 4}, gen);
  Learner plain(
      model, std::make_shared<Plain>(model->parameters()),
      [](const Tensor& p, const Tensor& y) { return cross_entropy(p, y); },
      to_device(make_data(), kCuda));
  plain.step = std::make_shared<CudaGraphStep>(kWarmup);
  CHECK_THROWS_WITH_AS(plain.fit(1, {on_gpu()}), doctest::Contains("Plain cannot be captured"),
                       Error);
}

TEST_CASE("cuda training: a host callback cannot cancel the step of a replayed batch") {
  TG_SKIP_WITHOUT_CUDA();
  struct SkipSteps : Callback {  // from the batch after the warm-up: the first replay
    int n = 0;
    void before_step(Learner&) override {
      if (++n > kWarmup) throw CancelStep();
    }
  };
  // Eagerly, CancelStep skips the step; after a replay it has already run: a clear error.
  auto learn = make_learner(to_device(make_data(), kCuda));
  learn->step = std::make_shared<CudaGraphStep>(kWarmup);
  try {
    learn->fit(1, {on_gpu(), std::make_shared<SkipSteps>()});
    FAIL("the fit should have failed");
  } catch (const Error& e) {
    CHECK(has(test::messages(e), "CancelStep was thrown in before_step after a replayed step"));
  }
}

TEST_CASE("cuda training: TerminateOnNaN stops a GPU fit with the last good step's weights") {
  TG_SKIP_WITHOUT_CUDA();
  std::shared_ptr<BatchStep> step;
  int64_t bad = 0;
  SUBCASE("eager") {
    bad = 4;
  }
  SUBCASE("replayed") {
    step = std::make_shared<CudaGraphStep>(kWarmup);
    bad = kWarmup + 3;  // a replayed batch
  }
  // Batch `bad` of the first epoch gets NaN inputs, so its loss is NaN on the device.
  DataBunch data = to_device(make_data(), kCuda);
  struct PoisonBatch : Callback {  // writes NaN into one training batch's inputs
    int64_t at, seen = 0;
    explicit PoisonBatch(int64_t a) : at(a) {}
    int order() const override { return -15; }  // after DeviceCallback (-20)
    void before_batch(Learner& l) override {
      if (!l.training || ++seen != at) return;
      NoGrad off;
      l.xb = l.xb.clone();
      l.xb.fill_(std::nan(""));
    }
  };
  Generator gen(5);
  auto model = nn::mlp({8, 32, 4}, gen);
  auto opt = std::make_shared<optim::SGD>(model->parameters(),
                                          optim::SGDOptions{.lr = 0.1, .momentum = 0.9});
  Learner learn(
      model, opt, [](const Tensor& p, const Tensor& y) { return cross_entropy(p, y); }, data);
  if (step) learn.step = step;
  auto nan = std::make_shared<TerminateOnNaN>();
  std::ostringstream msg;
  nan->out = &msg;
  // Snapshot the weights after the last good step.
  struct Keep : Callback {
    int64_t upto, seen = 0;
    std::vector<Tensor> weights;
    explicit Keep(int64_t u) : upto(u) {}
    int order() const override { return 150; }
    void after_batch(Learner& l) override {
      if (!l.training || ++seen != upto) return;
      NoGrad off;
      weights.clear();
      for (const Tensor& p : l.model->parameters()) weights.push_back(p.detach().to(Device::cpu()));
    }
  };
  auto keep = std::make_shared<Keep>(bad - 1);
  learn.fit(kEpochs, {on_gpu(), std::make_shared<PoisonBatch>(bad), nan, keep});
  CHECK(nan->stopped);
  CHECK(learn.epoch == 0);  // stopped in the first epoch, at its training phase's end
  CHECK(has(msg.str(), "at epoch 1, the end of the phase (training)"));
  // The guarded steps skipped the bad batch and every one after it.
  REQUIRE(keep->weights.size() == learn.model->parameters().size());
  const auto ps = learn.model->parameters();
  for (size_t i = 0; i < ps.size(); ++i)
    CHECK(test::same_bits(ps[i].detach().to(Device::cpu()), keep->weights[i]));
}

// --- tg::cuda::Graph directly -------------------------------------------------------------------

TEST_CASE("cuda Graph: replays captured ops on inputs rewritten in place") {
  TG_SKIP_WITHOUT_CUDA();
  constexpr int64_t n = 1000;
  Tensor x = zeros({n}, DType::f32, kCuda), out = zeros({n}, DType::f32, kCuda);
  cuda::Graph g;
  CHECK_FALSE(g.captured());
  CHECK_FALSE(cuda::is_capturing());
  bool inside = false;
  g.capture([&] {
    inside = cuda::is_capturing();
    const Tensor y = ops::unary(UnaryOp::exp, ops::scalar(ScalarOp::mul, x, 0.5));
    out.copy_(ops::binary(BinaryOp::add, y, x));  // into the preallocated output
  });
  CHECK(inside);
  CHECK_FALSE(cuda::is_capturing());
  CHECK(g.captured());
  CHECK(g.num_nodes() >= 4);  // mul, exp, add, copy
  // Capturing recorded the kernels without running them.
  CHECK(out.to_vector<float>() == std::vector<float>(n, 0.f));
  Generator gen(21);
  for (int round = 0; round < 2; ++round) {
    CAPTURE(round);
    const Tensor host = randn({n}, gen);
    x.copy_(host);  // in place: the graph reads x's address
    g.replay();
    const Tensor want = ops::binary(
        BinaryOp::add, ops::unary(UnaryOp::exp, ops::scalar(ScalarOp::mul, host, 0.5)), host);
    CHECK(nerr(out, want) <= 1e-6);
  }
}

TEST_CASE("cuda Graph: the course's CNN captures, and BatchNorm counts its batches on the device") {
  TG_SKIP_WITHOUT_CUDA();
  Generator gen(23);
  auto net = nn::course_cnn(12, 12, {4, 8}, 10, gen);
  net->to(kCuda);
  const Tensor x = randn({6, 144}, gen).to(kCuda);
  NoGrad guard;
  const Tensor want = (*net)(x);  // eager: the first batch counted
  Tensor out = zeros(want.shape(), DType::f32, kCuda);
  cuda::Graph g;
  g.capture([&] { out.copy_((*net)(x)); });  // a host read of the counter would refuse this
  for (int i = 0; i < 3; ++i) g.replay();
  // Training mode normalises with the batch's statistics: every replay gives the eager output.
  CHECK(nerr(out, want) == 0);
  int counters = 0;
  for (const auto& [name, b] : net->named_buffers()) {
    if (name.find("num_batches_tracked") == std::string::npos) continue;
    CAPTURE(name);
    CHECK(b.device().is_cuda());
    CHECK(b.to(Device::cpu()).item<int64_t>() == 4);  // 1 eager + 3 replays (capture runs none)
    ++counters;
  }
  CHECK(counters == 2);
}

TEST_CASE("cuda Graph: capturing code that synchronises fails with a tg::Error") {
  TG_SKIP_WITHOUT_CUDA();
  const Tensor x = ones({33}, DType::f32, kCuda);
  {
    cuda::Graph g;
    const std::string msg = error_of(
        [&] { g.capture([&] { (void)ops::reduce(ReduceOp::sum, x, {}, false).item<float>(); }); });
    CHECK_MESSAGE(has(msg, "capture"), msg);
    CHECK_FALSE(g.captured());
    CHECK_FALSE(cuda::is_capturing());
    CHECK(error_of([&] { g.replay(); }) != "<no tg::Error thrown>");  // nothing to replay
  }
  {
    cuda::Graph g;
    const std::string msg = error_of([&] { g.capture([&] { (void)x.to(Device::cpu()); }); });
    CHECK_MESSAGE(has(msg, "capture"), msg);
  }
  // The stream left capture mode cleanly: ordinary work runs and synchronises.
  CHECK_NOTHROW(cuda::synchronize());
  CHECK(ops::reduce(ReduceOp::sum, x, {}, false).item<float>() == 33.f);
  // And a later capture on the same stream works.
  Tensor out = zeros({33}, DType::f32, kCuda);
  cuda::Graph g;
  g.capture([&] { out.copy_(ops::scalar(ScalarOp::mul, x, 3.0)); });
  g.replay();
  CHECK(out.to_vector<float>() == std::vector<float>(33, 3.f));
}

TEST_CASE("cuda Graph: memory used by a capture is not handed out while the graph lives") {
  TG_SKIP_WITHOUT_CUDA();
  constexpr int64_t n = 4096;
  Generator gen(22);
  const Tensor host = randn({n}, gen);
  Tensor x = host.to(kCuda), out;
  std::vector<const void*> temps;  // the capture's temporaries, freed when it returns
  auto g = std::make_unique<cuda::Graph>();
  g->capture([&] {
    const Tensor a = ops::scalar(ScalarOp::mul, x, 2.0);
    const Tensor b = ops::unary(UnaryOp::tanh, a);
    temps = {a.raw_data(), b.raw_data()};
    out = ops::binary(BinaryOp::add, a, b);  // allocated in the capture, kept
  });
  REQUIRE(temps.size() == 2);
  // Same-size tensors made now must not land on the temporaries, which every replay rewrites.
  std::vector<Tensor> later;
  for (int i = 0; i < 4; ++i) {
    later.push_back(full({n}, 7.0 + i, DType::f32, kCuda));
    for (const void* p : temps) CHECK(later.back().raw_data() != p);
    CHECK(later.back().raw_data() != out.raw_data());
  }
  g->replay();
  g->replay();
  for (int i = 0; i < 4; ++i)
    CHECK(later[static_cast<size_t>(i)].to_vector<float>() ==
          std::vector<float>(n, static_cast<float>(7.0 + i)));
  const Tensor a = ops::scalar(ScalarOp::mul, host, 2.0);
  CHECK(nerr(out, ops::binary(BinaryOp::add, a, ops::unary(UnaryOp::tanh, a))) <= 1e-6);
  // Destroying the graph hands its blocks to the general cache: with that cache emptied first,
  // the next allocations of this size are exactly those blocks, and no driver call is made.
  const void* out_block = out.raw_data();
  out = Tensor();  // freed into the graph's pool, which the graph still holds
  cuda::empty_cache();
  const cuda::MemoryStats before = cuda::memory_stats();
  g.reset();
  std::vector<Tensor> again;
  for (int i = 0; i < 3; ++i) again.push_back(empty({n}, DType::f32, kCuda));
  const cuda::MemoryStats after = cuda::memory_stats();
  CHECK(after.driver_allocs == before.driver_allocs);
  for (const Tensor& t : again) {
    const void* p = t.raw_data();
    CHECK((p == temps[0] || p == temps[1] || p == out_block));
  }
}

TEST_CASE("cuda training: BatchNorm1d's buffers move with to() and follow the CPU's") {
  TG_SKIP_WITHOUT_CUDA();
  Generator gen(11);
  nn::BatchNorm1d cpu(3), gpu(3);
  gpu.to(kCuda);
  for (const auto& [n, b] : gpu.named_buffers()) {
    CAPTURE(n);
    CHECK(b.device() == kCuda);
  }
  CHECK(gpu.running_mean.device() == kCuda);  // the module's own handles moved too
  for (int step = 0; step < 2; ++step) {
    const Tensor x = uniform({8, 3}, -2, 2, gen);
    const Tensor yc = cpu(x), yg = gpu(x.to(kCuda));
    CHECK(max_abs_diff(yg.detach().to(Device::cpu()), yc.detach()) < 1e-5);
  }
  CHECK(max_abs_diff(gpu.running_mean.to(Device::cpu()), cpu.running_mean) < 1e-6);
  CHECK(max_abs_diff(gpu.running_var.to(Device::cpu()), cpu.running_var) < 1e-6);
  CHECK(gpu.num_batches_tracked.to(Device::cpu()).item<int32_t>() == 2);
  gpu.eval();
  cpu.eval();
  const Tensor x = uniform({2, 3}, -2, 2, gen);
  CHECK(max_abs_diff(gpu(x.to(kCuda)).detach().to(Device::cpu()), cpu(x).detach()) < 1e-5);
}
