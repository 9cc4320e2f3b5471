// CUDA pooling (kernels/cuda/pool.cu) against the CPU kernels, bit for bit: max with its
// indices (ties, NaN), average with and without count_include_pad, both in floor and ceil mode,
// with stride, padding, dilation (max) and non-square windows, and adaptive average to sizes
// that do and do not divide the input; every backward (the GPU's gather against the CPU's
// scatter, which add the same terms in the same order).
#include <cuda_runtime.h>  // cudaMalloc(T**, size_t), used by DeviceBuffer
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "cuda/cuda_test_util.h"
#include "kernels/pool.h"

using tg::kernels::Pool2dShape;
using tg::test::close_to;
using tg::test::DeviceBuffer;
namespace cpu = tg::kernels::cpu;
namespace gpu = tg::kernels::cuda;

namespace {

struct Window {
  const char* name;
  int64_t planes, h, w, kh, kw, sh, sw, ph, pw, dh, dw;
};

const Window kWindows[] = {
    {"2x2 stride 2, one plane", 1, 4, 4, 2, 2, 2, 2, 0, 0, 1, 1},
    {"3x3 stride 2 padding 1, odd image", 6, 7, 9, 3, 3, 2, 2, 1, 1, 1, 1},
    {"overlapping 3x3 stride 1", 3, 6, 5, 3, 3, 1, 1, 0, 0, 1, 1},
    {"non-square 2x3 stride (1, 2) padding (1, 1)", 4, 5, 8, 2, 3, 1, 2, 1, 1, 1, 1},
    {"stride 3 over a 2x2 kernel (gaps)", 2, 8, 7, 2, 2, 3, 3, 0, 0, 1, 1},
    {"dilation (2, 3) (max only)", 3, 9, 11, 3, 2, 1, 2, 1, 1, 2, 3},
    {"the CNN's pool, batch 2 x 8 channels", 16, 28, 28, 2, 2, 2, 2, 0, 0, 1, 1},
};

Pool2dShape shape_of(const Window& win, bool ceil_mode, bool dilated) {
  Pool2dShape s;
  s.planes = win.planes, s.h = win.h, s.w = win.w, s.kh = win.kh, s.kw = win.kw;
  s.sh = win.sh, s.sw = win.sw, s.ph = win.ph, s.pw = win.pw;
  s.dh = dilated ? win.dh : 1, s.dw = dilated ? win.dw : 1;
  s.oh = tg::kernels::pool2d_out_size(s.h, s.kh, s.sh, s.ph, s.dh, ceil_mode);
  s.ow = tg::kernels::pool2d_out_size(s.w, s.kw, s.sw, s.pw, s.dw, ceil_mode);
  return s;
}

size_t in_size(const Pool2dShape& s) {
  return size_t(s.planes * s.h * s.w);
}
size_t out_size(const Pool2dShape& s) {
  return size_t(s.planes * s.oh * s.ow);
}

template <typename T>
bool same(const std::vector<T>& a, const std::vector<T>& b) {
  return close_to(a, b, 0, 0);
}

}  // namespace

TEST_CASE_TEMPLATE("cuda max_pool2d and its backward match the CPU bit for bit", T, float, double) {
  TG_SKIP_WITHOUT_CUDA();
  uint32_t seed = 5;
  for (const Window& win : kWindows)
    for (bool ceil_mode : {false, true}) {
      const Pool2dShape s = shape_of(win, ceil_mode, true);
      CAPTURE(win.name);
      CAPTURE(ceil_mode);
      if (tg::test::too_big_for_emulator(int64_t(in_size(s)))) continue;
      // Small integers: many ties, which must keep the first index; a NaN in some windows.
      auto x = tg::test::uniform<T>(in_size(s), seed++, -3, 3);
      for (size_t i = 0; i < x.size(); ++i) x[i] = std::floor(x[i]);
      for (size_t i = 5; i < x.size(); i += 37) x[i] = std::numeric_limits<T>::quiet_NaN();
      const auto gy = tg::test::uniform<T>(out_size(s), seed++);
      std::vector<T> y(out_size(s)), gx(in_size(s));
      std::vector<int32_t> idx(out_size(s));
      cpu::max_pool2d(x.data(), s, y.data(), idx.data());
      cpu::max_pool2d_backward(gy.data(), idx.data(), s, gx.data());
      DeviceBuffer<T> dx(x), dy(y.size()), dgy(gy), dgx(std::vector<T>(gx.size(), T(-777)));
      DeviceBuffer<int32_t> didx(std::vector<int32_t>(idx.size(), -777));
      gpu::max_pool2d(dx.data(), s, dy.data(), didx.data());
      CHECK(same(dy.download(), y));
      CHECK(didx.download() == idx);
      gpu::max_pool2d_backward(dgy.data(), didx.data(), s, dgx.data());
      CHECK(same(dgx.download(), gx));
    }
}

TEST_CASE_TEMPLATE("cuda avg_pool2d and its backward match the CPU bit for bit", T, float, double) {
  TG_SKIP_WITHOUT_CUDA();
  uint32_t seed = 50;
  for (const Window& win : kWindows)
    for (bool ceil_mode : {false, true})
      for (bool include_pad : {false, true}) {
        const Pool2dShape s = shape_of(win, ceil_mode, false);
        CAPTURE(win.name);
        CAPTURE(ceil_mode);
        CAPTURE(include_pad);
        if (tg::test::too_big_for_emulator(int64_t(in_size(s)))) continue;
        const auto x = tg::test::uniform<T>(in_size(s), seed++);
        const auto gy = tg::test::uniform<T>(out_size(s), seed++);
        std::vector<T> y(out_size(s)), gx(in_size(s));
        cpu::avg_pool2d(x.data(), s, include_pad, y.data());
        cpu::avg_pool2d_backward(gy.data(), s, include_pad, gx.data());
        DeviceBuffer<T> dx(x), dy(y.size()), dgy(gy), dgx(std::vector<T>(gx.size(), T(-777)));
        gpu::avg_pool2d(dx.data(), s, include_pad, dy.data());
        gpu::avg_pool2d_backward(dgy.data(), s, include_pad, dgx.data());
        CHECK(same(dy.download(), y));
        CHECK(same(dgx.download(), gx));
      }
}

TEST_CASE_TEMPLATE("cuda adaptive_avg_pool2d and its backward match the CPU bit for bit", T, float,
                   double) {
  TG_SKIP_WITHOUT_CUDA();
  // (planes, h, w, oh, ow): global pooling, dividing sizes, overlapping windows (7 -> 3, 5 -> 4),
  // an output larger than the input (3 -> 5), non-square.
  const int64_t cases[][5] = {{3, 7, 7, 1, 1}, {2, 8, 6, 4, 3},  {4, 7, 5, 3, 4},
                              {2, 3, 3, 5, 5}, {5, 10, 1, 3, 1}, {64, 14, 14, 1, 1}};
  uint32_t seed = 90;
  for (const auto& c : cases) {
    Pool2dShape s;
    s.planes = c[0], s.h = c[1], s.w = c[2], s.oh = c[3], s.ow = c[4];
    CAPTURE(c[1]);
    CAPTURE(c[2]);
    CAPTURE(c[3]);
    CAPTURE(c[4]);
    const auto x = tg::test::uniform<T>(in_size(s), seed++);
    const auto gy = tg::test::uniform<T>(out_size(s), seed++);
    std::vector<T> y(out_size(s)), gx(in_size(s));
    cpu::adaptive_avg_pool2d(x.data(), s, y.data());
    cpu::adaptive_avg_pool2d_backward(gy.data(), s, gx.data());
    DeviceBuffer<T> dx(x), dy(y.size()), dgy(gy), dgx(std::vector<T>(gx.size(), T(-777)));
    gpu::adaptive_avg_pool2d(dx.data(), s, dy.data());
    gpu::adaptive_avg_pool2d_backward(dgy.data(), s, dgx.data());
    CHECK(same(dy.download(), y));
    CHECK(same(dgx.download(), gx));
  }
}

TEST_CASE("cuda pooling: a larger sweep (GPU only)") {
  TG_SKIP_WITHOUT_CUDA();
  const Window big = {
      "128 planes of 56x56, 3x3 stride 2 padding 1", 128, 56, 56, 3, 3, 2, 2, 1, 1, 1, 1};
  const Pool2dShape s = shape_of(big, false, false);
  if (tg::test::too_big_for_emulator(int64_t(in_size(s)))) return;
  const auto x = tg::test::uniform<float>(in_size(s), 7);
  const auto gy = tg::test::uniform<float>(out_size(s), 8);
  std::vector<float> y(out_size(s)), gx(in_size(s));
  std::vector<int32_t> idx(out_size(s));
  cpu::max_pool2d(x.data(), s, y.data(), idx.data());
  cpu::max_pool2d_backward(gy.data(), idx.data(), s, gx.data());
  DeviceBuffer<float> dx(x), dy(y.size()), dgy(gy), dgx(gx.size());
  DeviceBuffer<int32_t> didx(idx.size());
  gpu::max_pool2d(dx.data(), s, dy.data(), didx.data());
  gpu::max_pool2d_backward(dgy.data(), didx.data(), s, dgx.data());
  CHECK(same(dy.download(), y));
  CHECK(didx.download() == idx);
  CHECK(same(dgx.download(), gx));
  cpu::avg_pool2d(x.data(), s, true, y.data());
  cpu::avg_pool2d_backward(gy.data(), s, true, gx.data());
  gpu::avg_pool2d(dx.data(), s, true, dy.data());
  gpu::avg_pool2d_backward(dgy.data(), s, true, dgx.data());
  CHECK(same(dy.download(), y));
  CHECK(same(dgx.download(), gx));
}
