// Pooling kernels: max (indices, ties, NaN, dilation, padding, ceil mode), average (with and
// without the padding counted), adaptive average; forward and backward by hand; thread-count
// invariance.
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "kernels/pool.h"

using namespace tg::kernels;

namespace {

Pool2dShape shape(int64_t h, int64_t w, int64_t k, int64_t s, int64_t p, bool ceil = false,
                  int64_t planes = 1) {
  Pool2dShape sh;
  sh.planes = planes;
  sh.h = h;
  sh.w = w;
  sh.kh = sh.kw = k;
  sh.sh = sh.sw = s;
  sh.ph = sh.pw = p;
  sh.oh = pool2d_out_size(h, k, s, p, 1, ceil);
  sh.ow = pool2d_out_size(w, k, s, p, 1, ceil);
  return sh;
}

std::vector<double> iota(int64_t n, double start) {
  std::vector<double> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), start);
  return v;
}

}  // namespace

TEST_CASE("pool2d_out_size follows PyTorch's formula") {
  CHECK(pool2d_out_size(4, 2, 2, 0, 1, false) == 2);
  CHECK(pool2d_out_size(5, 2, 2, 0, 1, false) == 2);
  CHECK(pool2d_out_size(5, 2, 2, 0, 1, true) == 3);
  CHECK(pool2d_out_size(3, 2, 2, 1, 1, false) == 2);
  CHECK(pool2d_out_size(5, 2, 1, 0, 2, false) == 3);  // dilated span 3
  // ceil mode: the last window must start inside the input or the left padding.
  CHECK(pool2d_out_size(4, 2, 2, 1, 1, true) == 3);
  CHECK(pool2d_out_size(2, 3, 1, 0, 1, false) == 0);  // too small: the caller refuses it
}

TEST_CASE("max_pool2d: 2x2 windows, values and flat indices") {
  const auto x = iota(16, 0);  // 4x4: 0..15
  const Pool2dShape s = shape(4, 4, 2, 2, 0);
  std::vector<double> y(4);
  std::vector<int32_t> idx(4);
  cpu::max_pool2d(x.data(), s, y.data(), idx.data());
  CHECK(y == std::vector<double>{5, 7, 13, 15});
  CHECK(idx == std::vector<int32_t>{5, 7, 13, 15});
  std::vector<double> gx(16, -1), gy{1, 2, 3, 4};
  cpu::max_pool2d_backward(gy.data(), idx.data(), s, gx.data());
  std::vector<double> want(16, 0);
  want[5] = 1, want[7] = 2, want[13] = 3, want[15] = 4;
  CHECK(gx == want);
}

TEST_CASE("max_pool2d: padding is never the maximum, ceil mode adds a clipped window") {
  const std::vector<float> x{-1, -3, -2, -7, -5, -6, -4, -8, -9};  // 3x3, all negative
  const Pool2dShape s = shape(3, 3, 2, 2, 1);
  std::vector<float> y(4);
  std::vector<int32_t> idx(4);
  cpu::max_pool2d(x.data(), s, y.data(), idx.data());
  CHECK(y == std::vector<float>{-1, -2, -4, -5});
  CHECK(idx == std::vector<int32_t>{0, 2, 6, 4});

  const auto x5 = iota(25, 0);  // 5x5, ceil mode: 3x3 output, the last row and column alone
  const Pool2dShape c = shape(5, 5, 2, 2, 0, true);
  REQUIRE(c.oh == 3);
  std::vector<double> y5(9);
  std::vector<int32_t> i5(9);
  cpu::max_pool2d(x5.data(), c, y5.data(), i5.data());
  CHECK(y5 == std::vector<double>{6, 8, 9, 16, 18, 19, 21, 23, 24});
}

TEST_CASE("max_pool2d: ties keep the first index, overlapping windows add their gradients") {
  const std::vector<double> ones{1, 1, 1, 1};
  std::vector<double> y(1);
  std::vector<int32_t> idx(1);
  cpu::max_pool2d(ones.data(), shape(2, 2, 2, 2, 0), y.data(), idx.data());
  CHECK(idx[0] == 0);

  Pool2dShape s = shape(1, 3, 1, 1, 0);  // 1x3 plane, windows 1x2, stride 1
  s.kw = 2;
  s.ow = 2;
  const std::vector<double> x{1, 3, 2};
  std::vector<double> y2(2), gx(3);
  std::vector<int32_t> i2(2);
  cpu::max_pool2d(x.data(), s, y2.data(), i2.data());
  CHECK(y2 == std::vector<double>{3, 3});
  CHECK(i2 == std::vector<int32_t>{1, 1});
  const std::vector<double> gy{1, 2};
  cpu::max_pool2d_backward(gy.data(), i2.data(), s, gx.data());
  CHECK(gx == std::vector<double>{0, 3, 0});
}

TEST_CASE("max_pool2d: dilation and NaN") {
  Pool2dShape s = shape(1, 5, 1, 1, 0);
  s.kw = 2;
  s.dw = 2;
  s.ow = pool2d_out_size(5, 2, 1, 0, 2, false);
  REQUIRE(s.ow == 3);
  const std::vector<double> x{5, 1, 4, 2, 3};  // windows {0,2} {1,3} {2,4}
  std::vector<double> y(3);
  std::vector<int32_t> idx(3);
  cpu::max_pool2d(x.data(), s, y.data(), idx.data());
  CHECK(y == std::vector<double>{5, 2, 4});
  CHECK(idx == std::vector<int32_t>{0, 3, 2});

  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<double> xn{1, nan, 3, nan};
  std::vector<double> yn(1);
  std::vector<int32_t> in(1);
  cpu::max_pool2d(xn.data(), shape(2, 2, 2, 2, 0), yn.data(), in.data());
  CHECK(std::isnan(yn[0]));
  CHECK(in[0] == 1);
}

TEST_CASE("avg_pool2d: count_include_pad decides the divisor") {
  const auto x = iota(9, 1);  // 3x3: 1..9
  const Pool2dShape s = shape(3, 3, 2, 2, 1);
  std::vector<double> y(4);
  cpu::avg_pool2d(x.data(), s, true, y.data());
  CHECK(y == std::vector<double>{0.25, 1.25, 2.75, 7});
  cpu::avg_pool2d(x.data(), s, false, y.data());
  CHECK(y == std::vector<double>{1, 2.5, 5.5, 7});

  std::vector<double> gx(9, -1);
  const std::vector<double> gy{4, 4, 4, 4};
  cpu::avg_pool2d_backward(gy.data(), s, true, gx.data());
  CHECK(gx == std::vector<double>{1, 1, 1, 1, 1, 1, 1, 1, 1});
  cpu::avg_pool2d_backward(gy.data(), s, false, gx.data());
  CHECK(gx == std::vector<double>{4, 2, 2, 2, 1, 1, 2, 1, 1});
}

TEST_CASE("avg_pool2d: a ceil-mode window past the input is divided by its size in the input") {
  const auto x = iota(25, 0);
  const Pool2dShape s = shape(5, 5, 2, 2, 0, true);
  std::vector<double> y(9);
  cpu::avg_pool2d(x.data(), s, true, y.data());
  CHECK(y[2] == 6.5);  // rows 0-1 of column 4: (4 + 9) / 2
  CHECK(y[8] == 24);   // the corner alone
  CHECK(y[0] == 3);    // (0 + 1 + 5 + 6) / 4
}

TEST_CASE("adaptive_avg_pool2d: PyTorch's floor/ceil windows, forward and backward") {
  Pool2dShape s;
  s.planes = 1;
  s.h = 1, s.w = 5, s.oh = 1, s.ow = 3;  // windows {0,1} {1,2,3} {3,4}
  const std::vector<double> x{1, 2, 3, 4, 5};
  std::vector<double> y(3);
  cpu::adaptive_avg_pool2d(x.data(), s, y.data());
  CHECK(y == std::vector<double>{1.5, 3, 4.5});
  const std::vector<double> gy{1, 1, 1};
  std::vector<double> gx(5);
  cpu::adaptive_avg_pool2d_backward(gy.data(), s, gx.data());
  CHECK(gx[0] == 0.5);
  CHECK(gx[1] == doctest::Approx(0.5 + 1.0 / 3));
  CHECK(gx[2] == doctest::Approx(1.0 / 3));
  CHECK(gx[3] == doctest::Approx(0.5 + 1.0 / 3));
  CHECK(gx[4] == 0.5);

  Pool2dShape g;  // global average: output 1x1
  g.planes = 2, g.h = 2, g.w = 2, g.oh = 1, g.ow = 1;
  const std::vector<float> x2{1, 2, 3, 4, 10, 20, 30, 40};
  std::vector<float> y2(2);
  cpu::adaptive_avg_pool2d(x2.data(), g, y2.data());
  CHECK(y2 == std::vector<float>{2.5f, 25});
}

TEST_CASE("pooling is bit-identical for 1, 2 and 3 threads") {
  Pool2dShape s = shape(64, 64, 3, 2, 1, true, 72);  // past kParallelMin: threads are used
  std::vector<float> x(static_cast<size_t>(s.planes * s.h * s.w));
  uint32_t seed = 7;
  for (auto& v : x) {
    seed = seed * 1664525u + 1013904223u;
    v = float(seed >> 8) / float(1 << 24);
  }
  const size_t no = static_cast<size_t>(s.planes * s.oh * s.ow);
  auto run = [&](int threads) {
    omp_set_num_threads(threads);
    std::vector<float> y(no), a(no), gx(x.size()), ga(x.size());
    std::vector<int32_t> idx(no);
    cpu::max_pool2d(x.data(), s, y.data(), idx.data());
    cpu::max_pool2d_backward(y.data(), idx.data(), s, gx.data());
    cpu::avg_pool2d(x.data(), s, false, a.data());
    cpu::avg_pool2d_backward(a.data(), s, false, ga.data());
    y.insert(y.end(), a.begin(), a.end());
    y.insert(y.end(), gx.begin(), gx.end());
    y.insert(y.end(), ga.begin(), ga.end());
    return y;
  };
  const int saved = omp_get_max_threads();
  const auto one = run(1);
  CHECK(run(2) == one);
  CHECK(run(3) == one);
  omp_set_num_threads(saved);
}
