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

#include <memory>
#include <string>
#include <vector>

#include "bench/bench_data.h"

namespace {

using namespace tg;
void run(benchmark::State& state, const std::string& name, bool fused, double floats_moved) {
  std::vector<Tensor> ps = bench::wide_mlp_params();
  const int64_t n = bench::total_numel(ps);
  std::unique_ptr<optim::StatefulOptimizer> opt = bench::make_optimizer(name, ps);
  opt->set_fused(fused);
  opt->step();  // creates the state: the timed steps allocate nothing (fused)
  for (auto _ : state) opt->step();
  const double steps = double(state.iterations());
  state.counters["params"] = benchmark::Counter(steps * double(n), benchmark::Counter::kIsRate);
  state.SetBytesProcessed(int64_t(steps * double(n) * floats_moved * 4));
}

void register_all() {
  struct Row {
    std::string name;
    double floats;
  };
  const std::vector<Row> rows = {
      {"SGD_momentum", 5}, {"Adam", 7}, {"AdamW", 7}, {"RMSprop", 5}, {"LAMB", 11}};
  for (const Row& r : rows)
    for (bool fused : {true, false})
      benchmark::RegisterBenchmark(
          ("BM_optim_step/" + r.name + (fused ? "/fused" : "/recipe")).c_str(),
          [r, fused](benchmark::State& s) { run(s, r.name, fused, r.floats); })
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
