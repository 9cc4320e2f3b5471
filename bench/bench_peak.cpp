// This machine's float FMA peak (bench/fma_peak.h), per ISA and thread count, in GFLOP/s: the
// limit every GEMM and conv figure is read against (bench_gemm's peak% column divides by it).
//
//   build/bin/bench_peak                       every ISA this CPU runs, 1 .. OMP threads
//   build/bin/bench_peak --benchmark_filter=avx512
//
// Names: fma_peak/<isa>/threads:<n>. The time is the OpenMP region's wall time (manual time),
// so with other work on a core the slowest thread sets the figure. core_round_trip: one round
// trip of a cache line between CPUs 0 and 1 (bench/core_latency.h; counter ns), where a VM's
// two vCPUs may sit on one CCX or on two (every 2-thread figure depends on it).
#include <benchmark/benchmark.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "core_latency.h"
#include "fma_peak.h"

namespace {

using tg::bench::Isa;

void bm_peak(benchmark::State& state, Isa isa, int threads) {
  constexpr int64_t kIters = 1'000'000;
  float sink = 0;
  tg::bench::fma_run(isa, threads, kIters / 10, &sink);  // wake the team
  for (auto _ : state) state.SetIterationTime(tg::bench::fma_run(isa, threads, kIters, &sink));
  benchmark::DoNotOptimize(sink);
  state.counters["GFLOP/s"] = benchmark::Counter(threads * tg::bench::fma_flops(isa, kIters) * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

void bm_round_trip(benchmark::State& state) {
  double last = 0;
  for (auto _ : state) {
    last = tg::bench::core_round_trip_ns(0, 1, 20000);
    if (std::isnan(last)) {
      state.SkipWithError("this process may not run on CPUs 0 and 1");
      return;
    }
    state.SetIterationTime(last * 20000 * 1e-9);
  }
  state.counters["ns"] = last;
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  const int max_threads = omp_get_max_threads();
  benchmark::AddCustomContext("omp_max_threads", std::to_string(max_threads));
  benchmark::AddCustomContext("best_isa", tg::bench::isa_name(tg::bench::best_isa()));
  for (Isa isa : {Isa::avx512, Isa::avx2, Isa::scalar}) {
    if (!tg::bench::isa_supported(isa)) continue;
    for (int t = 1;; t = std::min(2 * t, max_threads)) {  // 1, 2, 4, ..., max_threads
      const std::string name =
          std::string("fma_peak/") + tg::bench::isa_name(isa) + "/threads:" + std::to_string(t);
      benchmark::RegisterBenchmark(name.c_str(), bm_peak, isa, t)
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
      if (t == max_threads) break;
    }
  }
  benchmark::RegisterBenchmark("core_round_trip", bm_round_trip)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
