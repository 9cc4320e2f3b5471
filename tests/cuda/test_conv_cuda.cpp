// CUDA conv2d (kernels/cuda/conv.cu), every rung, against the CPU reference (conv2d_naive):
// forward with and without bias, backward input, backward weight and bias, float and double,
// on odd shapes (stride, padding, dilation, groups, batch 1, non-square images and kernels,
// 1x1), in several workspace chunks, repeated runs bit-identical, and the size checks.
#include <cuda_runtime.h>  // cudaMalloc(T**, size_t), used by DeviceBuffer
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "base/error.h"
#include "cuda/cuda_test_util.h"
#include "kernels/conv.h"

using tg::kernels::Conv2dShape;
using tg::test::close_to;
using tg::test::DeviceBuffer;
namespace cpu = tg::kernels::cpu;
namespace gpu = tg::kernels::cuda;

namespace {

struct Named {
  const char* name;
  Conv2dShape s;
};

Conv2dShape make(int64_t n, int64_t c, int64_t h, int64_t w, int64_t o, int64_t kh, int64_t kw,
                 int64_t sh = 1, int64_t sw = 1, int64_t ph = 0, int64_t pw = 0, int64_t dh = 1,
                 int64_t dw = 1, int64_t groups = 1) {
  Conv2dShape s;
  s.n = n, s.c = c, s.h = h, s.w = w, s.o = o, s.kh = kh, s.kw = kw;
  s.sh = sh, s.sw = sw, s.ph = ph, s.pw = pw, s.dh = dh, s.dw = dw, s.groups = groups;
  return s;
}

const Named kShapes[] = {
    {"batch 1, 3x3, 1 channel", make(1, 1, 5, 5, 1, 3, 3)},
    {"2x3x7x9 -> 4, 3x3", make(2, 3, 7, 9, 4, 3, 3)},
    {"stride 2, padding 1", make(2, 3, 8, 7, 5, 3, 3, 2, 2, 1, 1)},
    {"non-square kernel 2x4, stride (1, 3), padding (2, 0)",
     make(3, 2, 6, 11, 3, 2, 4, 1, 3, 2, 0)},
    {"dilation (2, 3), padding 2", make(2, 2, 9, 10, 3, 3, 3, 1, 1, 2, 2, 2, 3)},
    {"groups 2", make(2, 4, 6, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2)},
    {"depthwise, groups 3, stride 2", make(2, 3, 7, 7, 3, 3, 3, 2, 2, 1, 1, 1, 1, 3)},
    {"1x1", make(3, 5, 4, 6, 7, 1, 1)},
    {"kernel as large as the padded input", make(2, 2, 3, 4, 2, 5, 6, 1, 1, 1, 1)},
    {"stride larger than the kernel", make(2, 2, 9, 9, 3, 2, 2, 4, 3)},
    {"the CNN's first layer, batch 4", make(4, 1, 28, 28, 8, 3, 3, 1, 1, 1, 1)},
};

template <typename T>
constexpr double kRtol = sizeof(T) == 4 ? 2e-5 : 1e-12;
template <typename T>
constexpr double kAtol = sizeof(T) == 4 ? 2e-5 : 1e-12;

int64_t x_size(const Conv2dShape& s) {
  return s.n * s.c * s.h * s.w;
}
int64_t w_size(const Conv2dShape& s) {
  return s.o * s.cg() * s.kh * s.kw;
}
int64_t y_size(const Conv2dShape& s) {
  return s.n * s.o * s.out_h() * s.out_w();
}

template <typename T>
struct Rung {
  const char* name;
  void (*forward)(const Conv2dShape&, const T*, const T*, const T*, T*);
  void (*backward_input)(const Conv2dShape&, const T*, const T*, T*);
  void (*backward_weight)(const Conv2dShape&, const T*, const T*, T*);
};
template <typename T>
std::vector<Rung<T>> rungs() {
  return {
      {"naive", gpu::conv2d_naive<T>, gpu::conv2d_backward_input_naive<T>,
       gpu::conv2d_backward_weight_naive<T>},
      {"im2col", gpu::conv2d_im2col<T>, gpu::conv2d_backward_input_im2col<T>,
       gpu::conv2d_backward_weight_im2col<T>},
      {"default", gpu::conv2d<T>, gpu::conv2d_backward_input<T>, gpu::conv2d_backward_weight<T>}};
}

// Every rung on shape s against the CPU reference, forward (with and without bias), backward
// input and weight.
template <typename T>
void check_rungs(const Conv2dShape& s, uint32_t seed) {
  const auto x = tg::test::uniform<T>(size_t(x_size(s)), seed);
  const auto w = tg::test::uniform<T>(size_t(w_size(s)), seed + 1);
  const auto b = tg::test::uniform<T>(size_t(s.o), seed + 2);
  const auto gy = tg::test::uniform<T>(size_t(y_size(s)), seed + 3);
  std::vector<T> y(size_t(y_size(s))), yb(y.size()), gx(x.size()), gw(w.size());
  cpu::conv2d_naive(s, x.data(), w.data(), static_cast<const T*>(nullptr), y.data());
  cpu::conv2d_naive(s, x.data(), w.data(), b.data(), yb.data());
  cpu::conv2d_backward_input_naive(s, gy.data(), w.data(), gx.data());
  cpu::conv2d_backward_weight_naive(s, x.data(), gy.data(), gw.data());

  // Float rounding grows with the longest sum (backward weight: N*OH*OW terms, summed one by
  // one in rung 0), so the bounds widen with its square root beyond about 1000 terms.
  const double longest =
      double(std::max({s.kdim(), s.n * s.out_h() * s.out_w(), s.og() * s.kh * s.kw}));
  const double scale = std::max(1.0, std::sqrt(longest) / 32), rtol = kRtol<T> * scale,
               atol = kAtol<T> * scale;
  DeviceBuffer<T> dx(x), dw(w), db(b), dgy(gy);
  for (const Rung<T>& r : rungs<T>()) {
    CAPTURE(r.name);
    // Outputs prefilled with garbage: every element must be written.
    DeviceBuffer<T> dy(std::vector<T>(y.size(), T(-777))), dyb(y.size()),
        dgx(std::vector<T>(x.size(), T(-777))), dgw(std::vector<T>(w.size(), T(-777)));
    r.forward(s, dx.data(), dw.data(), nullptr, dy.data());
    r.forward(s, dx.data(), dw.data(), db.data(), dyb.data());
    r.backward_input(s, dgy.data(), dw.data(), dgx.data());
    r.backward_weight(s, dx.data(), dgy.data(), dgw.data());
    CHECK(close_to(dy.download(), y, rtol, atol));
    CHECK(close_to(dyb.download(), yb, rtol, atol));
    CHECK(close_to(dgx.download(), gx, rtol, atol));
    CHECK(close_to(dgw.download(), gw, rtol, atol));
  }
}

}  // namespace

TEST_CASE_TEMPLATE("cuda conv2d: every rung matches the CPU reference on odd shapes", T, float,
                   double) {
  TG_SKIP_WITHOUT_CUDA();
  uint32_t seed = 11;
  for (const Named& c : kShapes) {
    CAPTURE(c.name);
    if (tg::test::too_big_for_emulator(y_size(c.s) * c.s.kdim())) continue;
    check_rungs<T>(c.s, seed);
    seed += 10;
  }
}

TEST_CASE("cuda conv2d: a larger sweep (GPU only)") {
  TG_SKIP_WITHOUT_CUDA();
  const Conv2dShape big[] = {make(16, 16, 32, 32, 32, 3, 3, 1, 1, 1, 1),
                             make(8, 32, 17, 19, 64, 5, 3, 2, 1, 2, 1, 1, 2, 4)};
  for (const Conv2dShape& s : big) {
    if (tg::test::too_big_for_emulator(y_size(s) * s.kdim())) continue;
    check_rungs<float>(s, 500);
  }
}

TEST_CASE_TEMPLATE("cuda conv2d_backward_bias matches the CPU", T, float, double) {
  TG_SKIP_WITHOUT_CUDA();
  // (N, O, plane): one element, fewer elements than threads, more, many channels.
  const int64_t sizes[][3] = {{1, 1, 1}, {2, 3, 5}, {3, 4, 300}, {1, 70, 9}, {5, 2, 1000}};
  uint32_t seed = 3;
  for (const auto& z : sizes) {
    Conv2dShape s = make(z[0], z[1], 1, z[2], z[1], 1, 1);
    s.groups = z[1];
    CAPTURE(z[0]);
    CAPTURE(z[1]);
    CAPTURE(z[2]);
    const auto gy = tg::test::uniform<T>(size_t(z[0] * z[1] * z[2]), seed++);
    std::vector<T> want(static_cast<size_t>(z[1]));
    cpu::conv2d_backward_bias(s, gy.data(), want.data());
    DeviceBuffer<T> dgy(gy), dgb(std::vector<T>(want.size(), T(-777)));
    gpu::conv2d_backward_bias(s, dgy.data(), dgb.data());
    CHECK(close_to(dgb.download(), want, kRtol<T>, kAtol<T>));
  }
}

TEST_CASE("cuda conv2d im2col in several workspace chunks, and repeated runs bit-identical") {
  TG_SKIP_WITHOUT_CUDA();
  const Conv2dShape s = make(5, 4, 6, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2);
  const auto x = tg::test::uniform<float>(size_t(x_size(s)), 1);
  const auto w = tg::test::uniform<float>(size_t(w_size(s)), 2);
  const auto b = tg::test::uniform<float>(size_t(s.o), 3);
  const auto gy = tg::test::uniform<float>(size_t(y_size(s)), 4);
  std::vector<float> y(size_t(y_size(s))), gx(x.size()), gw(w.size());
  cpu::conv2d_naive(s, x.data(), w.data(), b.data(), y.data());
  cpu::conv2d_backward_input_naive(s, gy.data(), w.data(), gx.data());
  cpu::conv2d_backward_weight_naive(s, x.data(), gy.data(), gw.data());
  DeviceBuffer<float> dx(x), dw(w), db(b), dgy(gy), dy(y.size()), dgx(x.size()), dgw(w.size());
  std::vector<float> first_y, first_gx, first_gw;
  // One image's column matrix and output are (36 + 6) * 30 elements: limits of 1, 2 and 3
  // images per chunk (the last chunk shorter), then the default (one chunk).
  const int64_t per_image = (s.c * s.kh * s.kw + s.o) * s.out_h() * s.out_w();
  for (int64_t images : {1, 2, 3, 0}) {
    CAPTURE(images);
    gpu::set_conv2d_workspace_elems(images * per_image);
    gpu::conv2d(s, dx.data(), dw.data(), db.data(), dy.data());
    gpu::conv2d_backward_input(s, dgy.data(), dw.data(), dgx.data());
    gpu::conv2d_backward_weight(s, dx.data(), dgy.data(), dgw.data());
    CHECK(close_to(dy.download(), y, 2e-5, 2e-5));
    CHECK(close_to(dgx.download(), gx, 2e-5, 2e-5));
    CHECK(close_to(dgw.download(), gw, 2e-5, 2e-5));
  }
  gpu::set_conv2d_workspace_elems(0);
  for (int rep = 0; rep < 2; ++rep) {
    gpu::conv2d(s, dx.data(), dw.data(), db.data(), dy.data());
    gpu::conv2d_backward_input(s, dgy.data(), dw.data(), dgx.data());
    gpu::conv2d_backward_weight(s, dx.data(), dgy.data(), dgw.data());
    if (rep == 0) {
      first_y = dy.download(), first_gx = dgx.download(), first_gw = dgw.download();
    } else {
      CHECK(close_to(dy.download(), first_y, 0, 0));
      CHECK(close_to(dgx.download(), first_gx, 0, 0));
      CHECK(close_to(dgw.download(), first_gw, 0, 0));
    }
  }
}

TEST_CASE("cuda conv2d: an empty batch gives a zero weight gradient, bad sizes a tg::Error") {
  TG_SKIP_WITHOUT_CUDA();
  const Conv2dShape s = make(0, 2, 5, 5, 3, 3, 3);
  DeviceBuffer<float> dx(1), dgy(1), dgw(std::vector<float>(size_t(w_size(s)), -777.f));
  gpu::conv2d_backward_weight(s, dx.data(), dgy.data(), dgw.data());
  CHECK(dgw.download() == std::vector<float>(size_t(w_size(s)), 0.f));

  Conv2dShape bad = make(1, 3, 5, 5, 4, 3, 3);
  bad.groups = 2;
  try {
    gpu::conv2d<float>(bad, dx.data(), dx.data(), nullptr, dx.data());
    FAIL("no error");
  } catch (const tg::Error& e) {
    const std::string msg = e.what();
    CHECK_MESSAGE(msg.find("cuda::conv2d_im2col") != std::string::npos, msg);
    CHECK_MESSAGE(msg.find("groups=2 must divide in_channels=3") != std::string::npos, msg);
  }
}
