// The conv2d ladder (kernels/conv.h) on the course's convolutions, in GFLOP/s
// (2 * N*O*OH*OW * C/g*KH*KW per call, the same count for the backward pieces).
//
//   build/bin/bench_conv [--benchmark_filter=REGEX] [google-benchmark flags]
//
// Benchmark names are <rung>.<pass>/<shape>: rungs naive, im2col, chunked (several images per
// GEMM), implicit (implicit GEMM; bwd_input as a transposed conv), conv2d (the library's: implicit
// where output rows are under 16 pixels, else chunked); passes
// fwd, bwd_input, bwd_weight. Shapes: batch 64 through the course's three layers,
// 1->8 channels 28x28 k5 s2 p2, 8->16 14x14 k3 s2 p1, 16->32 7x7 k3 s2 p1. Threads:
// OMP_NUM_THREADS drives conv2d (and the GEMM inside im2col); naive is single-threaded.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "bench/core_latency.h"
#include "kernels/conv.h"

namespace {

using namespace tg::kernels;
using namespace tg::kernels::cpu;

struct Layer {
  std::string name;
  Conv2dShape s;
};

std::vector<Layer> layers() {
  auto make = [](int64_t c, int64_t hw, int64_t o, int64_t k, int64_t stride, int64_t pad) {
    Conv2dShape s;
    s.n = 64, s.c = c, s.h = hw, s.w = hw, s.o = o, s.kh = k, s.kw = k;
    s.sh = s.sw = stride, s.ph = s.pw = pad;
    return s;
  };
  return {{"1x28x28.k5s2p2.to8", make(1, 28, 8, 5, 2, 2)},
          {"8x14x14.k3s2p1.to16", make(8, 14, 16, 3, 2, 1)},
          {"16x7x7.k3s2p1.to32", make(16, 7, 32, 3, 2, 1)}};
}

struct Buffers {
  std::vector<float> x, w, b, y, gy, gx, gw;
  explicit Buffers(const Conv2dShape& s) {
    std::mt19937 gen(1);
    std::uniform_real_distribution<float> u(-1, 1);
    auto fill = [&](std::vector<float>& v, int64_t n) {
      v.resize(static_cast<size_t>(n));
      for (auto& e : v) e = u(gen);
    };
    const int64_t ysize = s.n * s.o * s.out_h() * s.out_w();
    fill(x, s.n * s.c * s.h * s.w);
    fill(w, s.o * s.kdim());
    fill(b, s.o);
    fill(gy, ysize);
    y.resize(static_cast<size_t>(ysize));
    gx.resize(x.size());
    gw.resize(w.size());
  }
};

struct Rung {
  const char* name;
  Conv2dFn<float> fwd;
  Conv2dBackwardInputFn<float> bwd_input;
  Conv2dBackwardWeightFn<float> bwd_weight;
};
const Rung kRungs[] = {
    {"naive", conv2d_naive<float>, conv2d_backward_input_naive<float>,
     conv2d_backward_weight_naive<float>},
    {"im2col", conv2d_im2col<float>, conv2d_backward_input_im2col<float>,
     conv2d_backward_weight_im2col<float>},
    {"chunked", conv2d_chunked<float>, conv2d_backward_input_chunked<float>,
     conv2d_backward_weight_chunked<float>},
    {"implicit", conv2d_implicit, conv2d_backward_input_implicit, conv2d_backward_weight_implicit},
    {"conv2d", conv2d<float>, conv2d_backward_input<float>, conv2d_backward_weight<float>}};

void run(benchmark::State& state, const Rung& r, int pass, const Conv2dShape& s) {
  Buffers buf(s);
  for (auto _ : state) {
    if (pass == 0) r.fwd(s, buf.x.data(), buf.w.data(), buf.b.data(), buf.y.data());
    if (pass == 1) r.bwd_input(s, buf.gy.data(), buf.w.data(), buf.gx.data());
    if (pass == 2) r.bwd_weight(s, buf.x.data(), buf.gy.data(), buf.gw.data());
    benchmark::ClobberMemory();
  }
  const double gflop = 2e-9 * double(s.n * s.o * s.out_h() * s.out_w() * s.kdim());
  state.counters["GFLOP/s"] =
      benchmark::Counter(gflop, benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

int main(int argc, char** argv) {
  const char* passes[] = {"fwd", "bwd_input", "bwd_weight"};
  for (const Rung& r : kRungs)
    for (int pass = 0; pass < 3; ++pass)
      for (const Layer& l : layers())
        benchmark::RegisterBenchmark(
            (std::string(r.name) + "." + passes[pass] + "/" + l.name).c_str(),
            [&r, pass, s = l.s](benchmark::State& st) { run(st, r, pass, s); })
            ->Unit(benchmark::kMicrosecond);
  benchmark::Initialize(&argc, argv);
  benchmark::AddCustomContext("core_round_trip", tg::bench::core_round_trip_text());
  benchmark::RunSpecifiedBenchmarks();
  std::fprintf(stderr, "core_round_trip at the end: %s\n",
               tg::bench::core_round_trip_text().c_str());
  benchmark::Shutdown();
  return 0;
}
