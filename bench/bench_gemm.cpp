// The GEMM ladder side by side with OpenBLAS's cblas_sgemm and BLIS's bli_sgemm, in GFLOP/s
// (2*m*n*k per call).
//
//   build/bin/bench_gemm [--benchmark_filter=REGEX] [google-benchmark flags]
//   scripts/run-bench.sh build      (what `make bench` runs: 2 threads unless overridden)
//
// Benchmark names are <rung>/<shape>: rungs naive, reordered, blocked, packed, gemm, openblas,
// blis (where CMake found libblis: bench/blis_gemm.h),
// and gemm.avx2 / gemm.generic / gemm.avx512 (the library's gemm with the kernel of another
// instruction set this CPU runs, square sizes only; kernels/gemm.h, TG_GEMM_ISA);
// shapes are square sizes (64 .. 4096, "1024.tn" = trans_a, not trans_b) and the products
// of a 784-50-10 MLP on a batch of 64: mlp.* with weights stored (in, out), linear.* with
// nn::Linear's (out, in) layout. Threads: OMP_NUM_THREADS drives `gemm`,
// OPENBLAS_NUM_THREADS drives OpenBLAS, BLIS_NUM_THREADS BLIS (single-threaded when unset);
// rungs 1-4 are single-threaded by design.
//
// peak%: GFLOP/s as a percentage of this machine's FMA peak (bench/fma_peak.h, measured at
// start-up for the widest ISA the CPU runs) on the threads the row may use: one for rungs 1-4,
// OMP_NUM_THREADS for `gemm`, OpenBLAS's and BLIS's thread counts for theirs. (`gemm` keeps
// products under 1M multiply-adds on one thread, so those rows read against the many-thread
// peak; from 1M to 4M it splits them here, where no GemmBackgroundThreads guard lives.)
#include <benchmark/benchmark.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench/core_latency.h"
#include "fma_peak.h"
#include "kernels/cpu_info.h"
#include "kernels/gemm.h"

#ifdef TG_HAVE_OPENBLAS
#include <cblas.h>
#endif
#ifdef TG_HAVE_BLIS
#include "bench/blis_gemm.h"
#endif

namespace {

using namespace tg::kernels::cpu;

struct Shape {
  std::string name;
  bool ta, tb;
  int64_t m, n, k;
};

// The MLP of the course (784 -> 50 -> 10, batch 64), weights stored (in, out):
// forward X(64x784) W1(784x50), H(64x50) W2(50x10); backward dW = X^T dY (trans_a),
// dX = dY W^T (trans_b).
std::vector<Shape> shapes() {
  std::vector<Shape> s;
  for (int64_t n : {64, 128, 256, 512, 1024, 2048, 4096})
    s.push_back({std::to_string(n), false, false, n, n, n});
  s.push_back({"1024.tn", true, false, 1024, 1024, 1024});
  s.push_back({"1024.nt", false, true, 1024, 1024, 1024});
  s.push_back({"1024.tt", true, true, 1024, 1024, 1024});
  s.push_back({"mlp.fwd1.64x784x50", false, false, 64, 50, 784});
  s.push_back({"mlp.fwd2.64x50x10", false, false, 64, 10, 50});
  s.push_back({"mlp.dW1.784x64x50", true, false, 784, 50, 64});
  s.push_back({"mlp.dX1.64x50x784", false, true, 64, 784, 50});
  s.push_back({"mlp.dW2.50x64x10", true, false, 50, 10, 64});
  s.push_back({"mlp.dH.64x10x50", false, true, 64, 50, 10});
  // nn::Linear stores W as (out, in), as PyTorch does: forward x W^T, weight grad dY^T x.
  s.push_back({"linear.fwd.64x784x50.nt", false, true, 64, 50, 784});
  s.push_back({"linear.dW.50x64x784.tn", true, false, 50, 784, 64});
  return s;
}

struct Operands {
  std::vector<float> a, b, c;
  explicit Operands(const Shape& s) {
    std::mt19937 gen(42);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    a.resize(size_t(s.m * s.k));
    b.resize(size_t(s.k * s.n));
    c.assign(size_t(s.m * s.n), 0.0f);
    for (float& x : a) x = u(gen);
    for (float& x : b) x = u(gen);
  }
};

// An anchor's row times what it computes, so it is checked first: its C against the library's
// gemm on the same operands (both float32 with different summation orders: agreement to
// 1e-4 of the largest |C|). A mismatch (a wrong transpose flag or stride in the call) ends the
// row with an error instead of a figure.
template <typename Fn>
bool anchor_agrees(benchmark::State& state, const Shape& s, Fn anchor) {
  Operands o(s), ref(s);
  const int64_t lda = s.ta ? s.m : s.k, ldb = s.tb ? s.k : s.n;
  anchor(o);
  gemm(s.ta, s.tb, s.m, s.n, s.k, 1.0f, ref.a.data(), lda, ref.b.data(), ldb, 0.0f, ref.c.data(),
       s.n);
  float scale = 0, diff = 0;
  for (size_t i = 0; i < ref.c.size(); ++i) {
    scale = std::max(scale, std::abs(ref.c[i]));
    diff = std::max(diff, std::abs(ref.c[i] - o.c[i]));
  }
  if (!(diff <= 1e-4f * scale)) {
    state.SkipWithError(("result differs from gemm's by " + std::to_string(diff)).c_str());
    return false;
  }
  return true;
}

// The FMA peak in GFLOP/s for each (ISA, thread count) a row uses, measured once in main():
// the widest ISA for every row, AVX2's for the gemm.avx2 rows, the scalar one for gemm.generic.
std::map<std::pair<tg::bench::Isa, int>, double> g_peak;

void set_flops(benchmark::State& state, const Shape& s, int threads,
               tg::bench::Isa isa = tg::bench::Isa::best) {
  const double gflop = 2e-9 * double(s.m) * double(s.n) * double(s.k);
  state.counters["GFLOP/s"] =
      benchmark::Counter(gflop, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak%"] = benchmark::Counter(100.0 * gflop / g_peak.at({isa, threads}),
                                               benchmark::Counter::kIsIterationInvariantRate);
}

// One anchor row: the check above, then the timed calls, read against `threads`' peak.
template <typename Fn>
void bm_anchor(benchmark::State& state, const Shape& s, Fn call, int threads) {
  if (!anchor_agrees(state, s, call)) return;
  Operands o(s);
  for (auto _ : state) {
    call(o);
    benchmark::DoNotOptimize(o.c.data());
    benchmark::ClobberMemory();
  }
  set_flops(state, s, threads);
}

// The peak a row of `isa` is read against (AVX-512 and generic rows: the widest ISA's, since
// generic code is vectorised by the compiler for the build's target).
tg::bench::Isa peak_isa(GemmIsa isa) {
  return isa == GemmIsa::avx2 ? tg::bench::Isa::avx2 : tg::bench::Isa::best;
}

// Leading dimensions are those of dense storage: op(A) m x k stored k x m when transposed, etc.
void bm_rung(benchmark::State& state, GemmFn fn, Shape s, int threads, tg::bench::Isa peak) {
  Operands o(s);
  const int64_t lda = s.ta ? s.m : s.k, ldb = s.tb ? s.k : s.n;
  for (auto _ : state) {
    fn(s.ta, s.tb, s.m, s.n, s.k, 1.0f, o.a.data(), lda, o.b.data(), ldb, 0.0f, o.c.data(), s.n);
    benchmark::DoNotOptimize(o.c.data());
    benchmark::ClobberMemory();
  }
  set_flops(state, s, threads, peak);
}

// The library's gemm with its kernel switched to another instruction set for the row.
void bm_gemm_isa(benchmark::State& state, GemmIsa isa, Shape s) {
  const GemmIsa saved = gemm_config().isa;
  set_gemm_isa(isa);
  bm_rung(state, static_cast<GemmFn>(gemm), s, omp_get_max_threads(), peak_isa(isa));
  set_gemm_isa(saved);
}

#ifdef TG_HAVE_OPENBLAS
void bm_openblas(benchmark::State& state, Shape s) {
  const int lda = int(s.ta ? s.m : s.k), ldb = int(s.tb ? s.k : s.n);
  bm_anchor(
      state, s,
      [&](Operands& o) {
        cblas_sgemm(CblasRowMajor, s.ta ? CblasTrans : CblasNoTrans,
                    s.tb ? CblasTrans : CblasNoTrans, int(s.m), int(s.n), int(s.k), 1.0f,
                    o.a.data(), lda, o.b.data(), ldb, 0.0f, o.c.data(), int(s.n));
      },
      openblas_get_num_threads());
}
#endif

#ifdef TG_HAVE_BLIS
void bm_blis(benchmark::State& state, Shape s) {
  const int64_t lda = s.ta ? s.m : s.k, ldb = s.tb ? s.k : s.n;
  bm_anchor(
      state, s,
      [&](Operands& o) {
        tg::bench::blis_sgemm(s.ta, s.tb, s.m, s.n, s.k, 1.0f, o.a.data(), lda, o.b.data(), ldb,
                              0.0f, o.c.data(), s.n);
      },
      tg::bench::blis_threads());
}
#endif

void register_all() {
  struct Rung {
    const char* name;
    GemmFn fn;
    int64_t max_size;  // slow rungs stop where a run would take seconds
  };
  const Rung rungs[] = {{"naive", gemm_naive, 512},
                        {"reordered", gemm_reordered, 512},
                        {"blocked", gemm_blocked, 1024},
                        {"packed", gemm_packed, 1 << 30},
                        {"gemm", static_cast<GemmFn>(gemm), 1 << 30}};
  for (const Shape& s : shapes()) {
    for (const Rung& r : rungs) {
      const bool transposed_square = (s.ta || s.tb) && s.m == s.k && s.n == s.k;
      if (std::max({s.m, s.n, s.k}) > r.max_size) continue;
      if (transposed_square && r.fn != gemm_packed && r.fn != static_cast<GemmFn>(gemm)) continue;
      const int threads = r.fn == static_cast<GemmFn>(gemm) ? omp_get_max_threads() : 1;
      benchmark::RegisterBenchmark((std::string(r.name) + "/" + s.name).c_str(), bm_rung, r.fn, s,
                                   threads, tg::bench::Isa::best)
          ->Unit(benchmark::kMicrosecond)
          ->UseRealTime();
    }
    // The other kernels this CPU runs, on the square sizes: what a CPU without AVX-512 gets.
    for (GemmIsa isa : {GemmIsa::avx512, GemmIsa::avx2, GemmIsa::generic}) {
      if (isa == gemm_config().isa || !gemm_isa_supported(isa)) continue;
      if (s.ta || s.tb || s.m != s.k || s.n != s.k) continue;
      benchmark::RegisterBenchmark(
          (std::string("gemm.") + gemm_isa_name(isa) + "/" + s.name).c_str(), bm_gemm_isa, isa, s)
          ->Unit(benchmark::kMicrosecond)
          ->UseRealTime();
    }
#ifdef TG_HAVE_OPENBLAS
    benchmark::RegisterBenchmark(("openblas/" + s.name).c_str(), bm_openblas, s)
        ->Unit(benchmark::kMicrosecond)
        ->UseRealTime();
#endif
#ifdef TG_HAVE_BLIS
    benchmark::RegisterBenchmark(("blis/" + s.name).c_str(), bm_blis, s)
        ->Unit(benchmark::kMicrosecond)
        ->UseRealTime();
#endif
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("core_round_trip", tg::bench::core_round_trip_text());
  benchmark::AddCustomContext("omp_max_threads", std::to_string(omp_get_max_threads()));
#ifdef TG_HAVE_OPENBLAS
  benchmark::AddCustomContext("openblas", openblas_get_config());
  benchmark::AddCustomContext("openblas_core", openblas_get_corename());
  benchmark::AddCustomContext("openblas_threads", std::to_string(openblas_get_num_threads()));
#else
  benchmark::AddCustomContext("openblas", "not found at configure time");
#endif
#ifdef TG_HAVE_BLIS
  benchmark::AddCustomContext("blis", tg::bench::blis_info());
  benchmark::AddCustomContext("blis_threads", std::to_string(tg::bench::blis_threads()));
#else
  benchmark::AddCustomContext("blis", "not found at configure time");
#endif
  // Only the thread counts the rows use: one (rungs 1-4), gemm's, OpenBLAS's and BLIS's.
#ifdef TG_HAVE_OPENBLAS
  // OpenBLAS starts its worker threads when it is loaded, and they spin for a while before they
  // sleep: measured at once, the 2-thread peak came out at 130-160 GFLOP/s instead of ~470 on
  // the 2-core Zen 5 (OPENBLAS_NUM_THREADS=1 gave 470). Let them go to sleep first.
  std::this_thread::sleep_for(std::chrono::seconds(1));
#endif
  std::string peaks;
  for (int t : {1, omp_get_max_threads(),
#ifdef TG_HAVE_OPENBLAS
                openblas_get_num_threads(),
#endif
#ifdef TG_HAVE_BLIS
                tg::bench::blis_threads(),
#endif
                1}) {
    if (g_peak.count({tg::bench::Isa::best, t})) continue;
    const double peak = tg::bench::fma_peak_gflops(t);
    g_peak[{tg::bench::Isa::best, t}] = peak;
    peaks += (peaks.empty() ? "" : ", ") + std::to_string(t) + " threads " +
             std::to_string(int(peak + 0.5)) + " GFLOP/s";
  }
  benchmark::AddCustomContext(
      "fma_peak", std::string(tg::bench::isa_name(tg::bench::best_isa())) + ": " + peaks);
  if (gemm_isa_supported(GemmIsa::avx2) && tg::bench::best_isa() != tg::bench::Isa::avx2) {
    const double peak = tg::bench::fma_peak_gflops(omp_get_max_threads(), tg::bench::Isa::avx2);
    g_peak[{tg::bench::Isa::avx2, omp_get_max_threads()}] = peak;
    benchmark::AddCustomContext("fma_peak_avx2", std::to_string(omp_get_max_threads()) +
                                                     " threads " + std::to_string(int(peak + 0.5)) +
                                                     " GFLOP/s");
  } else {
    g_peak[{tg::bench::Isa::avx2, omp_get_max_threads()}] =
        g_peak.at({tg::bench::Isa::best, omp_get_max_threads()});
  }
  const GemmConfig g = gemm_config();
  benchmark::AddCustomContext(
      "gemm_kernel", std::string(gemm_isa_name(g.isa)) + " " + std::to_string(g.mr) + "x" +
                         std::to_string(g.nr) + ", mc " + std::to_string(g.mc) + " kc " +
                         std::to_string(g.kc) + " nc " + std::to_string(g.nc) + " (TG_GEMM_ISA)");
  benchmark::AddCustomContext("cpu_caches", tg::kernels::cpu_caches_str(tg::kernels::cpu_caches()));
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  std::fprintf(stderr, "core_round_trip at the end: %s\n",
               tg::bench::core_round_trip_text().c_str());
  benchmark::Shutdown();
  return 0;
}
