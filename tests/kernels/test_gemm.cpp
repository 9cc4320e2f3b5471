// Tests for kernels/gemm.h: every rung of the float ladder and the double gemm against a naive
// double-precision reference, on all four transpose combinations, awkward sizes, padded leading
// dimensions, alpha/beta cases, NaN-filled C with beta == 0, empty sizes; plus bit-identical
// results for any thread count.
#include <doctest/doctest.h>
#include <omp.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "base/error.h"
#include "kernels/cpu_info.h"
#include "kernels/gemm.h"

namespace {

using namespace tg::kernels::cpu;

struct Rung {
  const char* name;
  GemmFn fn;
};
const Rung kRungs[] = {{"naive", gemm_naive},
                       {"reordered", gemm_reordered},
                       {"blocked", gemm_blocked},
                       {"packed", gemm_packed},
                       {"gemm", static_cast<GemmFn>(gemm)}};

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kSentinel = 12345.0f;  // marks C padding, which must never change

// One GEMM problem with row-major storage padded by `pad` columns. A and B padding holds NaN
// so that a kernel reading outside the logical matrix poisons its result.
template <typename T>
struct Problem {
  bool ta, tb;
  int64_t m, n, k, lda, ldb, ldc;
  T alpha, beta;
  std::vector<T> a, b, c;

  Problem(bool ta_, bool tb_, int64_t m_, int64_t n_, int64_t k_, T alpha_, T beta_, int64_t pad,
          uint32_t seed)
      : ta(ta_), tb(tb_), m(m_), n(n_), k(k_), alpha(alpha_), beta(beta_) {
    const int64_t a_rows = ta ? k : m, a_cols = ta ? m : k;
    const int64_t b_rows = tb ? n : k, b_cols = tb ? k : n;
    lda = a_cols + pad;
    ldb = b_cols + pad;
    ldc = n + pad;
    std::mt19937 gen(seed);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    auto fill = [&](std::vector<T>& v, int64_t rows, int64_t cols, int64_t ld, T padding) {
      v.assign(size_t(std::max<int64_t>(rows * ld, 1)), padding);
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) v[size_t(i * ld + j)] = T(u(gen));
    };
    fill(a, a_rows, a_cols, lda, T(kNaN));
    fill(b, b_rows, b_cols, ldb, T(kNaN));
    fill(c, m, n, ldc, T(kSentinel));
  }
  T at_a(int64_t i, int64_t p) const {
    return ta ? a[size_t(p * lda + i)] : a[size_t(i * lda + p)];
  }
  T at_b(int64_t p, int64_t j) const {
    return tb ? b[size_t(j * ldb + p)] : b[size_t(p * ldb + j)];
  }

  // Reference in double (long double for T = double) and a bound on the rounding error of any
  // summation order: ~ (k + 2) * eps * (|alpha| sum |a||b| + |beta c|).
  void reference(std::vector<long double>& ref, std::vector<long double>& bound) const {
    ref.assign(size_t(m * n), 0);
    bound.assign(size_t(m * n), 0);
    const long double eps = std::numeric_limits<T>::epsilon();
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        long double s = 0, sa = 0;
        for (int64_t p = 0; p < k; ++p) {
          const long double x = (long double)at_a(i, p) * at_b(p, j);
          s += x;
          sa += std::fabs(x);
        }
        const long double c0 = beta == T(0) ? 0 : (long double)c[size_t(i * ldc + j)];
        ref[size_t(i * n + j)] = alpha * s + beta * c0;
        bound[size_t(i * n + j)] =
            (k + 3) * eps * (std::fabs((long double)alpha) * sa + std::fabs(beta * c0)) + 1e-30L;
      }
    }
  }

  template <typename Fn>
  void run_and_check(Fn fn, const std::string& what) {
    std::vector<long double> ref, bound;
    reference(ref, bound);
    fn(ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
    int64_t bad = 0, padding_changed = 0;
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < ldc; ++j) {
        const T got = c[size_t(i * ldc + j)];
        if (j >= n) {
          padding_changed += got != T(kSentinel);
        } else if (!(std::fabs(got - ref[size_t(i * n + j)]) <= bound[size_t(i * n + j)])) {
          if (bad++ == 0) {
            INFO(what, " first mismatch at (", i, ", ", j, "): got ", double(got), " want ",
                 double(ref[size_t(i * n + j)]));
            CHECK(false);
          }
        }
      }
    }
    INFO(what);
    CHECK(bad == 0);
    CHECK(padding_changed == 0);
  }
};

std::string describe(const char* rung, bool ta, bool tb, int64_t m, int64_t n, int64_t k) {
  return std::string(rung) + (ta ? " At" : " A") + (tb ? "Bt" : "B") + " m=" + std::to_string(m) +
         " n=" + std::to_string(n) + " k=" + std::to_string(k);
}

// Runs gemm with a given thread count and returns C.
std::vector<float> gemm_with_threads(int threads, GemmFn fn, const Problem<float>& p0) {
  Problem<float> p = p0;
  const int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  fn(p.ta, p.tb, p.m, p.n, p.k, p.alpha, p.a.data(), p.lda, p.b.data(), p.ldb, p.beta, p.c.data(),
     p.ldc);
  omp_set_num_threads(saved);
  return p.c;
}

}  // namespace

TEST_CASE("gemm: hand-computed 2x2 and 2x3 products, every rung and transpose") {
  // A = [1 2; 3 4], B = [5 6 7; 8 9 10]: A*B = [21 24 27; 47 54 61]. Stored transposed too.
  const float a[] = {1, 2, 3, 4}, at[] = {1, 3, 2, 4};
  const float b[] = {5, 6, 7, 8, 9, 10}, bt[] = {5, 8, 6, 9, 7, 10};
  const float want[] = {21, 24, 27, 47, 54, 61};
  // 2x2 * 2x2 (the first two columns of B, same storage): [21 24; 47 54]
  const float want22[] = {21, 24, 47, 54};
  for (const Rung& r : kRungs) {
    for (int t = 0; t < 4; ++t) {
      const bool ta = t & 1, tb = t & 2;
      CAPTURE(r.name);
      CAPTURE(t);
      float c[6];
      std::fill(c, c + 6, kNaN);
      r.fn(ta, tb, 2, 3, 2, 1.0f, ta ? at : a, 2, tb ? bt : b, tb ? 2 : 3, 0.0f, c, 3);
      for (int i = 0; i < 6; ++i) CHECK(c[i] == want[i]);
      float c22[4] = {1, 1, 1, 1};  // alpha = 2, beta = -1: 2*A*B - 1
      r.fn(ta, tb, 2, 2, 2, 2.0f, ta ? at : a, 2, tb ? bt : b, tb ? 2 : 3, -1.0f, c22, 2);
      for (int i = 0; i < 4; ++i) CHECK(c22[i] == 2 * want22[i] - 1);
    }
  }
}

TEST_CASE("gemm: every rung and transpose on awkward sizes with padded leading dimensions") {
  // Sizes cross every edge of the packed kernel: 1 and 7 (< one register tile), 33 and 65 (one
  // past a tile), 127/300 (several MC blocks), k = 1023 (several KC blocks), n = 1100 (> NC),
  // n = 16 (one full narrow B sliver).
  struct Shape {
    int64_t m, n, k;
  };
  const Shape shapes[] = {{1, 1, 1},    {7, 33, 65},    {33, 7, 127},  {65, 127, 33},
                          {1, 1023, 7}, {1023, 1, 9},   {7, 65, 1023}, {300, 70, 40},
                          {3, 1100, 5}, {129, 97, 300}, {17, 16, 40}};
  uint32_t seed = 1;
  for (const Rung& r : kRungs) {
    for (const Shape& s : shapes) {
      for (int t = 0; t < 4; ++t) {
        Problem<float> p(t & 1, t & 2, s.m, s.n, s.k, 1.5f, 0.5f, /*pad=*/3, seed++);
        p.run_and_check(r.fn, describe(r.name, t & 1, t & 2, s.m, s.n, s.k));
      }
    }
  }
}

TEST_CASE("gemm: alpha and beta, including alpha == 0 and beta == 0 over a NaN-filled C") {
  const float alphas[] = {1.0f, -0.5f, 0.0f}, betas[] = {0.0f, 1.0f, 2.5f};
  uint32_t seed = 100;
  for (const Rung& r : kRungs) {
    for (float alpha : alphas) {
      for (float beta : betas) {
        for (int t = 0; t < 4; ++t) {
          Problem<float> p(t & 1, t & 2, 37, 45, 29, alpha, beta, 1, seed++);
          if (beta == 0.0f) {  // C must be written without being read
            for (int64_t i = 0; i < p.m; ++i)
              for (int64_t j = 0; j < p.n; ++j) p.c[size_t(i * p.ldc + j)] = kNaN;
          }
          p.run_and_check(r.fn, describe(r.name, t & 1, t & 2, 37, 45, 29) + " alpha=" +
                                    std::to_string(alpha) + " beta=" + std::to_string(beta));
        }
      }
    }
  }
}

TEST_CASE("gemm: empty sizes, k == 0 means C = beta * C") {
  for (const Rung& r : kRungs) {
    CAPTURE(r.name);
    Problem<float> p(false, false, 5, 6, 0, 1.0f, 2.0f, 2, 7);
    p.run_and_check(r.fn, std::string(r.name) + " k=0 beta=2");
    Problem<float> q(true, true, 5, 6, 0, 1.0f, 0.0f, 2, 8);
    for (int64_t i = 0; i < q.m; ++i)
      for (int64_t j = 0; j < q.n; ++j) q.c[size_t(i * q.ldc + j)] = kNaN;
    q.run_and_check(r.fn, std::string(r.name) + " k=0 beta=0 over NaN");
    // m == 0 or n == 0: nothing is written (C holds only the sentinel).
    float c[4] = {kSentinel, kSentinel, kSentinel, kSentinel};
    const float a[4] = {1, 2, 3, 4};
    r.fn(false, false, 0, 2, 2, 1.0f, a, 2, a, 2, 0.0f, c, 2);
    r.fn(false, false, 2, 0, 2, 1.0f, a, 2, a, 2, 0.0f, c, 2);
    for (float x : c) CHECK(x == kSentinel);
  }
}

TEST_CASE("gemm: bad sizes and leading dimensions throw tg::Error") {
  float x[16] = {};
  for (const Rung& r : kRungs) {
    CAPTURE(r.name);
    CHECK_THROWS_AS(r.fn(false, false, -1, 2, 2, 1.0f, x, 2, x, 2, 0.0f, x, 2), tg::Error);
    CHECK_THROWS_AS(r.fn(false, false, 2, 2, 3, 1.0f, x, 2, x, 2, 0.0f, x, 2), tg::Error);
    CHECK_THROWS_AS(r.fn(true, false, 3, 2, 2, 1.0f, x, 2, x, 2, 0.0f, x, 2), tg::Error);
    CHECK_THROWS_AS(r.fn(false, true, 2, 2, 3, 1.0f, x, 3, x, 2, 0.0f, x, 2), tg::Error);
    CHECK_THROWS_AS(r.fn(false, false, 2, 3, 2, 1.0f, x, 2, x, 3, 0.0f, x, 2), tg::Error);
  }
}

TEST_CASE("gemm<double>: transposes, alpha/beta, NaN C with beta == 0, threaded sizes") {
  using DoubleGemm = void (*)(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                              const double*, int64_t, double, double*, int64_t);
  const DoubleGemm dgemm = gemm;
  struct Case {
    int64_t m, n, k;
    double alpha, beta;
  };
  const Case cases[] = {{1, 1, 1, 1.0, 0.0},     {7, 33, 65, 1.5, 0.5},   {33, 7, 300, -1.0, 2.0},
                        {129, 97, 65, 1.0, 0.0}, {100, 90, 80, 0.5, 1.0}, {6, 5, 0, 1.0, 3.0}};
  uint32_t seed = 500;
  for (const Case& cs : cases) {
    for (int t = 0; t < 4; ++t) {
      Problem<double> p(t & 1, t & 2, cs.m, cs.n, cs.k, cs.alpha, cs.beta, 2, seed++);
      if (cs.beta == 0.0) {
        for (int64_t i = 0; i < p.m; ++i)
          for (int64_t j = 0; j < p.n; ++j) p.c[size_t(i * p.ldc + j)] = double(kNaN);
      }
      p.run_and_check(dgemm, describe("gemm<double>", t & 1, t & 2, cs.m, cs.n, cs.k));
    }
  }
}

TEST_CASE("gemm: bit-identical for 1 and 2 threads, and equal to gemm_packed") {
  // Big enough to open a parallel region; the second shape has few rows, so C is split by
  // columns instead of rows; k > KC so several partial sums per element are combined; the
  // third has n <= 16 (narrow B slivers). The last three (1M to 4M multiply-adds) are direct
  // products, split by column slivers (the first two) or row slivers, and not split at all
  // while a GemmBackgroundThreads guard lives.
  struct Shape {
    int64_t m, n, k;
  };
  const Shape shapes[] = {{300, 280, 700}, {20, 1500, 400}, {2000, 10, 300},  // >= 4M MACs
                          {128, 128, 128}, {50, 64, 784},   {600, 20, 150}};
  CHECK_FALSE(GemmBackgroundThreads::active());
  uint32_t seed = 900;
  const int saved_threads = omp_get_max_threads();
  for (const Shape& s : shapes) {
    for (int t = 0; t < 4; ++t) {
      CAPTURE(describe("gemm", t & 1, t & 2, s.m, s.n, s.k));
      const Problem<float> p(t & 1, t & 2, s.m, s.n, s.k, 1.0f, 0.5f, 1, seed++);
      const std::vector<float> c1 = gemm_with_threads(1, static_cast<GemmFn>(gemm), p);
      const std::vector<float> c2 = gemm_with_threads(2, static_cast<GemmFn>(gemm), p);
      const std::vector<float> c3 = gemm_with_threads(3, static_cast<GemmFn>(gemm), p);
      const std::vector<float> cp = gemm_with_threads(2, gemm_packed, p);
      std::vector<float> guarded;
      {
        const GemmBackgroundThreads busy, nested;
        CHECK(GemmBackgroundThreads::active());
        guarded = gemm_with_threads(2, static_cast<GemmFn>(gemm), p);
      }
      CHECK_FALSE(GemmBackgroundThreads::active());
      CHECK(std::memcmp(c1.data(), guarded.data(), c1.size() * sizeof(float)) == 0);
      Problem<float> q = p;
      omp_set_num_threads(2);
      q.run_and_check(static_cast<GemmFn>(gemm), "2 threads");
      omp_set_num_threads(saved_threads);
      CHECK(std::memcmp(c1.data(), c2.data(), c1.size() * sizeof(float)) == 0);
      CHECK(std::memcmp(c1.data(), c3.data(), c1.size() * sizeof(float)) == 0);
      CHECK(std::memcmp(c1.data(), cp.data(), c1.size() * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("gemm: products shared with GemmHelper threads keep their bits") {
  // While a GemmBackgroundThreads guard lives and a GemmHelper thread serves, the 1M-4M
  // multiply-add products (both orientations, row or column stripes, a transposed B packed per
  // stripe) are split between the caller and the helper: the same bits as one thread, whether
  // the helper took a stripe or not; products outside that range never reach the helper. Two
  // threads posting at once: one shares, the other computes alone (the board is taken).
  struct Shape {
    int64_t m, n, k;
  };
  const Shape shapes[] = {{128, 128, 128}, {50, 64, 784}, {64, 50, 784}, {600, 20, 150}};
  const int saved_threads = omp_get_max_threads();
  uint32_t seed = 1300;
  std::vector<Problem<float>> problems;
  std::vector<std::vector<float>> expected;
  for (const Shape& s : shapes)
    for (int t = 0; t < 4; ++t) {
      problems.emplace_back(t & 1, t & 2, s.m, s.n, s.k, 1.0f, 0.5f, 1, seed++);
      expected.push_back(gemm_with_threads(1, static_cast<GemmFn>(gemm), problems.back()));
    }
  std::atomic<bool> done{false};
  const int64_t helped_before = GemmHelper::stripes_helped();
  {
    const GemmBackgroundThreads busy;
    std::thread helper_thread([&] {
      GemmHelper helper;
      while (!done.load()) helper.help();
    });
    std::thread second_poster([&] {
      omp_set_num_threads(2);
      for (int round = 0; round < 20; ++round)
        for (size_t i = 0; i < problems.size(); ++i) {
          Problem<float> q = problems[i];
          gemm(q.ta, q.tb, q.m, q.n, q.k, q.alpha, q.a.data(), q.lda, q.b.data(), q.ldb, q.beta,
               q.c.data(), q.ldc);
          if (std::memcmp(q.c.data(), expected[i].data(), q.c.size() * sizeof(float)) != 0)
            done.store(true);  // (a mismatch: the CHECK below on this thread's copy reports it)
        }
    });
    // Until the helper has taken stripes (it spins, so on two or more cores that is the first
    // few products), and at most 2000 rounds.
    for (int round = 0; round < 2000; ++round) {
      for (size_t i = 0; i < problems.size(); ++i) {
        CAPTURE(i);
        const std::vector<float> c = gemm_with_threads(2, static_cast<GemmFn>(gemm), problems[i]);
        REQUIRE(std::memcmp(c.data(), expected[i].data(), c.size() * sizeof(float)) == 0);
      }
      if (round >= 20 && GemmHelper::stripes_helped() > helped_before) break;
    }
    second_poster.join();
    CHECK_FALSE(done.load());  // the second poster's products matched too
    done.store(true);
    helper_thread.join();
  }
  CHECK(GemmHelper::stripes_helped() > helped_before);
  // With a helper serving and the guard alive, nothing else is shared: products under 1M
  // (64^3) or over 4M multiply-adds (300 x 280 x 700, the OpenMP team's), and 1M-4M products
  // on a team of one.
  const Problem<float> tiny(false, false, 64, 64, 64, 1.0f, 0.5f, 1, seed++);
  const Problem<float> big(false, true, 300, 280, 700, 1.0f, 0.5f, 1, seed++);
  const std::vector<float> tiny1 = gemm_with_threads(1, static_cast<GemmFn>(gemm), tiny);
  const std::vector<float> big1 = gemm_with_threads(1, static_cast<GemmFn>(gemm), big);
  {
    done.store(false);
    const GemmBackgroundThreads busy;
    std::thread helper_thread([&] {
      GemmHelper helper;
      while (!done.load()) helper.help();
    });
    const int64_t helped_after = GemmHelper::stripes_helped();
    for (int round = 0; round < 20; ++round) {
      const std::vector<float> t = gemm_with_threads(2, static_cast<GemmFn>(gemm), tiny);
      const std::vector<float> b = gemm_with_threads(2, static_cast<GemmFn>(gemm), big);
      const std::vector<float> c = gemm_with_threads(1, static_cast<GemmFn>(gemm), problems[0]);
      CHECK(std::memcmp(t.data(), tiny1.data(), t.size() * sizeof(float)) == 0);
      CHECK(std::memcmp(b.data(), big1.data(), b.size() * sizeof(float)) == 0);
      CHECK(std::memcmp(c.data(), expected[0].data(), c.size() * sizeof(float)) == 0);
    }
    CHECK(GemmHelper::stripes_helped() == helped_after);
    done.store(true);
    helper_thread.join();
  }
  omp_set_num_threads(saved_threads);
}

namespace {

// Runs f once for every instruction set this CPU and build run, with rungs 4 and 5 switched to
// it, and restores the one in use before.
template <typename F>
void for_each_isa(F&& f) {
  const GemmIsa saved = gemm_config().isa;
  for (GemmIsa isa : {GemmIsa::avx512, GemmIsa::avx2, GemmIsa::generic}) {
    if (!gemm_isa_supported(isa)) {
      MESSAGE("this CPU does not run ", gemm_isa_name(isa), ": not tested here");
      continue;
    }
    set_gemm_isa(isa);
    CAPTURE(gemm_isa_name(isa));
    f(isa);
  }
  set_gemm_isa(saved);
}

}  // namespace

TEST_CASE("gemm: every instruction set on awkward sizes, transposes, alpha/beta and NaN C") {
  struct Shape {
    int64_t m, n, k;
  };
  // Past every tile edge of each ISA (mr 14/6/4, nr 32/16 and the narrow 16/8), k > kc = 512,
  // n > nc for the smallest blocking (256 columns), and m over several mc blocks.
  const Shape shapes[] = {{1, 1, 1},   {5, 7, 9},     {15, 33, 65},  {7, 9, 600},
                          {13, 17, 3}, {29, 1100, 5}, {400, 40, 20}, {6, 8, 1030}};
  uint32_t seed = 2000;
  for_each_isa([&](GemmIsa isa) {
    for (const Shape& s : shapes) {
      for (int t = 0; t < 4; ++t) {
        for (float beta : {0.0f, 0.75f}) {
          Problem<float> p(t & 1, t & 2, s.m, s.n, s.k, -1.25f, beta, 2, seed++);
          if (beta == 0.0f)
            for (int64_t i = 0; i < p.m; ++i)
              for (int64_t j = 0; j < p.n; ++j) p.c[size_t(i * p.ldc + j)] = kNaN;
          const std::string what = std::string(gemm_isa_name(isa)) + " " +
                                   describe("gemm", t & 1, t & 2, s.m, s.n, s.k) +
                                   " beta=" + std::to_string(beta);
          Problem<float> q = p;
          p.run_and_check(static_cast<GemmFn>(gemm), what);
          q.run_and_check(gemm_packed, what + " (packed)");
        }
      }
    }
  });
}

TEST_CASE("gemm: the AVX-512 and AVX2 kernels agree bit for bit, threaded or not") {
  if (!gemm_isa_supported(GemmIsa::avx512) || !gemm_isa_supported(GemmIsa::avx2)) {
    MESSAGE("this CPU does not run both avx512 and avx2: skipped");
    return;
  }
  struct Shape {
    int64_t m, n, k;
  };
  const Shape shapes[] = {{300, 280, 700}, {20, 1500, 400}, {37, 10, 1100}, {7, 45, 13}};
  const GemmIsa saved = gemm_config().isa;
  uint32_t seed = 3000;
  for (const Shape& s : shapes) {
    for (int t = 0; t < 4; ++t) {
      CAPTURE(describe("gemm", t & 1, t & 2, s.m, s.n, s.k));
      const Problem<float> p(t & 1, t & 2, s.m, s.n, s.k, 1.5f, 0.5f, 1, seed++);
      set_gemm_isa(GemmIsa::avx512);
      const std::vector<float> wide = gemm_with_threads(2, static_cast<GemmFn>(gemm), p);
      set_gemm_isa(GemmIsa::avx2);
      const std::vector<float> narrow1 = gemm_with_threads(1, static_cast<GemmFn>(gemm), p);
      const std::vector<float> narrow2 = gemm_with_threads(2, static_cast<GemmFn>(gemm), p);
      CHECK(std::memcmp(wide.data(), narrow1.data(), wide.size() * sizeof(float)) == 0);
      CHECK(std::memcmp(wide.data(), narrow2.data(), wide.size() * sizeof(float)) == 0);
    }
  }
  set_gemm_isa(saved);
}

TEST_CASE(
    "gemm: a product computed as C^T (ragged tiles) equals the untransposed one bit for bit") {
  // 64 x 50 (the course MLP's forward product, k = 784) fills its 14 x 32 tiles better as
  // 50 x 64, so gemm computes C^T and transposes it; a 64 x 64 product with the same A and
  // the first 50 columns of B equal is computed as it stands. Their first 50 columns must be
  // the same bits, for each transpose, with beta != 0 (C read through the transposed copy).
  const int64_t m = 64, n = 50, k = 784, wide = 64;
  for (int t = 0; t < 4; ++t) {
    const bool ta = t & 1, tb = t & 2;
    CAPTURE(describe("gemm", ta, tb, m, n, k));
    Problem<float> narrow(ta, tb, m, n, k, 0.75f, 0.5f, 0, 4000 + uint32_t(t));
    Problem<float> full(ta, tb, m, wide, k, 0.75f, 0.5f, 0, 5000 + uint32_t(t));
    full.a = narrow.a;
    for (int64_t p = 0; p < k; ++p)
      for (int64_t j = 0; j < n; ++j) {
        const float v = narrow.at_b(p, j);
        (tb ? full.b[size_t(j * full.ldb + p)] : full.b[size_t(p * full.ldb + j)]) = v;
      }
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j)
        full.c[size_t(i * full.ldc + j)] = narrow.c[size_t(i * n + j)];
    const std::vector<float> got = gemm_with_threads(1, static_cast<GemmFn>(gemm), narrow);
    const std::vector<float> want = gemm_with_threads(1, static_cast<GemmFn>(gemm), full);
    int64_t differ = 0;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j)
        differ += std::memcmp(&got[size_t(i * n + j)], &want[size_t(i * full.ldc + j)], 4) != 0;
    CHECK(differ == 0);
    narrow.run_and_check(static_cast<GemmFn>(gemm), "against the reference");
    // Padded leading dimensions (C's padding must stay untouched), and beta == 0 over a NaN C
    // (C must not be read).
    for (float beta : {0.0f, -0.5f}) {
      Problem<float> padded(ta, tb, m, n, k, -1.25f, beta, 3, 6000 + uint32_t(t));
      if (beta == 0.0f)
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) padded.c[size_t(i * padded.ldc + j)] = kNaN;
      padded.run_and_check(static_cast<GemmFn>(gemm), "padded, beta=" + std::to_string(beta));
    }
  }
}

TEST_CASE("gemm: a small product (direct, unpacked) equals the same rows of a packed one") {
  // Under 4M multiply-adds gemm reads A and B where they lie, with tiles as tall as the rows
  // left; a 200-row product with the same first 37 rows of op(A) is packed. k > kc = 512 (two
  // partial sums per element), n ragged for every sliver width, beta != 0: the 37 rows must
  // be the same bits, for each transpose and instruction set.
  const int64_t m = 37, big = 200, n = 45, k = 600;
  for_each_isa([&](GemmIsa isa) {
    for (int t = 0; t < 4; ++t) {
      const bool ta = t & 1, tb = t & 2;
      CAPTURE(describe("gemm", ta, tb, m, n, k));
      Problem<float> small(ta, tb, m, n, k, 0.75f, 0.5f, 1, 7000 + uint32_t(t));
      Problem<float> large(ta, tb, big, n, k, 0.75f, 0.5f, 1, 8000 + uint32_t(t));
      large.b = small.b;
      for (int64_t i = 0; i < m; ++i)
        for (int64_t p = 0; p < k; ++p)
          (ta ? large.a[size_t(p * large.lda + i)] : large.a[size_t(i * large.lda + p)]) =
              small.at_a(i, p);
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j)
          large.c[size_t(i * large.ldc + j)] = small.c[size_t(i * small.ldc + j)];
      const std::vector<float> got = gemm_with_threads(1, static_cast<GemmFn>(gemm), small);
      const std::vector<float> want = gemm_with_threads(1, gemm_packed, large);
      CHECK(std::memcmp(got.data(), want.data(), size_t(m * small.ldc) * sizeof(float)) == 0);
      small.run_and_check(static_cast<GemmFn>(gemm), gemm_isa_name(isa));
    }
    // Rows of A 4 KiB apart (lda = 1024) are packed instead: still right.
    for (int t = 0; t < 4; ++t) {
      Problem<float> p(t & 1, t & 2, 20, 30, 1022, 1.0f, 0.0f, 2, 9000 + uint32_t(t));
      p.run_and_check(static_cast<GemmFn>(gemm), describe("gemm", t & 1, t & 2, 20, 30, 1022));
    }
  });
}

TEST_CASE("gemm: the blocking follows the caches and stays whole tiles") {
  const tg::kernels::CpuCaches& caches = tg::kernels::cpu_caches();
  MESSAGE("caches: ", tg::kernels::cpu_caches_str(caches));
  for_each_isa([&](GemmIsa isa) {
    const GemmConfig g = gemm_config(isa);
    CHECK(g.isa == isa);
    CHECK(g.kc == 512);  // fixed: it sets the summation order
    CHECK(g.mc >= 2 * g.mr);
    CHECK(g.mc % g.mr == 0);
    CHECK(g.nc % g.nr == 0);
    CHECK(g.nc >= 256);
    CHECK(g.nc <= 4096);
    if (caches.l2 > 0) CHECK(g.mc * g.kc * 4 <= caches.l2 / 2);  // the A block fits its L2
    CHECK(gemm_config().isa == isa);                             // set_gemm_isa took effect
  });
  CHECK(std::string(gemm_isa_name(GemmIsa::avx2)) == "avx2");
}

TEST_CASE("cpu_info: CPU lists and cache sizes as sysfs writes them") {
  using tg::kernels::count_cpu_list;
  using tg::kernels::parse_cache_size;
  CHECK(count_cpu_list("0") == 1);
  CHECK(count_cpu_list("0-1") == 2);
  CHECK(count_cpu_list("0-3,8,10-11") == 7);
  CHECK(count_cpu_list("") == 0);
  CHECK(count_cpu_list("3-1") == 0);
  CHECK(count_cpu_list("a-b") == 0);
  CHECK(count_cpu_list("1,x") == 0);
  CHECK(parse_cache_size("32K") == 32768);
  CHECK(parse_cache_size("1024K") == 1048576);
  CHECK(parse_cache_size("32M") == 33554432);
  CHECK(parse_cache_size("512") == 512);
  CHECK(parse_cache_size("") == 0);
  CHECK(parse_cache_size("K") == 0);
  CHECK(parse_cache_size("12Q") == 0);
  const tg::kernels::CpuCaches& c = tg::kernels::cpu_caches();
  CHECK(c.l1d >= 0);
  CHECK(c.l3_shared_by >= 1);
  CHECK(tg::kernels::cpu_caches_str(c).rfind("L1d ", 0) == 0);
}
