// One optimizer step on the CPU, fused kernel against its own recipe (set_fused(false): the
// course's stats and steppers as plain loops, one pass each), for every library optimizer, on
// the parameters of the wide MLP (784-512-512-10: 669,706 floats in 6 tensors) with fixed
// gradients. The fused rows are the product's step; the recipe rows show what fusing buys.
// Counters: params (parameters updated per second) and bytes_per_second (the bytes the fused
// kernel must move, kernels/*.h: SGD with momentum 5n floats, Adam 7n, RMSprop 5n, LAMB 11n,
// over the time). Threads: OMP_NUM_THREADS (scripts/run-bench.sh sets 2). bench_libtorch's
// optim.* rows time the same steps beside torch::optim.
//   build/bin/bench_optim --benchmark_filter='SGD|Adam'
#include <benchmark/benchmark.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "bench/bench_data.h"
#include "optim/adam.h"
#include "optim/optimizer.h"
#include "tensor/creation.h"

namespace {

using namespace tg;
using Make = std::function<std::unique_ptr<optim::StatefulOptimizer>(const std::vector<Tensor>&)>;

void run(benchmark::State& state, const Make& make, bool fused, double floats_moved) {
  std::vector<Tensor> ps = bench::wide_mlp_params();
  int64_t n = 0;
  for (const Tensor& p : ps) n += p.numel();
  std::unique_ptr<optim::StatefulOptimizer> opt = make(ps);
  opt->set_fused(fused);
  opt->step();  // creates the state: the timed steps allocate nothing (fused)
  for (auto _ : state) opt->step();
  const double steps = double(state.iterations());
  state.counters["params"] = benchmark::Counter(steps * double(n), benchmark::Counter::kIsRate);
  state.SetBytesProcessed(int64_t(steps * double(n) * floats_moved * 4));
}

template <typename O, typename Opt>
Make maker(Opt o) {
  return [o](const std::vector<Tensor>& ps) { return std::make_unique<O>(ps, o); };
}

void register_all() {
  struct Row {
    std::string name;
    Make make;
    double floats;
  };
  const std::vector<Row> rows = {
      {"SGD_momentum", maker<optim::SGD>(optim::SGDOptions{.lr = 1e-4, .momentum = 0.9}), 5},
      {"Adam", maker<optim::Adam>(optim::AdamOptions{.lr = 1e-5}), 7},
      {"AdamW", maker<optim::AdamW>(optim::AdamWOptions{.lr = 1e-5}), 7},
      {"RMSprop", maker<optim::RMSprop>(optim::RMSpropOptions{.lr = 1e-5}), 5},
      {"LAMB", maker<optim::LAMB>(optim::LAMBOptions{.lr = 1e-5}), 11},
  };
  for (const Row& r : rows)
    for (bool fused : {true, false})
      benchmark::RegisterBenchmark(
          ("BM_optim_step/" + r.name + (fused ? "/fused" : "/recipe")).c_str(),
          [r, fused](benchmark::State& s) { run(s, r.make, fused, r.floats); })
          ->Unit(benchmark::kMicrosecond)
          ->UseRealTime();
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
