// This machine's float FMA throughput, measured: the limit every GEMM figure is read against.
//
//   double gflops = tg::bench::fma_peak_gflops(threads);   // widest ISA the CPU runs
//   double g = tg::bench::fma_peak_gflops(threads, tg::bench::Isa::avx2);
//
// Each thread runs kChains (AVX2: kChainsAvx2) independent vector FMA chains (acc = acc * m + a),
// enough to cover the FMA latency (4 cycles) times the number of FMA pipes (2) with room to spare,
// so the loop is throughput bound: 2 FLOPs per lane per FMA. The kernels are compiled for their ISA
// with target attributes and chosen at run time (__builtin_cpu_supports), whatever -march the build
// used, so the figure is the CPU's, not the compiler's. Threads run in one OpenMP region and the
// time is the region's wall time: with other work on a core, the slowest thread sets the figure, as
// it does for a threaded GEMM.
#pragma once

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TG_BENCH_X86 1
#endif

namespace tg::bench {

enum class Isa { best, avx512, avx2, scalar };

inline const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512:
      return "avx512";
    case Isa::avx2:
      return "avx2";
    case Isa::scalar:
      return "scalar";
    case Isa::best:
      break;
  }
  return "best";
}

inline bool isa_supported(Isa isa) {
#ifdef TG_BENCH_X86
  switch (isa) {
    case Isa::avx512:
      return __builtin_cpu_supports("avx512f");
    case Isa::avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    default:
      return true;
  }
#else
  return isa == Isa::scalar || isa == Isa::best;
#endif
}

inline Isa best_isa() {
  if (isa_supported(Isa::avx512)) return Isa::avx512;
  if (isa_supported(Isa::avx2)) return Isa::avx2;
  return Isa::scalar;
}

namespace detail {

constexpr int kChains = 16;
// AVX2 has 16 ymm registers: 16 chains and the two constants would spill (unless the build
// enables AVX-512, whose 32 registers hide it), so 12, still more than latency x pipes (8).
constexpr int kChainsAvx2 = 12;

// Each returns a value that depends on every chain, so that nothing is optimised away.
#ifdef TG_BENCH_X86
__attribute__((target("avx512f"))) inline float chains_avx512(int64_t iters) {
  __m512 acc[kChains];
  for (int j = 0; j < kChains; ++j) acc[j] = _mm512_set1_ps(1.0f + 0.001f * float(j));
  const __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-6f);
  for (int64_t i = 0; i < iters; ++i)
    for (int j = 0; j < kChains; ++j) acc[j] = _mm512_fmadd_ps(acc[j], m, a);
  __m512 s = acc[0];
  for (int j = 1; j < kChains; ++j) s = _mm512_add_ps(s, acc[j]);
  alignas(64) float v[16];
  _mm512_store_ps(v, s);
  float t = 0;
  for (float x : v) t += x;
  return t;
}
__attribute__((target("avx2,fma"))) inline float chains_avx2(int64_t iters) {
  __m256 acc[kChainsAvx2];
  for (int j = 0; j < kChainsAvx2; ++j) acc[j] = _mm256_set1_ps(1.0f + 0.001f * float(j));
  const __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-6f);
  for (int64_t i = 0; i < iters; ++i)
    for (int j = 0; j < kChainsAvx2; ++j) acc[j] = _mm256_fmadd_ps(acc[j], m, a);
  __m256 s = acc[0];
  for (int j = 1; j < kChainsAvx2; ++j) s = _mm256_add_ps(s, acc[j]);
  alignas(32) float v[8];
  _mm256_store_ps(v, s);
  return v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
}
#endif
// One float lane per chain: what code without vectors gets.
inline float chains_scalar(int64_t iters) {
  volatile float seed = 0.999999f;  // not a constant: the loop cannot be folded
  float acc[kChains];
  for (int j = 0; j < kChains; ++j) acc[j] = 1.0f + 0.001f * float(j);
  const float m = seed, a = 1e-6f;
  for (int64_t i = 0; i < iters; ++i)
    for (int j = 0; j < kChains; ++j) acc[j] = acc[j] * m + a;
  float s = 0;
  for (float x : acc) s += x;
  return s;
}

inline int lanes(Isa isa) {
  return isa == Isa::avx512 ? 16 : isa == Isa::avx2 ? 8 : 1;
}

inline int chain_count(Isa isa) {
  return isa == Isa::avx2 ? kChainsAvx2 : kChains;
}

inline float chains(Isa isa, int64_t iters) {
#ifdef TG_BENCH_X86
  if (isa == Isa::avx512) return chains_avx512(iters);
  if (isa == Isa::avx2) return chains_avx2(iters);
#endif
  return chains_scalar(iters);
}

}  // namespace detail

// FLOPs one thread does in fma_chains(isa, iters).
inline double fma_flops(Isa isa, int64_t iters) {
  return 2.0 * detail::chain_count(isa) * detail::lanes(isa) * double(iters);
}

// Runs iters iterations of the chains on each of `threads` threads (one OpenMP region) and
// returns the wall time in seconds. The sink keeps the results alive.
inline double fma_run(Isa isa, int threads, int64_t iters, float* sink) {
  if (isa == Isa::best) isa = best_isa();
  if (!isa_supported(isa))
    throw std::invalid_argument(std::string("fma_peak: this CPU has no ") + isa_name(isa));
  float total = 0;
  const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : total)
  total += detail::chains(isa, iters);
  const auto t1 = std::chrono::steady_clock::now();
  *sink += total;
  return std::chrono::duration<double>(t1 - t0).count();
}

// GFLOP/s over `threads` threads: the best of `tries` runs of about 50 ms each (the best, since
// on a shared machine anything else only ever slows a run down).
inline double fma_peak_gflops(int threads, Isa isa = Isa::best, int tries = 5) {
  if (isa == Isa::best) isa = best_isa();
  constexpr int64_t kIters = 2'000'000;  // 16 chains x 2M: about 30-60 ms at 2-4 GHz
  float sink = 0;
  fma_run(isa, threads, kIters / 10, &sink);  // wake the team and the clocks
  double best = 0;
  for (int t = 0; t < tries; ++t) {
    const double s = fma_run(isa, threads, kIters, &sink);
    best = std::max(best, threads * fma_flops(isa, kIters) / s * 1e-9);
  }
  volatile float keep = sink;  // the chains' results are used
  (void)keep;
  return best;
}

}  // namespace tg::bench
