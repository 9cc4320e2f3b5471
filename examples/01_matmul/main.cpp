// Course step 01, "matmul": the fastai notebook's matrix multiply in C++, from three nested
// loops to the library's GEMM. Each step is timed (best of a few runs) and checked against the
// first; see docs/course/01_matmul.md for why each one is faster.
//
//   build/bin/01_matmul [--limit N] [--help]
//
// C (N x N) = A (N x N) @ B (N x N) with N = 1024 by default; --limit N runs a smaller
// problem (the tests use --limit 64). The library rows are kernels/cpu/gemm_packed.cpp.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "apps/cli/flags.h"
#include "examples/common/course.h"
#include "kernels/gemm.h"

namespace {

// 1. Three loops, the notebook's first matmul: c[i][j] = sum over p of a[i][p] * b[p][j].
//    The inner loop walks down a column of B, n floats apart: a new cache line for every
//    multiply-add once B outgrows the cache, and nothing for the compiler to vectorise.
void matmul_loops(const float* a, const float* b, float* c, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      float s = 0.0f;
      for (int64_t p = 0; p < n; ++p) s += a[i * n + p] * b[p * n + j];
      c[i * n + j] = s;
    }
  }
}

// 2. The notebook's next step replaces the inner loop by an operation on a whole row:
//    c[i] += a[i][p] * b[p]. In loop terms that is the order i-p-j; the inner loop now reads a
//    row of B and a row of C with unit stride, so it vectorises (16 floats per instruction).
void matmul_rows(const float* a, const float* b, float* c, int64_t n) {
  std::fill(c, c + n * n, 0.0f);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t p = 0; p < n; ++p) {
      const float aip = a[i * n + p];
      const float* bp = b + p * n;
      float* ci = c + i * n;
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) ci[j] += aip * bp[j];
    }
  }
}

// 3. Blocked: the same row operation over tiles, so that a kK x kCols tile of B (256 KiB)
//    stays in the L2 cache while kRows rows of A use it, instead of streaming all of B once
//    per row of A. Tiles are wide so that the vectorised inner loop stays long.
void matmul_blocked(const float* a, const float* b, float* c, int64_t n) {
  constexpr int64_t kRows = 64, kK = 64, kCols = 1024;
  std::fill(c, c + n * n, 0.0f);
  for (int64_t i0 = 0; i0 < n; i0 += kRows) {
    for (int64_t p0 = 0; p0 < n; p0 += kK) {
      for (int64_t j0 = 0; j0 < n; j0 += kCols) {
        const int64_t i1 = std::min(n, i0 + kRows), p1 = std::min(n, p0 + kK);
        const int64_t j1 = std::min(n, j0 + kCols);
        for (int64_t i = i0; i < i1; ++i) {
          for (int64_t p = p0; p < p1; ++p) {
            const float aip = a[i * n + p];
            const float* bp = b + p * n;
            float* ci = c + i * n;
#pragma omp simd
            for (int64_t j = j0; j < j1; ++j) ci[j] += aip * bp[j];
          }
        }
      }
    }
  }
}

// Best wall time in seconds of up to 5 runs, stopping once a second has been spent.
double best_time(const std::function<void()>& f) {
  double best = 1e30, total = 0.0;
  for (int r = 0; r < 5 && total < 1.0; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::min(best, s);
    total += s;
  }
  return best;
}

}  // namespace

int run_steps(int64_t n);

int main(int argc, char** argv) {
  int64_t n = 1024;
  tg::cli::Flags flags("01_matmul", "times C = A @ B (N x N) from three loops to the library GEMM");
  flags.integer("--limit", n, "matrix size N", 1, 16384);
  if (auto rc = flags.parse_or_exit(argc, argv)) return *rc;
  // A bad TG_GEMM_ISA in the environment is a tg::Error from the first product: "error: ...".
  return course::run([&] { return run_steps(n); });
}

int run_steps(int64_t n) {
  std::mt19937 gen(42);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> a(size_t(n * n)), b(size_t(n * n)), ref(size_t(n * n)), c(size_t(n * n));
  for (float& x : a) x = u(gen);
  for (float& x : b) x = u(gen);

  using tg::kernels::cpu::gemm;
  using tg::kernels::cpu::gemm_packed;
  const int threads = omp_get_max_threads();
  struct Step {
    std::string name;
    std::function<void(float*)> run;
  };
  const std::vector<Step> steps = {
      {"1 three loops (i-j-k)", [&](float* out) { matmul_loops(a.data(), b.data(), out, n); }},
      {"2 row op (i-k-j)", [&](float* out) { matmul_rows(a.data(), b.data(), out, n); }},
      {"3 blocked i-k-j", [&](float* out) { matmul_blocked(a.data(), b.data(), out, n); }},
      {"4 library gemm_packed, 1 thread",
       [&](float* out) {
         gemm_packed(false, false, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, out, n);
       }},
      {"5 library gemm, " + std::to_string(threads) + " thread" + (threads > 1 ? "s" : ""),
       [&](float* out) {
         gemm(false, false, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, out, n);
       }},
  };

  const double flop = 2.0 * double(n) * double(n) * double(n);
  const tg::kernels::cpu::GemmConfig g = tg::kernels::cpu::gemm_config();
  std::printf("C = A @ B with N = %lld: %.3f GFLOP per product (OMP_NUM_THREADS=%d)\n",
              static_cast<long long>(n), flop * 1e-9, threads);
  std::printf("library kernel: %s, %lldx%lld tile, mc %lld kc %lld nc %lld (TG_GEMM_ISA)\n\n",
              tg::kernels::cpu::gemm_isa_name(g.isa), static_cast<long long>(g.mr),
              static_cast<long long>(g.nr), static_cast<long long>(g.mc),
              static_cast<long long>(g.kc), static_cast<long long>(g.nc));
  std::printf("%-36s %11s %9s %12s\n", "step", "ms", "GFLOP/s", "max |diff|");
  for (size_t s = 0; s < steps.size(); ++s) {
    float* out = s == 0 ? ref.data() : c.data();
    const double sec = best_time([&] { steps[s].run(out); });
    double diff = 0.0;
    for (size_t i = 0; i < c.size(); ++i) diff = std::max(diff, double(std::fabs(out[i] - ref[i])));
    std::printf("%-36s %11.3f %9.2f %12.2e\n", steps[s].name.c_str(), sec * 1e3, flop / sec * 1e-9,
                diff);
  }
  return 0;
}
