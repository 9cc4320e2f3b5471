// Softmax, log-softmax and cross-entropy: hand values, stability for large logits, backward
// passes against central differences in double, label validation, thread-count invariance.
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <vector>

#include "base/error.h"
#include "kernels/cpu/common.h"
#include "kernels/softmax.h"

using namespace tg::kernels::cpu;

namespace {

// Deterministic pseudo-random values in [-2, 2).
std::vector<double> noise(int64_t n, uint32_t seed) {
  std::vector<double> v(static_cast<size_t>(n));
  for (auto& x : v) {
    seed = seed * 1664525u + 1013904223u;
    x = double(seed >> 8) / double(1 << 24) * 4.0 - 2.0;
  }
  return v;
}

// Central differences of f at x, compared with the analytic gradient g, element by element.
void check_gradient(const std::function<double(const std::vector<double>&)>& f,
                    std::vector<double> x, const std::vector<double>& g) {
  const double h = 1e-6;
  for (size_t i = 0; i < x.size(); ++i) {
    const double x0 = x[i];
    x[i] = x0 + h;
    const double fp = f(x);
    x[i] = x0 - h;
    const double fm = f(x);
    x[i] = x0;
    CAPTURE(i);
    CHECK(g[i] == doctest::Approx((fp - fm) / (2 * h)).epsilon(1e-6).scale(1.0));
  }
}

}  // namespace

TEST_CASE_TEMPLATE("softmax on hand values; every row sums to 1", T, float, double) {
  // softmax([0, ln 2, ln 3]) = [1, 2, 3] / 6; softmax of a constant row is uniform.
  const std::vector<T> x = {0, T(std::log(2.0)), T(std::log(3.0)), 5, 5, 5};
  std::vector<T> y(6);
  softmax(x.data(), 2, 3, y.data());
  const double want[6] = {1.0 / 6, 2.0 / 6, 3.0 / 6, 1.0 / 3, 1.0 / 3, 1.0 / 3};
  for (int i = 0; i < 6; ++i) CHECK(double(y[i]) == doctest::Approx(want[i]).epsilon(1e-6));
  const auto r = noise(7 * 13, 1);
  std::vector<T> xr(r.begin(), r.end()), yr(r.size());
  softmax(xr.data(), 7, 13, yr.data());
  for (int i = 0; i < 7; ++i) {
    double s = 0;
    for (int j = 0; j < 13; ++j) s += yr[i * 13 + j];
    CHECK(s == doctest::Approx(1.0).epsilon(1e-6));
  }
}

TEST_CASE_TEMPLATE("log_softmax equals log(softmax), also computed in place", T, float, double) {
  const auto r = noise(5 * 9, 2);
  std::vector<T> x(r.begin(), r.end()), y(r.size()), ly(r.size());
  softmax(x.data(), 5, 9, y.data());
  log_softmax(x.data(), 5, 9, ly.data());
  for (size_t i = 0; i < x.size(); ++i)
    CHECK(double(ly[i]) == doctest::Approx(std::log(double(y[i]))).epsilon(1e-5));
  log_softmax(x.data(), 5, 9, x.data());  // y aliasing x
  CHECK(x == ly);
}

TEST_CASE("softmax and log_softmax are stable for large logits") {
  // [1000, 1000, 999]: exp(1000) overflows float and double; x - max does not.
  const std::vector<float> x = {1000, 1000, 999, -1000, 0, -1000};
  std::vector<float> y(6), ly(6);
  softmax(x.data(), 2, 3, y.data());
  CHECK(y[0] == doctest::Approx(0.4223187982515182));
  CHECK(y[1] == doctest::Approx(0.4223187982515182));
  CHECK(y[2] == doctest::Approx(0.15536240349696362));
  CHECK(y[3] == 0.f);
  CHECK(y[4] == 1.f);
  log_softmax(x.data(), 2, 3, ly.data());
  CHECK(ly[2] == doctest::Approx(-1 - std::log(2 + std::exp(-1.0))));
  CHECK(ly[3] == doctest::Approx(-1000.f));
  CHECK(ly[4] == 0.f);
  for (float v : ly) CHECK(std::isfinite(v));
  const std::vector<int32_t> labels = {2, 1};
  const float loss = cross_entropy(x.data(), labels.data(), 2, 3, static_cast<float*>(nullptr));
  CHECK(std::isfinite(loss));
  CHECK(loss == doctest::Approx((1 + std::log(2 + std::exp(-1.0)) + 0.0) / 2));
}

TEST_CASE("softmax_backward matches central differences (double)") {
  const int64_t rows = 3, cols = 5;
  const auto x = noise(rows * cols, 3), w = noise(rows * cols, 4);
  // L(x) = sum w * softmax(x), so dL/dx = softmax_backward(y, gy = w).
  auto f = [&](const std::vector<double>& v) {
    std::vector<double> y(v.size());
    softmax(v.data(), rows, cols, y.data());
    double s = 0;
    for (size_t i = 0; i < y.size(); ++i) s += w[i] * y[i];
    return s;
  };
  std::vector<double> y(x.size()), gx(x.size());
  softmax(x.data(), rows, cols, y.data());
  softmax_backward(y.data(), w.data(), rows, cols, gx.data());
  check_gradient(f, x, gx);
}

TEST_CASE("log_softmax_backward matches central differences (double)") {
  const int64_t rows = 4, cols = 3;
  const auto x = noise(rows * cols, 5), w = noise(rows * cols, 6);
  auto f = [&](const std::vector<double>& v) {
    std::vector<double> y(v.size());
    log_softmax(v.data(), rows, cols, y.data());
    double s = 0;
    for (size_t i = 0; i < y.size(); ++i) s += w[i] * y[i];
    return s;
  };
  std::vector<double> y(x.size()), gx(x.size());
  log_softmax(x.data(), rows, cols, y.data());
  log_softmax_backward(y.data(), w.data(), rows, cols, gx.data());
  check_gradient(f, x, gx);
}

TEST_CASE_TEMPLATE("cross_entropy on a hand-computed 2x3 example, with probs", T, float, double) {
  // Row 0: [1, 2, 3], label 2: loss = log(1 + e^-1 + e^-2)            = 0.4076059644443806
  // Row 1: [1, 1, 1], label 0: loss = log 3                            = 1.0986122886681098
  // Mean                                                                = 0.7531091265562453
  const std::vector<T> x = {1, 2, 3, 1, 1, 1};
  const std::vector<int32_t> labels = {2, 0};
  std::vector<T> probs(6, T(-1));
  const T loss = cross_entropy(x.data(), labels.data(), 2, 3, probs.data());
  CHECK(double(loss) == doctest::Approx(0.7531091265562453).epsilon(1e-6));
  const double want[6] = {
      0.09003057317038043, 0.24472847105479759, 0.6652409557748217, 1.0 / 3, 1.0 / 3, 1.0 / 3};
  for (int i = 0; i < 6; ++i) CHECK(double(probs[i]) == doctest::Approx(want[i]).epsilon(1e-6));
  // Without probs: the same loss, nothing else written.
  CHECK(cross_entropy(x.data(), labels.data(), 2, 3, static_cast<T*>(nullptr)) == loss);
}

TEST_CASE("cross_entropy rejects a label out of range before computing anything") {
  const std::vector<float> x = {1, 2, 3, 4, 5, 6};
  std::vector<float> probs(6, -1.f);
  const std::vector<int32_t> high = {0, 5};
  CHECK_THROWS_WITH_AS(cross_entropy(x.data(), high.data(), 2, 3, probs.data()),
                       "cross_entropy: label 5 at row 1 is out of range for 3 classes", tg::Error);
  CHECK(probs == std::vector<float>(6, -1.f));  // nothing written
  const std::vector<int32_t> negative = {-1, 0};
  CHECK_THROWS_WITH_AS(cross_entropy(x.data(), negative.data(), 2, 3, probs.data()),
                       doctest::Contains("label -1 at row 0"), tg::Error);
  const std::vector<int32_t> edge = {3, 0};  // == cols is out of range too
  CHECK_THROWS_AS(cross_entropy(x.data(), edge.data(), 2, 3, probs.data()), tg::Error);
  std::vector<float> g(6, -1.f);
  CHECK_THROWS_WITH_AS(cross_entropy_backward(probs.data(), high.data(), 2, 3, 0.5f, g.data()),
                       doctest::Contains("label 5 at row 1"), tg::Error);
  CHECK(g == std::vector<float>(6, -1.f));
}

TEST_CASE("cross_entropy_backward matches central differences of the mean loss (double)") {
  const int64_t rows = 4, cols = 5;
  const auto x = noise(rows * cols, 7);
  const std::vector<int32_t> labels = {0, 4, 2, 2};
  auto f = [&](const std::vector<double>& v) {
    return cross_entropy(v.data(), labels.data(), rows, cols, static_cast<double*>(nullptr));
  };
  std::vector<double> probs(x.size()), g(x.size());
  cross_entropy(x.data(), labels.data(), rows, cols, probs.data());
  cross_entropy_backward(probs.data(), labels.data(), rows, cols, 1.0 / rows, g.data());
  check_gradient(f, x, g);
  // Hand check of one entry: scale * (p - 1) at the label.
  CHECK(g[0] == doctest::Approx((probs[0] - 1) / rows));
}

TEST_CASE("cross_entropy is bit-identical for 1, 2 and 3 threads") {
  const int64_t rows = 30000, cols = 10;  // 300K logits: the parallel path
  static_assert(rows * cols >= tg::kernels::cpu::detail::kParallelMin);
  const auto xd = noise(rows * cols, 8);
  const std::vector<float> x(xd.begin(), xd.end());
  std::vector<int32_t> labels(rows);
  for (int64_t i = 0; i < rows; ++i) labels[i] = int32_t((i * 7) % cols);
  const int saved = omp_get_max_threads();
  std::vector<float> ref_probs(x.size());
  omp_set_num_threads(1);
  const float ref = cross_entropy(x.data(), labels.data(), rows, cols, ref_probs.data());
  for (int threads : {2, 3}) {
    omp_set_num_threads(threads);
    std::vector<float> probs(x.size());
    const float loss = cross_entropy(x.data(), labels.data(), rows, cols, probs.data());
    CAPTURE(threads);
    CHECK(std::memcmp(&loss, &ref, sizeof(float)) == 0);
    CHECK(std::memcmp(probs.data(), ref_probs.data(), probs.size() * sizeof(float)) == 0);
  }
  omp_set_num_threads(saved);
}
