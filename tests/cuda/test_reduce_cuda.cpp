// CUDA reductions (kernels/cuda/reduce.cu) against the CPU kernels: every op on awkward shapes of
// both layouts (inner == 1: warp per run, block per chunk, two and three levels of partials;
// inner > 1: column tiles, row chunks, two and three levels), NaN and tie rules, empty axes,
// float accuracy of long sums, and bit-identical repeated runs.
//
// Sums are checked exactly on integer-valued inputs: every partial sum is then an exact
// integer in float, so any summation order gives the same bits and a lost or doubled element
// shows as a mismatch, which a tolerance could hide in a sum of 1e5 elements.
#include <cuda_runtime.h>  // cudaMalloc(T**, size_t), used by DeviceBuffer
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "base/error.h"
#include "cuda/cuda_test_util.h"
#include "kernels/reduce.h"

using tg::kernels::ReduceOp;
using tg::test::DeviceBuffer;
namespace cpu = tg::kernels::cpu;
namespace gpu = tg::kernels::cuda;

namespace {

struct Shape {
  int64_t outer, r, inner;
  int64_t n() const { return outer * r * inner; }
  int64_t m() const { return outer * inner; }
};

// Warp per run (r <= 1024), block per run (r <= 4096), chunked runs, and the column kernel with
// one chunk of rows (r <= 512), several chunks and two levels of partials, ragged tiles; and
// more warps or blocks than the grid holds (grid-stride loops).
const Shape kShapes[] = {
    {1, 1, 1},     {1, 7, 1},      {3, 33, 1},     {5, 1023, 1},   {2, 1024, 1},   {3, 1025, 1},
    {2, 4096, 1},  {2, 4097, 1},   {64, 10, 1},    {1, 100003, 1}, {2, 7, 3},      {3, 33, 5},
    {1, 1023, 33}, {4, 513, 64},   {2, 1025, 100}, {7, 1, 1023},   {1, 100003, 2}, {5, 512, 31},
    {3, 3, 7},     {1, 300007, 2}, {600000, 3, 1}, {70000, 2, 2}};

const ReduceOp kOps[] = {ReduceOp::sum, ReduceOp::mean, ReduceOp::max, ReduceOp::min};

const char* name(ReduceOp op) {
  return op == ReduceOp::sum    ? "sum"
         : op == ReduceOp::mean ? "mean"
         : op == ReduceOp::max  ? "max"
                                : "min";
}

// Integers in [-8, 8], so ties are frequent and sums exact.
template <typename T>
std::vector<T> small_ints(int64_t n, uint32_t seed) {
  std::vector<T> v(static_cast<size_t>(n));
  for (auto& x : v) {
    seed = seed * 1664525u + 1013904223u;
    x = static_cast<T>(static_cast<int>((seed >> 8) % 17) - 8);
  }
  return v;
}

template <typename T>
std::vector<T> on_gpu(ReduceOp op, const std::vector<T>& x, Shape s) {
  DeviceBuffer<T> dx(x), dy(std::vector<T>(static_cast<size_t>(s.m()), T(-777)));
  gpu::reduce(op, dx.data(), s.outer, s.r, s.inner, dy.data());
  return dy.download();
}
template <typename T>
std::vector<T> on_cpu(ReduceOp op, const std::vector<T>& x, Shape s) {
  std::vector<T> y(static_cast<size_t>(s.m()), T(-777));
  cpu::reduce(op, x.data(), s.outer, s.r, s.inner, y.data());
  return y;
}
template <typename T>
std::vector<int32_t> argmax_gpu(const std::vector<T>& x, Shape s) {
  DeviceBuffer<T> dx(x);
  DeviceBuffer<int32_t> dy(std::vector<int32_t>(static_cast<size_t>(s.m()), -777));
  gpu::argmax(dx.data(), s.outer, s.r, s.inner, dy.data());
  return dy.download();
}
template <typename T>
std::vector<int32_t> argmax_cpu(const std::vector<T>& x, Shape s) {
  std::vector<int32_t> y(static_cast<size_t>(s.m()), -777);
  cpu::argmax(x.data(), s.outer, s.r, s.inner, y.data());
  return y;
}

// Equal values, NaN equal to NaN; reports the first difference.
template <typename T>
bool same_values(const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(double(a[i])) && std::isnan(double(b[i]))) continue;
    if (!(a[i] == b[i])) {
      MESSAGE("element " << i << ": " << double(a[i]) << " vs " << double(b[i]));
      return false;
    }
  }
  return true;
}

template <typename T>
void check_all_ops(const std::vector<T>& x, Shape s) {
  CAPTURE(s.outer);
  CAPTURE(s.r);
  CAPTURE(s.inner);
  for (ReduceOp op : kOps) {
    CAPTURE(name(op));
    CHECK(same_values(on_gpu(op, x, s), on_cpu(op, x, s)));
  }
  CHECK(argmax_gpu(x, s) == argmax_cpu(x, s));
}

}  // namespace

TEST_CASE_TEMPLATE("cuda reduce and argmax match the CPU on awkward shapes", T, float, double) {
  TG_SKIP_WITHOUT_CUDA();
  uint32_t seed = 1;
  for (const Shape& s : kShapes) {
    const uint32_t shape_seed = seed++;
    if (!tg::test::too_big_for_emulator(s.n())) check_all_ops(small_ints<T>(s.n(), shape_seed), s);
  }
}

TEST_CASE("cuda reduce handles hand values along each position") {
  TG_SKIP_WITHOUT_CUDA();
  // Digits of pi as (2, 3, 2): o=0 rows [3,1] [4,1] [5,9]; o=1 rows [2,6] [5,3] [5,8].
  const std::vector<float> pi12 = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8};
  CHECK(on_gpu(ReduceOp::sum, pi12, {2, 3, 2}) == std::vector<float>{12, 11, 12, 17});
  CHECK(on_gpu(ReduceOp::max, pi12, {2, 3, 2}) == std::vector<float>{5, 9, 5, 8});
  CHECK(on_gpu(ReduceOp::min, pi12, {1, 12, 1}) == std::vector<float>{1});
  CHECK(on_gpu(ReduceOp::mean, pi12, {1, 12, 1}) == std::vector<float>{52.0f / 12.0f});
  CHECK(argmax_gpu(pi12, {2, 3, 2}) == std::vector<int32_t>{2, 2, 1, 2});
  CHECK(argmax_gpu(pi12, {1, 12, 1}) == std::vector<int32_t>{5});
}

TEST_CASE("cuda reduce over three levels of partials matches the CPU") {
  TG_SKIP_WITHOUT_CUDA();
  // inner == 1: 4098 chunks of (up to) 4096, then 2 chunks, then one warp.
  const Shape runs{1, 4096 * 4097 + 3, 1};
  const auto x = small_ints<float>(runs.n(), 7);
  CHECK(same_values(on_gpu(ReduceOp::sum, x, runs), on_cpu(ReduceOp::sum, x, runs)));
  CHECK(same_values(on_gpu(ReduceOp::max, x, runs), on_cpu(ReduceOp::max, x, runs)));
  CHECK(argmax_gpu(x, runs) == argmax_cpu(x, runs));
  // Two runs of 4096 * 1025 + 5: 1026 partials each, then one block per run.
  const Shape two{2, 4096 * 1025 + 5, 1};
  const auto y = small_ints<double>(two.n(), 8);
  CHECK(same_values(on_gpu(ReduceOp::mean, y, two), on_cpu(ReduceOp::mean, y, two)));
  CHECK(same_values(on_gpu(ReduceOp::min, y, two), on_cpu(ReduceOp::min, y, two)));
}

TEST_CASE_TEMPLATE("cuda argmax takes the first maximum across chunks and levels", T, float,
                   double) {
  TG_SKIP_WITHOUT_CUDA();
  for (const Shape& s : {Shape{2, 100003, 1}, Shape{1, 300007, 2}, Shape{3, 700, 5}}) {
    CAPTURE(s.r);
    CAPTURE(s.inner);
    auto x = small_ints<T>(s.n(), 3);
    // The maximum 100 twice along the first output's axis: at rows r/3 and r - 1.
    x[static_cast<size_t>((s.r / 3) * s.inner)] = T(100);
    x[static_cast<size_t>((s.r - 1) * s.inner)] = T(100);
    const auto got = argmax_gpu(x, s);
    CHECK(got[0] == s.r / 3);
    CHECK(got == argmax_cpu(x, s));
    // All equal: index 0 everywhere; all -inf: index 0 too.
    const auto ones = std::vector<T>(static_cast<size_t>(s.n()), T(1));
    CHECK(argmax_gpu(ones, s) == std::vector<int32_t>(static_cast<size_t>(s.m()), 0));
    const auto ninf =
        std::vector<T>(static_cast<size_t>(s.n()), -std::numeric_limits<T>::infinity());
    CHECK(argmax_gpu(ninf, s) == std::vector<int32_t>(static_cast<size_t>(s.m()), 0));
    CHECK(same_values(on_gpu(ReduceOp::max, ninf, s),
                      std::vector<T>(static_cast<size_t>(s.m()), ninf[0])));
  }
}

TEST_CASE_TEMPLATE("cuda reduce propagates NaN and argmax takes the first NaN", T, float, double) {
  TG_SKIP_WITHOUT_CUDA();
  const T nan = std::numeric_limits<T>::quiet_NaN();
  for (const Shape& s : {Shape{2, 100003, 1}, Shape{4, 33, 1}, Shape{1, 300007, 2},
                         Shape{3, 700, 5}, Shape{2, 9, 40}}) {
    CAPTURE(s.r);
    CAPTURE(s.inner);
    auto x = small_ints<T>(s.n(), 5);
    // Output 0 gets NaN at rows 2r/3 and r/2 (the first along the axis is r/2), plus a 100
    // before both, which must not win; the last output gets a NaN at its last row.
    x[static_cast<size_t>((2 * s.r / 3) * s.inner)] = nan;
    x[static_cast<size_t>((s.r / 2) * s.inner)] = nan;
    x[static_cast<size_t>((s.r / 4) * s.inner)] = T(100);
    x[static_cast<size_t>(s.n() - 1)] = nan;
    for (ReduceOp op : kOps) {
      CAPTURE(name(op));
      const auto got = on_gpu(op, x, s);
      CHECK(std::isnan(double(got.front())));
      CHECK(std::isnan(double(got.back())));
      CHECK(same_values(got, on_cpu(op, x, s)));
    }
    const auto idx = argmax_gpu(x, s);
    CHECK(idx.front() == s.r / 2);
    CHECK(idx.back() == s.r - 1);
    CHECK(idx == argmax_cpu(x, s));
  }
}

TEST_CASE("cuda float sums of 1e6 elements stay accurate") {
  TG_SKIP_WITHOUT_CUDA();
  // 0.1f a million times: a running float sum drifts by about 1%; the blocked tree stays
  // within a few ulps of the exact (double) sum of the same float values.
  const Shape s{1, 1000000, 1};
  const std::vector<float> x(1000000, 0.1f);
  const double exact = 1000000.0 * double(0.1f);
  CHECK(double(on_gpu(ReduceOp::sum, x, s)[0]) == doctest::Approx(exact).epsilon(1e-6));
  CHECK(double(on_gpu(ReduceOp::mean, x, s)[0]) == doctest::Approx(double(0.1f)).epsilon(1e-6));
  // Columns: the same along r = 100003 with inner = 3.
  const Shape c{1, 100003, 3};
  const auto u = tg::test::uniform<float>(static_cast<size_t>(c.n()), 11, 0, 1);
  const auto got = on_gpu(ReduceOp::sum, u, c), want = on_cpu(ReduceOp::sum, u, c);
  CHECK(tg::test::close_to(got, want, 1e-5, 0));
}

TEST_CASE("cuda reduce gives the same bits on every run") {
  TG_SKIP_WITHOUT_CUDA();
  for (const Shape& s : {Shape{1, 1000003, 1}, Shape{3, 2000, 70}}) {
    const auto x = tg::test::uniform<float>(static_cast<size_t>(s.n()), 13);
    const auto a = on_gpu(ReduceOp::sum, x, s), b = on_gpu(ReduceOp::sum, x, s);
    CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
    CHECK(tg::test::close_to(a, on_cpu(ReduceOp::sum, x, s), 1e-4, 1e-3));
  }
}

TEST_CASE("cuda reduce over an empty axis: sum 0, mean NaN, max, min and argmax throw") {
  TG_SKIP_WITHOUT_CUDA();
  const Shape s{2, 0, 3};
  const std::vector<float> none;
  CHECK(on_gpu(ReduceOp::sum, none, s) == std::vector<float>(6, 0.0f));
  for (float v : on_gpu(ReduceOp::mean, none, s)) CHECK(std::isnan(v));
  DeviceBuffer<float> dx(1), dy(6);
  DeviceBuffer<int32_t> di(6);
  CHECK_THROWS_WITH_AS(gpu::reduce(ReduceOp::max, dx.data(), 2, 0, 3, dy.data()),
                       doctest::Contains("max: cannot reduce an empty axis"), tg::Error);
  CHECK_THROWS_WITH_AS(gpu::reduce(ReduceOp::min, dx.data(), 2, 0, 3, dy.data()),
                       doctest::Contains("min: cannot reduce an empty axis"), tg::Error);
  CHECK_THROWS_WITH_AS(gpu::argmax(dx.data(), 2, 0, 3, di.data()),
                       doctest::Contains("argmax: cannot reduce an empty axis"), tg::Error);
  CHECK_THROWS_WITH_AS(gpu::reduce(ReduceOp::sum, dx.data(), -1, 2, 3, dy.data()),
                       doctest::Contains("sum: negative size"), tg::Error);
  // No outputs: nothing is written, nothing thrown.
  const std::vector<float> x(15, 1.0f);
  CHECK(on_gpu(ReduceOp::sum, x, {0, 5, 3}).empty());
  CHECK(argmax_gpu(x, {3, 5, 0}).empty());
}

TEST_CASE_TEMPLATE("cuda argmax_hits matches the CPU: ties, NaN, wide rows, many rows", T, float,
                   double) {
  TG_SKIP_WITHOUT_CUDA();
  struct Case {
    int64_t rows, cols;
  };
  const Case cases[] = {{1, 1}, {7, 3}, {64, 10}, {33, 33}, {9, 70}, {1023, 10}, {257, 2}};
  for (const Case& c : cases) {
    CAPTURE(c.rows);
    CAPTURE(c.cols);
    const size_t n = static_cast<size_t>(c.rows * c.cols);
    std::vector<T> x = tg::test::uniform<T>(n, uint64_t(c.rows * 131 + c.cols));
    // Coarse values make ties common; some rows get a NaN, and some labels are out of range.
    for (size_t i = 0; i < n; ++i) x[i] = std::floor(x[i] * 3);
    for (int64_t r = 0; r < c.rows; r += 5) x[size_t(r * c.cols + (r % c.cols))] = std::nan("");
    std::vector<int32_t> y(static_cast<size_t>(c.rows));
    for (int64_t r = 0; r < c.rows; ++r)
      y[size_t(r)] = int32_t((r * 7) % (c.cols + 1)) - (r % 11 == 3);
    float want = -1;
    cpu::argmax_hits(x.data(), c.rows, c.cols, y.data(), &want);
    DeviceBuffer<T> dx(x);
    DeviceBuffer<int32_t> dy(y);
    DeviceBuffer<float> dout(std::vector<float>{-1});
    gpu::argmax_hits(dx.data(), c.rows, c.cols, dy.data(), dout.data());
    CHECK(dout.download()[0] == want);
  }
  DeviceBuffer<float> one(std::vector<float>{1});
  DeviceBuffer<int32_t> lab(std::vector<int32_t>{0});
  CHECK_THROWS_WITH_AS(gpu::argmax_hits(one.data(), 0, 1, lab.data(), one.data()),
                       doctest::Contains("non-empty"), tg::Error);
}
