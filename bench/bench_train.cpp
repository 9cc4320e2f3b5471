// Epoch time of MLP training on the CPU, the figure the practitioner cares about: one
// benchmark iteration is one full pass over the 60,000 MNIST training images with SGD.
//
//   course: 784-50-10,           batch 64  (938 steps)
//   wide:   784-512-512-10,      batch 256 (235 steps)
//
// Two ways of running the same epoch: the plain loop (DataLoader, forward, cross_entropy,
// backward, SGD step — what PyTorch's reference loop does) and Learner::fit with the trainer's
// callbacks (TrainEval, AvgStats), training phase only. Real MNIST when data/mnist exists
// (run from the repository root), else random data of the same shape (the speed is the same).
// The Time column is the wall time of one epoch. Threads: OMP_NUM_THREADS (scripts/run-bench.sh
// sets 2). bench/pytorch_mlp.py is the PyTorch side of the comparison.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <memory>

#include "autograd/autograd.h"
#include "learner/callbacks.h"
#include "learner/datasets.h"
#include "nn/layers.h"
#include "optim/optimizer.h"
#include "tensor/creation.h"

namespace {

const tg::ImageData& mnist() {
  static tg::ImageData d = [] {
    if (std::filesystem::is_directory("data/mnist")) return tg::load_image_folder("data/mnist");
    tg::Generator gen(1);
    tg::ImageData r;
    r.x_train = tg::randn({60000, 784}, gen);
    r.y_train = tg::randint(0, 10, {60000}, gen);
    r.x_valid = tg::randn({10000, 784}, gen);
    r.y_valid = tg::randint(0, 10, {10000}, gen);
    r.c = 10;
    return r;
  }();
  return d;
}

std::vector<int64_t> arch(int64_t wide) {
  return wide ? std::vector<int64_t>{784, 512, 512, 10} : std::vector<int64_t>{784, 50, 10};
}

void BM_plain_loop(benchmark::State& state) {
  const int64_t wide = state.range(0), bs = wide ? 256 : 64;
  tg::Generator gen(0);
  auto model = tg::nn::mlp(arch(wide), gen);
  tg::optim::SGD opt(model->parameters(), {.lr = 0.05, .momentum = 0.9});
  tg::DataBunch db = tg::make_databunch(mnist(), bs, 1);
  for (auto _ : state) {
    for (const tg::Batch& b : db.train_dl) {
      tg::Tensor loss = tg::cross_entropy((*model)(b.x), b.y);
      tg::backward(loss);
      opt.step();
      opt.zero_grad();
    }
  }
  state.counters["steps"] = static_cast<double>(db.train_dl.num_batches());
}

// Skips validation so both rows time the same work.
struct TrainOnly : tg::Callback {
  void before_validate(tg::Learner&) override { throw tg::CancelValidate(); }
};

void BM_learner_fit(benchmark::State& state) {
  const int64_t wide = state.range(0), bs = wide ? 256 : 64;
  tg::Generator gen(0);
  auto model = tg::nn::mlp(arch(wide), gen);
  auto opt = std::make_shared<tg::optim::SGD>(model->parameters(),
                                              tg::optim::SGDOptions{.lr = 0.05, .momentum = 0.9});
  tg::Learner learn(
      model, opt, [](const tg::Tensor& p, const tg::Tensor& y) { return tg::cross_entropy(p, y); },
      tg::make_databunch(mnist(), bs, 1), {.metrics = {tg::accuracy_metric()}});
  learn.add_cb(std::make_shared<tg::AvgStats>(false));
  learn.add_cb(std::make_shared<TrainOnly>());
  for (auto _ : state) learn.fit(1);
  state.counters["steps"] = static_cast<double>(learn.data.train_dl.num_batches());
}

}  // namespace

BENCHMARK(BM_plain_loop)
    ->ArgName("wide")
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3)
    ->UseRealTime();
BENCHMARK(BM_learner_fit)
    ->ArgName("wide")
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3)
    ->UseRealTime();

BENCHMARK_MAIN();
