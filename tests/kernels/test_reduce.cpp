// Reductions over the middle axis of (outer, r, inner): hand values along each position,
// accuracy of long float sums, NaN and tie rules, empty axes, and bit-identical results for
// any thread count.
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "base/error.h"
#include "kernels/reduce.h"

using namespace tg::kernels;
using namespace tg::kernels::cpu;

namespace {

template <typename T>
std::vector<T> run(ReduceOp op, const std::vector<T>& x, int64_t outer, int64_t r, int64_t inner) {
  std::vector<T> y(static_cast<size_t>(outer * inner), T(-777));
  reduce(op, x.data(), outer, r, inner, y.data());
  return y;
}
template <typename T>
std::vector<int32_t> run_argmax(const std::vector<T>& x, int64_t outer, int64_t r, int64_t inner) {
  std::vector<int32_t> y(static_cast<size_t>(outer * inner), -777);
  argmax(x.data(), outer, r, inner, y.data());
  return y;
}

// 0..11 as (2, 3, 2): x[o][j][i] = 6o + 2j + i.
const std::vector<float> iota12 = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
// Digits of pi as (2, 3, 2): o=0 rows [3,1] [4,1] [5,9]; o=1 rows [2,6] [5,3] [5,8].
const std::vector<float> pi12 = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8};

// A reproducible pattern of positive and negative values, not summing exactly in float.
std::vector<float> pattern(int64_t n) {
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x[i] = float((i * 7919) % 1000) * 0.00123f - 0.3f;
  return x;
}

template <typename T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

}  // namespace

TEST_CASE("whole-tensor sum, mean, max, min as (1, n, 1)") {
  CHECK(run(ReduceOp::sum, iota12, 1, 12, 1) == std::vector<float>{66});
  CHECK(run(ReduceOp::mean, iota12, 1, 12, 1) == std::vector<float>{5.5f});
  CHECK(run(ReduceOp::max, pi12, 1, 12, 1) == std::vector<float>{9});
  CHECK(run(ReduceOp::min, pi12, 1, 12, 1) == std::vector<float>{1});
  const std::vector<double> tenth(10, 0.1);
  CHECK(run(ReduceOp::sum, tenth, 1, 10, 1)[0] == doctest::Approx(1.0).epsilon(1e-15));
}

TEST_CASE("reduce along the leading axis: (1, 2, 6)") {
  CHECK(run(ReduceOp::sum, iota12, 1, 2, 6) == std::vector<float>{6, 8, 10, 12, 14, 16});
  CHECK(run(ReduceOp::mean, iota12, 1, 2, 6) == std::vector<float>{3, 4, 5, 6, 7, 8});
  CHECK(run(ReduceOp::max, pi12, 1, 2, 6) == std::vector<float>{3, 6, 5, 3, 5, 9});
  CHECK(run(ReduceOp::min, pi12, 1, 2, 6) == std::vector<float>{2, 1, 4, 1, 5, 8});
  CHECK(run_argmax(pi12, 1, 2, 6) == std::vector<int32_t>{0, 1, 1, 1, 0, 0});  // 5 vs 5: first
}

TEST_CASE("reduce along the last axis: (6, 2, 1)") {
  CHECK(run(ReduceOp::sum, iota12, 6, 2, 1) == std::vector<float>{1, 5, 9, 13, 17, 21});
  CHECK(run(ReduceOp::mean, iota12, 6, 2, 1) ==
        std::vector<float>{0.5f, 2.5f, 4.5f, 6.5f, 8.5f, 10.5f});
  CHECK(run(ReduceOp::max, pi12, 6, 2, 1) == std::vector<float>{3, 4, 9, 6, 5, 8});
  CHECK(run(ReduceOp::min, pi12, 6, 2, 1) == std::vector<float>{1, 1, 5, 2, 3, 5});
  CHECK(run_argmax(pi12, 6, 2, 1) == std::vector<int32_t>{0, 0, 1, 1, 0, 1});
}

TEST_CASE("reduce along a middle axis: (2, 3, 2)") {
  CHECK(run(ReduceOp::sum, iota12, 2, 3, 2) == std::vector<float>{6, 9, 24, 27});
  CHECK(run(ReduceOp::mean, iota12, 2, 3, 2) == std::vector<float>{2, 3, 8, 9});
  CHECK(run(ReduceOp::max, pi12, 2, 3, 2) == std::vector<float>{5, 9, 5, 8});
  CHECK(run(ReduceOp::min, pi12, 2, 3, 2) == std::vector<float>{3, 1, 2, 3});
  CHECK(run_argmax(pi12, 2, 3, 2) == std::vector<int32_t>{2, 2, 1, 2});  // o=1,i=0: 5 at j=1, 2
}

TEST_CASE("argmax returns the first index of a tied maximum") {
  CHECK(run_argmax(std::vector<float>{1, 7, 7, 3, 7}, 1, 5, 1) == std::vector<int32_t>{1});
  CHECK(run_argmax(std::vector<double>{-2, -2, -2}, 1, 3, 1) == std::vector<int32_t>{0});
  // Ties across chunk boundaries (4096 elements per chunk): 7 at 100 and at 9000.
  std::vector<float> x(3 * 4096 + 17, 0.f);
  x[100] = 7;
  x[9000] = 7;
  CHECK(run_argmax(x, 1, int64_t(x.size()), 1) == std::vector<int32_t>{100});
  x[9001] = 8;  // a strictly larger value in a later chunk wins
  CHECK(run_argmax(x, 1, int64_t(x.size()), 1) == std::vector<int32_t>{9001});
  // Columns (inner > 1) with ties: column 0 ties at rows 0 and 2, column 1 at 1 and 2.
  CHECK(run_argmax(std::vector<float>{4, 0, 1, 5, 4, 5}, 1, 3, 2) == std::vector<int32_t>{0, 1});
}

TEST_CASE("NaN: max and min propagate it, argmax takes the first NaN") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> x = {1, nan, 3, nan};
  CHECK(std::isnan(run(ReduceOp::max, x, 1, 4, 1)[0]));
  CHECK(std::isnan(run(ReduceOp::min, x, 1, 4, 1)[0]));
  CHECK(std::isnan(run(ReduceOp::sum, x, 1, 4, 1)[0]));
  CHECK(run_argmax(x, 1, 4, 1) == std::vector<int32_t>{1});
  // Along columns: [[1, 2], [NaN, 5], [9, NaN]].
  const std::vector<float> c = {1, 2, nan, 5, 9, nan};
  CHECK(run_argmax(c, 1, 3, 2) == std::vector<int32_t>{1, 2});
  const auto m = run(ReduceOp::max, c, 1, 3, 2);
  CHECK(std::isnan(m[0]));
  CHECK(std::isnan(m[1]));
  // A NaN in a later chunk beats a larger finite value in an earlier one.
  std::vector<double> l(10000, 0.0);
  l[10] = 100;
  l[5000] = std::numeric_limits<double>::quiet_NaN();
  CHECK(run_argmax(l, 1, 10000, 1) == std::vector<int32_t>{5000});
  CHECK(std::isnan(run(ReduceOp::max, l, 1, 10000, 1)[0]));
  CHECK(std::isnan(run(ReduceOp::min, l, 1, 10000, 1)[0]));
}

TEST_CASE("empty axis: sum is 0, mean is NaN, max/min/argmax throw") {
  const std::vector<float> none;
  CHECK(run(ReduceOp::sum, none, 2, 0, 3) == std::vector<float>(6, 0.f));
  for (float v : run(ReduceOp::mean, none, 2, 0, 3)) CHECK(std::isnan(v));
  std::vector<float> out(6);
  std::vector<int32_t> idx(6);
  CHECK_THROWS_AS(reduce(ReduceOp::max, none.data(), 2, 0, 3, out.data()), tg::Error);
  CHECK_THROWS_AS(reduce(ReduceOp::min, none.data(), 2, 0, 3, out.data()), tg::Error);
  CHECK_THROWS_AS(argmax(none.data(), 2, 0, 3, idx.data()), tg::Error);
  CHECK_THROWS_AS(reduce(ReduceOp::sum, none.data(), -1, 2, 3, out.data()), tg::Error);
}

TEST_CASE("a float sum of 1M elements matches the double sum to ~1e-7") {
  const int64_t n = 1 << 20;
  const auto x = pattern(n);
  double exact = 0;
  for (float v : x) exact += v;  // double accumulation of the float values: ~1e-16 relative
  const float got = run(ReduceOp::sum, x, 1, n, 1)[0];
  // A running float sum is off by 5.7e-6 relative here (fails this check); the tree by 3.5e-8.
  CHECK(std::abs(double(got) - exact) <= 1e-6 * std::abs(exact));
  const float mean = run(ReduceOp::mean, x, 1, n, 1)[0];
  CHECK(std::abs(double(mean) - exact / double(n)) <= 1e-6 * std::abs(exact / double(n)));
}

TEST_CASE("long reductions with inner > 1 and several outer blocks are accurate") {
  // (3, r, 5) with r not a multiple of any chunk size.
  const int64_t outer = 3, r = 70001, inner = 5;
  const auto x = pattern(outer * r * inner);
  const auto got = run(ReduceOp::sum, x, outer, r, inner);
  const auto mx = run(ReduceOp::max, x, outer, r, inner);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      double s = 0;
      float m = -std::numeric_limits<float>::infinity();
      for (int64_t j = 0; j < r; ++j) {
        s += x[(o * r + j) * inner + i];
        m = std::max(m, x[(o * r + j) * inner + i]);
      }
      CAPTURE(o);
      CAPTURE(i);
      CHECK(std::abs(double(got[o * inner + i]) - s) <= 1e-6 * std::abs(s));
      CHECK(mx[o * inner + i] == m);
    }
  // Many outputs with r > one chunk: (7, 9000, 1).
  const auto y = pattern(7 * 9000);
  const auto rows = run(ReduceOp::sum, y, 7, 9000, 1);
  for (int64_t o = 0; o < 7; ++o) {
    double s = 0;
    for (int64_t j = 0; j < 9000; ++j) s += y[o * 9000 + j];
    CHECK(std::abs(double(rows[o]) - s) <= 1e-6 * std::abs(s));
  }
}

TEST_CASE("sum and mean are bit-identical for 1, 2 and 3 threads") {
  const int saved = omp_get_max_threads();
  struct Shape {
    int64_t outer, r, inner;
  };
  const auto x = pattern(3'000'000);
  for (Shape s : {Shape{1, 3'000'000, 1}, Shape{1, 1'000'000, 3}, Shape{1000, 3000, 1},
                  Shape{30, 1000, 100}}) {
    CAPTURE(s.outer);
    CAPTURE(s.r);
    CAPTURE(s.inner);
    for (ReduceOp op : {ReduceOp::sum, ReduceOp::mean}) {
      omp_set_num_threads(1);
      const auto one = run(op, x, s.outer, s.r, s.inner);
      omp_set_num_threads(2);
      const auto two = run(op, x, s.outer, s.r, s.inner);
      omp_set_num_threads(3);
      const auto three = run(op, x, s.outer, s.r, s.inner);
      CHECK(same_bits(one, two));
      CHECK(same_bits(one, three));
    }
  }
  omp_set_num_threads(saved);
}

TEST_CASE("double reductions and argmax on hand values") {
  const std::vector<double> x = {0.5, -1.5, 2.25, -4, 8, 0.125};  // (2, 3, 1)
  CHECK(run(ReduceOp::sum, x, 2, 3, 1) == std::vector<double>{1.25, 4.125});
  CHECK(run(ReduceOp::mean, x, 1, 6, 1) == std::vector<double>{5.375 / 6});
  CHECK(run(ReduceOp::max, x, 1, 2, 3) == std::vector<double>{0.5, 8, 2.25});
  CHECK(run(ReduceOp::min, x, 3, 2, 1) == std::vector<double>{-1.5, -4, 0.125});
  CHECK(run_argmax(x, 3, 2, 1) == std::vector<int32_t>{0, 0, 0});
  CHECK(run_argmax(x, 1, 6, 1) == std::vector<int32_t>{4});
}

TEST_CASE(
    "argmax_hits counts the rows whose argmax is the label, with argmax's tie and NaN rules") {
  // Rows: a clear winner (label right), a tie (the first maximum wins: label 1 is wrong), a NaN
  // (the first NaN wins: label 2 right), all -inf (index 0: label 0 right), and a label out of
  // range (never matched).
  const float inf = std::numeric_limits<float>::infinity(), nan = std::nanf("");
  const std::vector<float> x = {0.1f, 3.f,  0.2f, 5.f,  5.f, 1.f, 1.f, 2.f,
                                nan,  -inf, -inf, -inf, 9.f, 8.f, 7.f};
  const std::vector<int32_t> labels = {1, 1, 2, 0, 3};
  float acc = -1;
  argmax_hits(x.data(), 5, 3, labels.data(), &acc);
  CHECK(acc == doctest::Approx(3.0 / 5.0));
  // double logits, one row
  const std::vector<double> xd = {-1, -2};
  const int32_t zero = 0;
  argmax_hits(xd.data(), 1, 2, &zero, &acc);
  CHECK(acc == 1.0f);
  // rows * cols above the parallel threshold: the same count as a row-by-row argmax
  const int64_t rows = 5000, cols = 10;
  std::vector<float> big(static_cast<size_t>(rows * cols));
  std::vector<int32_t> lab(static_cast<size_t>(rows));
  for (size_t i = 0; i < big.size(); ++i) big[i] = float((i * 7919) % 101);
  for (int64_t i = 0; i < rows; ++i) lab[size_t(i)] = int32_t((i * 31) % cols);
  std::vector<int32_t> am(static_cast<size_t>(rows));
  argmax(big.data(), rows, cols, 1, am.data());
  int64_t hits = 0;
  for (int64_t i = 0; i < rows; ++i) hits += am[size_t(i)] == lab[size_t(i)];
  REQUIRE(hits > 0);
  argmax_hits(big.data(), rows, cols, lab.data(), &acc);
  CHECK(acc == float(double(hits) / double(rows)));
}

TEST_CASE("argmax_hits refuses empty arrays and null pointers") {
  const float x[2] = {1, 2};
  const int32_t y[1] = {1};
  float out = 0;
  CHECK_THROWS_WITH_AS(argmax_hits(x, 0, 2, y, &out), doctest::Contains("non-empty"), tg::Error);
  CHECK_THROWS_WITH_AS(argmax_hits(x, 1, 0, y, &out), doctest::Contains("non-empty"), tg::Error);
  CHECK_THROWS_WITH_AS(argmax_hits(x, 1, 2, static_cast<const int32_t*>(nullptr), &out),
                       doctest::Contains("null pointer"), tg::Error);
}
