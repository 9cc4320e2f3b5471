// The CUDA GEMM ladder beside cuBLAS, in TFLOP/s (2*n^3 per call), on square float32 products.
//
//   build/bin/bench_gemm_cuda [--benchmark_filter=REGEX] [google-benchmark flags]
//   build/bin/bench_gemm_cuda --benchmark_filter='/4096/' --benchmark_repetitions=5
//
// Benchmark names are <rung>/<n>/manual_time: rungs cublas (float32 math, the library's
// cuda::gemm), cublas_tf32 (the same call after set_allow_tf32(true): tensor cores), naive,
// coalesced, smem, regtile, vec (kernels/gemm.h); n = 256 .. 8192 (naive and coalesced stop at
// 4096, where one call already takes a large fraction of a second). Counters: TFLOP/s,
// GFLOP/s (for scripts/run-bench.sh's table), and vs_cublas = cuBLAS float32 time / this
// time at the same n (1.0 = as fast as cuBLAS; present when cublas/<n> ran first, as it does
// unless a filter leaves it out).
//
// Timing: CUDA events recorded on current_stream() around each launch (manual time), after
// two warm-up launches; C = A * B with beta = 0, A and B uniform in [-1, 1) from a fixed seed,
// generated on the host and uploaded once per size. Up to n = 1024 the three matrices (12 MB)
// stay in the H100's 50 MB L2 between iterations (at 2048 they nearly fill it): the small sizes
// measure a warm cache, for cuBLAS and the ladder alike.
// Without a usable CUDA device the program says so and exits 0.
#include <benchmark/benchmark.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <exception>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "kernels/cuda/runtime.h"
#include "kernels/gemm.h"

namespace {

namespace gpu = tg::kernels::cuda;
using GemmFn = tg::kernels::cpu::GemmFn;  // the CUDA ladder shares the CPU signature

// A, B and C of one square size on the device, kept until the next size is asked for
// (benchmarks are registered size by size, so each size is generated once).
class Operands {
 public:
  ~Operands() { release(); }
  void ensure(int64_t n) {
    if (n == n_) return;
    release();
    const size_t count = size_t(n) * size_t(n), bytes = count * sizeof(float);
    std::vector<float> host(count);
    uint32_t seed = 12345u;
    for (float** p : {&a_, &b_}) {
      for (float& x : host) {
        seed = seed * 1664525u + 1013904223u;
        x = float(-1.0 + 2.0 * (double(seed >> 8) / double(1 << 24)));
      }
      TG_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(p), bytes));
      TG_CUDA_CHECK(cudaMemcpy(*p, host.data(), bytes, cudaMemcpyHostToDevice));
    }
    TG_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&c_), bytes));
    TG_CUDA_CHECK(cudaMemset(c_, 0, bytes));  // beta = 0: C is written, never read
    n_ = n;
  }
  float* a() const { return a_; }
  float* b() const { return b_; }
  float* c() const { return c_; }

 private:
  void release() {
    for (float* p : {a_, b_, c_}) {
      if (p) cudaFree(p);
    }
    a_ = b_ = c_ = nullptr;
    n_ = -1;
  }
  int64_t n_ = -1;
  float *a_ = nullptr, *b_ = nullptr, *c_ = nullptr;
};

Operands& operands() {
  static Operands o;
  return o;
}

// Mean seconds per call of cublas/<n>, for the vs_cublas counter of the rungs that follow.
std::map<int64_t, double>& cublas_seconds() {
  static std::map<int64_t, double> m;
  return m;
}

struct Rung {
  const char* name;
  GemmFn fn;
  bool tf32;         // allow TF32 tensor cores (cuBLAS only) while it runs
  int64_t max_size;  // slow rungs stop where one call takes most of a second
};

// Sets allow_tf32 for a scope, restoring the previous setting however the scope ends.
class Tf32Scope {
 public:
  explicit Tf32Scope(bool allow) : saved_(gpu::allow_tf32()) { gpu::set_allow_tf32(allow); }
  ~Tf32Scope() { gpu::set_allow_tf32(saved_); }
  Tf32Scope(const Tf32Scope&) = delete;
  Tf32Scope& operator=(const Tf32Scope&) = delete;

 private:
  bool saved_;
};

// CUDA events, destroyed on every path out of the benchmark.
struct Events {
  cudaEvent_t start = nullptr, stop = nullptr;
  Events() {
    TG_CUDA_CHECK(cudaEventCreate(&start));
    TG_CUDA_CHECK(cudaEventCreate(&stop));
  }
  ~Events() {
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
  }
  Events(const Events&) = delete;
  Events& operator=(const Events&) = delete;
};

void bm_gemm(benchmark::State& state, Rung rung, int64_t n) {
  try {
    Operands& o = operands();
    o.ensure(n);
    Tf32Scope tf32(rung.tf32);
    const cudaStream_t stream = gpu::current_stream();
    auto call = [&] { rung.fn(false, false, n, n, n, 1.0f, o.a(), n, o.b(), n, 0.0f, o.c(), n); };
    for (int i = 0; i < 2; ++i) call();  // module load, cuBLAS heuristics, clocks up
    gpu::synchronize();
    Events ev;
    double total = 0.0;
    for (auto _ : state) {
      TG_CUDA_CHECK(cudaEventRecord(ev.start, stream));
      call();
      TG_CUDA_CHECK(cudaEventRecord(ev.stop, stream));
      TG_CUDA_CHECK(cudaEventSynchronize(ev.stop));
      float ms = 0.0f;
      TG_CUDA_CHECK(cudaEventElapsedTime(&ms, ev.start, ev.stop));
      state.SetIterationTime(1e-3 * double(ms));
      total += 1e-3 * double(ms);
    }
    gpu::synchronize();  // raises any error a kernel recorded
    const double iters = double(state.iterations());
    if (iters == 0 || total <= 0) return;
    const double per_call = total / iters, flop = 2.0 * double(n) * double(n) * double(n);
    state.counters["TFLOP/s"] = flop / per_call * 1e-12;
    state.counters["GFLOP/s"] = flop / per_call * 1e-9;
    if (std::string(rung.name) == "cublas") cublas_seconds()[n] = per_call;
    const auto ref = cublas_seconds().find(n);
    if (ref != cublas_seconds().end()) state.counters["vs_cublas"] = ref->second / per_call;
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

void register_all() {
  const Rung rungs[] = {{"cublas", static_cast<GemmFn>(gpu::gemm), false, 1 << 30},
                        {"cublas_tf32", static_cast<GemmFn>(gpu::gemm), true, 1 << 30},
                        {"naive", gpu::gemm_naive, false, 4096},
                        {"coalesced", gpu::gemm_coalesced, false, 4096},
                        {"smem", gpu::gemm_smem, false, 1 << 30},
                        {"regtile", gpu::gemm_regtile, false, 1 << 30},
                        {"vec", gpu::gemm_vec, false, 1 << 30}};
  for (int64_t n : {256, 512, 1024, 2048, 4096, 8192}) {
    for (const Rung& r : rungs) {
      if (n > r.max_size) continue;
      benchmark::RegisterBenchmark((std::string(r.name) + "/" + std::to_string(n)).c_str(), bm_gemm,
                                   r, n)
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond);
    }
  }
}

void add_device_context() {
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, gpu::current_device()) == cudaSuccess) {
    benchmark::AddCustomContext("cuda_device", prop.name);
    benchmark::AddCustomContext("cuda_sms", std::to_string(prop.multiProcessorCount));
    benchmark::AddCustomContext("cuda_l2_bytes", std::to_string(prop.l2CacheSize));
  }
  int runtime = 0, driver = 0, major = 0, minor = 0, patch = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  benchmark::AddCustomContext("cuda_runtime", std::to_string(runtime));
  benchmark::AddCustomContext("cuda_driver", std::to_string(driver));
  cublasGetProperty(MAJOR_VERSION, &major);
  cublasGetProperty(MINOR_VERSION, &minor);
  cublasGetProperty(PATCH_LEVEL, &patch);
  benchmark::AddCustomContext(
      "cublas", std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch));
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  if (!gpu::is_available()) {
    std::cout << "bench_gemm_cuda: no usable CUDA device (" << gpu::unavailable_reason()
              << "); nothing to measure." << std::endl;
    return 0;
  }
  add_device_context();
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
