// Epoch time of MLP training on the CPU, the figure the practitioner cares about: one
// benchmark iteration is one full pass over the 60,000 MNIST training images with SGD.
//
//   course: 784-50-10,           batch 64  (938 steps)
//   wide:   784-512-512-10,      batch 256 (235 steps)
//
// Two ways of running the same epoch: the plain loop (DataLoader, forward, cross_entropy,
// backward, SGD step — what PyTorch's reference loop does) and Learner::fit with the trainer's
// callbacks (TrainEval, AvgStats), training phase only; BM_loader times the DataLoader's
// batches alone (its prefetching worker included), the floor under both. Real MNIST when data/mnist
// exists (run from the repository root), else random data of the same shape (the speed is the
// same). The Time column is the wall time of one epoch. Threads: OMP_NUM_THREADS
// (scripts/run-bench.sh sets 2). bench/pytorch_mlp.py is the PyTorch side of the comparison.
//
// On a GPU (BM_cuda_*, registered only when tg::cuda::is_available(); otherwise the program
// prints why on stderr and runs the CPU rows alone) the same two configurations are timed
// three ways, the data set living on the GPU (to_device: each batch is a gather kernel there):
//
//   BM_cuda_plain_loop   the plain loop above on the GPU, op by op (eager)
//   BM_cuda_learner_fit  Learner::fit with DeviceCallback (+ AvgStats, TrainOnly), eager
//   BM_cuda_graph_fit    the same with CudaGraphStep: after 3 eager steps, each full batch is one
//                        CUDA Graph replay of forward, loss, backward and SGD step
//
// Time is the host clock around one epoch that ends with tg::cuda::synchronize() (the GPU
// works asynchronously; without the wait the clock would stop while kernels are still queued),
// reported as manual time, after one untimed warm-up epoch (module load, cuBLAS handle, the
// allocator's cache, momentum buffers, the graph's capture). The Learner rows run their epochs
// in one fit (CudaGraphStep keeps its graph for the epochs of one fit, as the trainer does) and
// time each training phase; the benchmark loop then reports those epochs one per iteration.
// Counters: epoch_s (mean seconds per timed epoch), best_epoch_s, steps, driver_allocs (cudaMalloc
// calls during the timed epochs: 0 once the allocator is warm), and a loss (NaN = diverged).
// bench/pytorch_mlp.py --device cuda [--cuda-graph] is PyTorch's side:
//   build/bin/bench_train --benchmark_filter=cuda
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <filesystem>
#include <iostream>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#ifdef TG_WITH_CUDA
#include <cuda_runtime_api.h>  // the device's name for the benchmark context
#endif

#include "autograd/autograd.h"
#include "bench/bench_data.h"
#include "bench/core_latency.h"
#include "learner/callbacks/callbacks.h"
#include "learner/callbacks/device.h"
#include "learner/data/data.h"
#include "learner/data/datasets.h"
#include "learner/graph_step.h"
#include "learner/learner.h"
#include "nn/layers.h"
#include "optim/optimizer.h"
#include "tensor/creation.h"
#include "tensor/cuda.h"

namespace {

const tg::ImageData& mnist() {
  static tg::ImageData d = [] {
    if (std::filesystem::is_directory("data/mnist")) return tg::load_image_folder("data/mnist");
    return tg::bench::random_mnist_like();
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
      opt.zero_grad(/*set_to_none=*/true);
    }
  }
  state.counters["steps"] = static_cast<double>(db.train_dl.num_batches());
}

// The data pipeline alone: one epoch of batches from the DataLoader (with its prefetching
// worker), nothing trained. The floor under the plain loop's time.
void BM_loader(benchmark::State& state) {
  const int64_t bs = state.range(0) ? 256 : 64;
  tg::DataBunch db = tg::make_databunch(mnist(), bs, 1);
  double sum = 0;
  for (auto _ : state)
    for (const tg::Batch& b : db.train_dl) sum += double(b.x.data<float>()[0]);
  benchmark::DoNotOptimize(sum);
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

// ---- the same epochs on a GPU ---------------------------------------------------------------

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// e.what() and the messages of the exceptions nested in it (Learner wraps a callback's error).
std::string what_of(const std::exception& e) {
  std::string s = e.what();
  try {
    std::rethrow_if_nested(e);
  } catch (const std::exception& inner) {
    s += ": " + what_of(inner);
  } catch (...) {
    s += ": (a non-standard exception)";
  }
  return s;
}

// The benchmark's loaders with the data moved to the GPU whole (MNIST is 188 MB as float32).
tg::DataBunch gpu_databunch(int64_t bs) {
  return tg::to_device(tg::make_databunch(mnist(), bs, 1), tg::Device::cuda());
}

// The counters every CUDA row reports, from the timed epochs' seconds.
void report(benchmark::State& state, const std::vector<double>& secs, int64_t steps,
            uint64_t driver_allocs) {
  if (secs.empty()) return;
  state.counters["epoch_s"] =
      std::accumulate(secs.begin(), secs.end(), 0.0) / static_cast<double>(secs.size());
  state.counters["best_epoch_s"] = *std::min_element(secs.begin(), secs.end());
  state.counters["steps"] = static_cast<double>(steps);
  state.counters["driver_allocs"] = static_cast<double>(driver_allocs);
}

void BM_cuda_plain_loop(benchmark::State& state) {
  try {
    const int64_t wide = state.range(0), bs = wide ? 256 : 64;
    tg::Generator gen(0);
    auto model = tg::nn::mlp(arch(wide), gen);
    model->to(tg::Device::cuda());
    tg::optim::SGD opt(model->parameters(), {.lr = 0.05, .momentum = 0.9});
    tg::DataBunch db = gpu_databunch(bs);
    tg::Tensor loss;
    auto epoch = [&] {
      for (const tg::Batch& b : db.train_dl) {
        loss = tg::cross_entropy((*model)(b.x), b.y);
        tg::backward(loss);
        opt.step();
        opt.zero_grad();
      }
      tg::cuda::synchronize();  // the epoch is over when the GPU is done with it
    };
    epoch();  // warm-up, untimed
    const uint64_t allocs0 = tg::cuda::memory_stats().driver_allocs;
    std::vector<double> secs;
    for (auto _ : state) {
      const auto t0 = Clock::now();
      epoch();
      secs.push_back(seconds_since(t0));
      state.SetIterationTime(secs.back());
    }
    report(state, secs, db.train_dl.num_batches(),
           tg::cuda::memory_stats().driver_allocs - allocs0);
    state.counters["last_loss"] = loss.item<double>();  // the epoch's last batch
  } catch (const std::exception& e) {
    state.SkipWithError(what_of(e).c_str());
  }
}

// Times each training phase of a fit: synchronize, clock, the phase, synchronize, clock. Runs
// last (order), so every other callback's after_train work is inside the time.
struct EpochTimer : tg::Callback {
  int order() const override { return 1000; }
  void before_train(tg::Learner&) override {
    tg::cuda::synchronize();
    t0 = Clock::now();
  }
  void after_train(tg::Learner&) override {
    tg::cuda::synchronize();
    secs.push_back(seconds_since(t0));
    driver_allocs.push_back(tg::cuda::memory_stats().driver_allocs);
  }
  Clock::time_point t0;
  std::vector<double> secs;
  std::vector<uint64_t> driver_allocs;  // cumulative, at the end of each training phase
};

void cuda_fit(benchmark::State& state, bool graph) {
  try {
    const int64_t wide = state.range(0), bs = wide ? 256 : 64;
    tg::Generator gen(0);
    auto model = tg::nn::mlp(arch(wide), gen);  // on the CPU: DeviceCallback moves it
    auto opt = std::make_shared<tg::optim::SGD>(model->parameters(),
                                                tg::optim::SGDOptions{.lr = 0.05, .momentum = 0.9});
    tg::Learner learn(
        model, opt,
        [](const tg::Tensor& p, const tg::Tensor& y) { return tg::cross_entropy(p, y); },
        gpu_databunch(bs), {.metrics = {tg::accuracy_metric()}});
    learn.add_cb(std::make_shared<tg::AvgStats>(false));
    learn.add_cb(std::make_shared<TrainOnly>());
    learn.add_cb(std::make_shared<tg::DeviceCallback>(tg::Device::cuda()));
    std::shared_ptr<tg::CudaGraphStep> step;
    if (graph) learn.step = step = std::make_shared<tg::CudaGraphStep>();
    auto timer = std::make_shared<EpochTimer>();
    learn.add_cb(timer);

    // One fit of 1 + N epochs, the first a warm-up (for the graph row: 3 eager steps and the
    // capture), so that the graph is captured once, as in the trainer; the loop below then
    // reports the N timed epochs, one per iteration.
    const int64_t timed = static_cast<int64_t>(state.max_iterations);
    learn.fit(1 + timed);
    if (timer->secs.size() != static_cast<size_t>(1 + timed))
      throw std::runtime_error("expected " + std::to_string(1 + timed) + " timed epochs, got " +
                               std::to_string(timer->secs.size()));
    if (graph && step->replays() == 0)
      throw std::runtime_error("CudaGraphStep replayed no step: the row would time eager steps");
    size_t i = 1;
    for (auto _ : state) state.SetIterationTime(timer->secs.at(i++));

    const std::vector<double> secs(timer->secs.begin() + 1, timer->secs.end());
    report(state, secs, learn.data.train_dl.num_batches(),
           timer->driver_allocs.back() - timer->driver_allocs.front());
    state.counters["warmup_epoch_s"] = timer->secs.front();
    if (graph) state.counters["replays"] = static_cast<double>(step->replays());
    if (auto it = learn.values.find("train_loss"); it != learn.values.end())
      state.counters["train_loss"] = it->second;  // the last epoch's mean
  } catch (const std::exception& e) {
    state.SkipWithError(what_of(e).c_str());
  }
}

void BM_cuda_learner_fit(benchmark::State& state) {
  cuda_fit(state, false);
}
void BM_cuda_graph_fit(benchmark::State& state) {
  cuda_fit(state, true);
}

// Registered only on a machine with a usable CUDA device: elsewhere these rows do not exist
// (and main says so), rather than failing.
void register_cuda_benchmarks() {
  for (auto [name, fn] : {std::pair{"BM_cuda_plain_loop", &BM_cuda_plain_loop},
                          std::pair{"BM_cuda_learner_fit", &BM_cuda_learner_fit},
                          std::pair{"BM_cuda_graph_fit", &BM_cuda_graph_fit}}) {
    benchmark::RegisterBenchmark(name, fn)
        ->ArgName("wide")
        ->Arg(0)
        ->Arg(1)
        ->Unit(benchmark::kMillisecond)
        ->Iterations(5)
        ->UseManualTime();
  }
#ifdef TG_WITH_CUDA
  cudaDeviceProp prop{};
  int device = 0;
  if (cudaGetDevice(&device) == cudaSuccess &&
      cudaGetDeviceProperties(&prop, device) == cudaSuccess) {
    benchmark::AddCustomContext("cuda_device", prop.name);
    benchmark::AddCustomContext("cuda_sms", std::to_string(prop.multiProcessorCount));
  }
#endif
  benchmark::AddCustomContext("cuda_tf32", tg::cuda::allow_tf32() ? "on" : "off");
}

}  // namespace

// The CPU rows: course (wide:0) and wide (wide:1), three epochs each, wall time.
void epochs(benchmark::internal::Benchmark* b) {
  b->ArgName("wide")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();
}
BENCHMARK(BM_plain_loop)->Apply(epochs);
BENCHMARK(BM_loader)->Apply(epochs);
BENCHMARK(BM_learner_fit)->Apply(epochs);

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("core_round_trip", tg::bench::core_round_trip_text());
  if (tg::cuda::is_available())
    register_cuda_benchmarks();
  else
    std::cerr << "bench_train: the CUDA rows (BM_cuda_*) are skipped: no usable CUDA device ("
              << tg::cuda::unavailable_reason() << ")" << std::endl;
  benchmark::RunSpecifiedBenchmarks();
  std::fprintf(stderr, "core_round_trip at the end: %s\n",
               tg::bench::core_round_trip_text().c_str());
  benchmark::Shutdown();
  return 0;
}
