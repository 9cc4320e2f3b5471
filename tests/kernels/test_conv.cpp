// Tests for kernels/conv.h: a case worked out by hand, every rung of the forward and backward
// ladders against the naive reference on many shapes (stride, padding, dilation, groups with
// depthwise, odd sizes, batch 1, 1x1 kernels, batches longer than the weight-gradient chunks),
// rung 2 equal to rung 1 bit for bit where kernels/conv.h says so, bit-identical results with
// 1 and 2 OpenMP threads, and the size checks.
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "base/error.h"
#include "kernels/conv.h"

namespace {

using namespace tg::kernels;
using namespace tg::kernels::cpu;

Conv2dShape make(int64_t n, int64_t c, int64_t h, int64_t w, int64_t o, int64_t kh, int64_t kw,
                 int64_t sh = 1, int64_t sw = 1, int64_t ph = 0, int64_t pw = 0, int64_t dh = 1,
                 int64_t dw = 1, int64_t groups = 1) {
  Conv2dShape s;
  s.n = n, s.c = c, s.h = h, s.w = w, s.o = o, s.kh = kh, s.kw = kw, s.sh = sh, s.sw = sw;
  s.ph = ph, s.pw = pw, s.dh = dh, s.dw = dw, s.groups = groups;
  return s;
}

std::string describe(const Conv2dShape& s) {
  return "x [" + std::to_string(s.n) + "," + std::to_string(s.c) + "," + std::to_string(s.h) + "," +
         std::to_string(s.w) + "] w [" + std::to_string(s.o) + "," + std::to_string(s.cg()) + "," +
         std::to_string(s.kh) + "," + std::to_string(s.kw) + "] stride " + std::to_string(s.sh) +
         "," + std::to_string(s.sw) + " pad " + std::to_string(s.ph) + "," + std::to_string(s.pw) +
         " dil " + std::to_string(s.dh) + "," + std::to_string(s.dw) + " groups " +
         std::to_string(s.groups);
}

const std::vector<Conv2dShape>& shapes() {
  static const std::vector<Conv2dShape> all = {
      make(2, 3, 7, 7, 4, 3, 3, 1, 1, 1, 1),             // 3x3 same padding
      make(1, 1, 5, 6, 1, 1, 1),                         // 1x1, batch 1, one channel
      make(3, 4, 5, 5, 6, 1, 1, 1, 1, 0, 0, 1, 1, 2),    // 1x1 grouped: the direct path
      make(2, 3, 6, 6, 4, 1, 1, 2, 2),                   // 1x1 strided: not direct
      make(2, 3, 4, 4, 2, 1, 1, 1, 1, 1, 1),             // 1x1 padded: not direct
      make(2, 4, 9, 8, 4, 3, 3, 2, 2, 1, 1, 1, 1, 4),    // depthwise, strided
      make(1, 6, 7, 7, 12, 3, 3, 1, 1, 1, 1, 1, 1, 6),   // depthwise multiplier 2, batch 1
      make(2, 6, 11, 10, 9, 3, 2, 2, 3, 2, 1, 2, 1, 3),  // groups 3, dilated, per-axis
      make(1, 2, 4, 4, 3, 4, 4),                         // kernel as large as the input
      make(3, 1, 28, 28, 8, 5, 5, 2, 2, 2, 2),           // the course's first layer
      make(2, 8, 14, 14, 16, 3, 3, 2, 2, 1, 1),          // the course's second layer
      make(9, 3, 7, 5, 2, 3, 3, 3, 1, 0, 2, 1, 2),       // odd sizes, batch 9
      make(1, 3, 1, 1, 2, 1, 1),                         // a 1x1 image
      make(1, 2, 1, 1, 3, 3, 3, 1, 1, 1, 1),             // a 1x1 image, all padding
      make(10, 2, 5, 5, 3, 3, 3, 1, 1, 1, 1),            // batch 10 > the 8 weight chunks
      make(4, 2, 13, 3, 5, 2, 3, 4, 2, 3, 0, 3, 1),      // stride > kernel, tall image
      // rung 2 lowers several images into one matrix when the image is small: chunks of 4
      // images and a last one of 1 (batch 13), and chunks within groups (batch 12, groups 2)
      make(13, 32, 4, 4, 32, 3, 3, 2, 2, 1, 1),         // the course's fourth layer
      make(12, 4, 6, 6, 6, 3, 3, 2, 2, 1, 1, 1, 1, 2),  // grouped, strided, batch 12
      // output rows of 16 pixels and more: the float conv2d takes rung 2 there, not rung 3
      make(3, 2, 17, 18, 5, 3, 3, 1, 1, 1, 1),  // 17x18 same padding
      make(2, 3, 20, 36, 4, 3, 3, 1, 2, 0, 1),  // 18x18 output, strided columns
  };
  return all;
}

template <typename T>
std::vector<T> random_vec(int64_t size, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<T> v(static_cast<size_t>(size));
  for (auto& e : v) e = T(u(gen));
  return v;
}

template <typename T>
struct Buffers {
  std::vector<T> x, w, b, gy;
  int64_t y_size, x_size, w_size;
  explicit Buffers(const Conv2dShape& s, uint32_t seed = 7) {
    x_size = s.n * s.c * s.h * s.w;
    w_size = s.o * s.kdim();
    y_size = s.n * s.o * s.out_h() * s.out_w();
    x = random_vec<T>(x_size, seed);
    w = random_vec<T>(w_size, seed + 1);
    b = random_vec<T>(s.o, seed + 2);
    gy = random_vec<T>(y_size, seed + 3);
  }
};

// Normalised error: max |a - r| / max(1, max |r|).
template <typename T>
double rel_err(const std::vector<T>& a, const std::vector<T>& r) {
  double err = 0, scale = 1;
  for (size_t i = 0; i < a.size(); ++i) {
    err = std::max(err, std::abs(double(a[i]) - double(r[i])));
    scale = std::max(scale, std::abs(double(r[i])));
  }
  return err / scale;
}

template <typename T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

template <typename T>
struct Ladder {
  const char* name;
  Conv2dFn<T> fwd;
  Conv2dBackwardInputFn<T> bwd_input;
  Conv2dBackwardWeightFn<T> bwd_weight;
};
template <typename T>
std::vector<Ladder<T>> rungs() {
  std::vector<Ladder<T>> r = {
      {"im2col", conv2d_im2col<T>, conv2d_backward_input_im2col<T>,
       conv2d_backward_weight_im2col<T>},
      {"chunked", conv2d_chunked<T>, conv2d_backward_input_chunked<T>,
       conv2d_backward_weight_chunked<T>},
      {"conv2d", conv2d<T>, conv2d_backward_input<T>, conv2d_backward_weight<T>}};
  // Rung 3 is float only; it takes any shape (the library uses it for small images only).
  if constexpr (std::is_same_v<T, float>)
    r.push_back({"implicit", conv2d_implicit, conv2d_backward_input_implicit,
                 conv2d_backward_weight_implicit});
  return r;
}

template <typename T>
void check_ladder(double tol) {
  for (const Conv2dShape& s : shapes()) {
    Buffers<T> in(s);
    std::vector<T> y_ref(size_t(in.y_size)), gx_ref(size_t(in.x_size)), gw_ref(size_t(in.w_size));
    conv2d_naive<T>(s, in.x.data(), in.w.data(), in.b.data(), y_ref.data());
    conv2d_backward_input_naive<T>(s, in.gy.data(), in.w.data(), gx_ref.data());
    conv2d_backward_weight_naive<T>(s, in.x.data(), in.gy.data(), gw_ref.data());
    for (const auto& r : rungs<T>()) {
      INFO(r.name, ": ", describe(s));
      // NaN-filled outputs: a rung that reads what it should only write poisons its result.
      std::vector<T> y(y_ref.size(), T(NAN)), gx(gx_ref.size(), T(NAN)), gw(gw_ref.size(), T(NAN));
      r.fwd(s, in.x.data(), in.w.data(), in.b.data(), y.data());
      r.bwd_input(s, in.gy.data(), in.w.data(), gx.data());
      r.bwd_weight(s, in.x.data(), in.gy.data(), gw.data());
      CHECK(rel_err(y, y_ref) < tol);
      CHECK(rel_err(gx, gx_ref) < tol);
      CHECK(rel_err(gw, gw_ref) < tol);
      // Without bias.
      std::vector<T> y0(y_ref.size(), T(NAN)), y0_ref(y_ref.size());
      r.fwd(s, in.x.data(), in.w.data(), nullptr, y0.data());
      conv2d_naive<T>(s, in.x.data(), in.w.data(), nullptr, y0_ref.data());
      CHECK(rel_err(y0, y0_ref) < tol);
    }
  }
}

}  // namespace

TEST_CASE("conv2d by hand: 3x3 input, 2x2 kernel, with and without stride and padding") {
  const std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w = {1, 2, 3, 4};
  const float b = 0.5f;
  // Stride 1, no padding: y[i, j] = x[i, j] + 2 x[i, j+1] + 3 x[i+1, j] + 4 x[i+1, j+1].
  const Conv2dShape plain = make(1, 1, 3, 3, 1, 2, 2);
  // Stride 2, padding 1: the windows start at rows/cols -1 and 1 (zeros outside).
  //   y00 = 4*x00 = 4            y01 = 3*x01 + 4*x02 = 18
  //   y10 = 2*x10 + 4*x20 = 36   y11 = x11 + 2 x12 + 3 x21 + 4 x22 = 77
  const Conv2dShape strided = make(1, 1, 3, 3, 1, 2, 2, 2, 2, 1, 1);
  for (auto fn : {conv2d_naive<float>, conv2d_im2col<float>, conv2d<float>}) {
    std::vector<float> y(4);
    fn(plain, x.data(), w.data(), nullptr, y.data());
    CHECK(y == std::vector<float>{37, 47, 67, 77});
    fn(plain, x.data(), w.data(), &b, y.data());
    CHECK(y == std::vector<float>{37.5f, 47.5f, 67.5f, 77.5f});
    fn(strided, x.data(), w.data(), nullptr, y.data());
    CHECK(y == std::vector<float>{4, 18, 36, 77});
  }
  // Backward of the strided case with gy = 1: gx sums the weights each input element meets,
  // gw sums the input elements each tap meets, gb counts the outputs.
  const std::vector<float> ones(4, 1.0f);
  std::vector<float> gx(9), gw(4), gb(1);
  conv2d_backward_input<float>(strided, ones.data(), w.data(), gx.data());
  CHECK(gx == std::vector<float>{4, 3, 4, 2, 1, 2, 4, 3, 4});
  conv2d_backward_weight<float>(strided, x.data(), ones.data(), gw.data());
  CHECK(gw == std::vector<float>{5, 4 + 6, 2 + 8, 1 + 3 + 7 + 9});
  conv2d_backward_bias<float>(strided, ones.data(), gb.data());
  CHECK(gb[0] == 4);
}

TEST_CASE("conv2d ladder: every rung, forward and backward, equals the naive reference (float)") {
  check_ladder<float>(2e-5);
}

TEST_CASE("conv2d ladder: every rung, forward and backward, equals the naive reference (double)") {
  check_ladder<double>(1e-12);
}

TEST_CASE_TEMPLATE(
    "conv2d_keep: the kept lowering gives conv2d's output and weight gradient bit for bit", T,
    float, double) {
  // T: rung 3 (implicit, which keeps nothing) takes the small images; double: rung 2 always.
  int64_t kept = 0;
  for (const Conv2dShape& s : shapes()) {
    INFO(describe(s));
    Buffers<T> in(s);
    std::vector<T> y(size_t(in.y_size)), y_keep(y.size(), NAN), gw(size_t(in.w_size)),
        gw_kept(gw.size(), NAN);
    std::vector<T> lowered(size_t(conv2d_lowered_size<T>(s)), NAN);
    kept += lowered.empty() ? 0 : 1;
    conv2d<T>(s, in.x.data(), in.w.data(), in.b.data(), y.data());
    conv2d_keep<T>(s, in.x.data(), in.w.data(), in.b.data(), y_keep.data(),
                   lowered.empty() ? nullptr : lowered.data());
    conv2d_backward_weight<T>(s, in.x.data(), in.gy.data(), gw.data());
    // x is not read again: a poisoned copy shows it.
    std::vector<T> poisoned(in.x.size(), NAN);
    const bool lowers = !lowered.empty();
    conv2d_backward_weight_kept<T>(s, lowers ? poisoned.data() : in.x.data(), in.gy.data(),
                                   gw_kept.data(), lowers ? lowered.data() : nullptr);
    CHECK(same_bits(y_keep, y));
    CHECK(same_bits(gw_kept, gw));
  }
  CHECK(kept >= 2);  // the kept path did run
  std::vector<T> v(1000);
  std::string what = "<no error>";
  try {
    conv2d_keep<T>(shapes().back(), v.data(), v.data(), nullptr, v.data(), nullptr);
  } catch (const tg::Error& e) {
    what = e.what();
  }
  CHECK(what.find("no buffer for the lowering") != std::string::npos);
}

TEST_CASE("conv2d: rung 2 equals rung 1 bit for bit in forward and backward input") {
  for (const Conv2dShape& s : shapes()) {
    INFO(describe(s));
    Buffers<float> in(s);
    std::vector<float> y1(size_t(in.y_size)), y2(y1.size()), g1(size_t(in.x_size)), g2(g1.size());
    conv2d_im2col<float>(s, in.x.data(), in.w.data(), in.b.data(), y1.data());
    conv2d_chunked<float>(s, in.x.data(), in.w.data(), in.b.data(), y2.data());
    CHECK(same_bits(y1, y2));
    conv2d_backward_input_im2col<float>(s, in.gy.data(), in.w.data(), g1.data());
    conv2d_backward_input_chunked<float>(s, in.gy.data(), in.w.data(), g2.data());
    CHECK(same_bits(g1, g2));
  }
}

TEST_CASE("conv2d backward bias: the sum of gy over the batch and the plane") {
  const Conv2dShape s = make(3, 2, 5, 4, 3, 2, 2, 1, 1, 0, 0);
  Buffers<double> in(s);
  std::vector<double> gb(3);
  conv2d_backward_bias<double>(s, in.gy.data(), gb.data());
  const int64_t plane = s.out_h() * s.out_w();
  for (int64_t o = 0; o < 3; ++o) {
    double ref = 0;
    for (int64_t n = 0; n < 3; ++n)
      for (int64_t e = 0; e < plane; ++e) ref += in.gy[size_t((n * 3 + o) * plane + e)];
    CHECK(gb[size_t(o)] == doctest::Approx(ref).epsilon(1e-12));
  }
}

TEST_CASE("conv2d: results are bit-identical with 1 and 2 OpenMP threads") {
  const int saved = omp_get_max_threads();
  for (const Conv2dShape& s : shapes()) {
    INFO(describe(s));
    Buffers<float> in(s);
    std::vector<float> out[2][5];
    for (int t = 0; t < 2; ++t) {
      omp_set_num_threads(t + 1);
      auto& [y, gx, gw, gb, gx3] = out[t];
      y.resize(size_t(in.y_size));
      gx.resize(size_t(in.x_size));
      gw.resize(size_t(in.w_size));
      gb.resize(size_t(s.o));
      gx3.resize(size_t(in.x_size));
      conv2d<float>(s, in.x.data(), in.w.data(), in.b.data(), y.data());
      conv2d_backward_input<float>(s, in.gy.data(), in.w.data(), gx.data());
      conv2d_backward_weight<float>(s, in.x.data(), in.gy.data(), gw.data());
      conv2d_backward_bias<float>(s, in.gy.data(), gb.data());
      conv2d_backward_input_implicit(s, in.gy.data(), in.w.data(), gx3.data());  // rung 3
    }
    for (int k = 0; k < 5; ++k) CHECK(same_bits(out[0][k], out[1][k]));
  }
  omp_set_num_threads(saved);
}

TEST_CASE("conv2d kernels refuse bad sizes, naming them") {
  std::vector<float> buf(1024, 0.0f);
  auto run = [&](const Conv2dShape& s) {
    try {
      conv2d<float>(s, buf.data(), buf.data(), nullptr, buf.data());
    } catch (const tg::Error& e) {
      return std::string(e.what());
    }
    return std::string("<no error>");
  };
  CHECK(run(make(1, 3, 5, 5, 4, 3, 3, 1, 1, 0, 0, 1, 1, 2)).find("groups=2 must divide") !=
        std::string::npos);
  CHECK(run(make(1, 1, 2, 2, 1, 3, 3)).find("larger than the padded input (2, 2)") !=
        std::string::npos);
  CHECK(run(make(1, 1, 5, 5, 1, 3, 3, 0, 1)).find("stride (0, 1)") != std::string::npos);
  CHECK(run(make(1, 1, 5, 5, 1, 3, 3, 1, 1, -1, 0)).find("padding (-1, 0)") != std::string::npos);
}
