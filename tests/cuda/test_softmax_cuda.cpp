// CUDA softmax, log-softmax, their backward passes and cross-entropy (kernels/cuda/softmax.cu)
// against the CPU kernels: warp-per-row (cols <= 1024) and block-per-row shapes, in place,
// large, infinite and NaN logits, the device scalars of cross_entropy and its backward, labels
// out of range reported at the next synchronisation, and bit-identical repeated losses.
#include <cuda_runtime.h>  // cudaMalloc(T**, size_t), used by DeviceBuffer
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "base/error.h"
#include "cuda/cuda_test_util.h"
#include "kernels/softmax.h"

using tg::test::close_to;
using tg::test::DeviceBuffer;
using tg::test::uniform_indices;
namespace cpu = tg::kernels::cpu;
namespace gpu = tg::kernels::cuda;

namespace {

struct Rc {
  int64_t rows, cols;
  size_t n() const { return static_cast<size_t>(rows * cols); }
};

// Warp per row up to 1024 columns (8 rows per block, grid-stride beyond 65535 blocks), then a
// block per row.
const Rc kShapes[] = {{1, 1},    {7, 10},   {64, 10},    {33, 33},  {5, 1023},  {3, 1024},
                      {2, 1025}, {4, 5000}, {2, 100003}, {1000, 7}, {600000, 2}};

// Tolerances: float results differ from the CPU's by the exp (CUDA's expf is within 2 ulp)
// and the order of the row sums.
template <typename T>
constexpr double kRtol = sizeof(T) == 4 ? 1e-5 : 1e-12;

// close_to that also accepts equal infinities (log_softmax of -inf is -inf), whose difference
// is NaN: equal elements are set to 0 on both sides first.
template <typename T>
bool near(std::vector<T> a, std::vector<T> b, double rtol, double atol) {
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    if (a[i] == b[i]) a[i] = b[i] = T(0);
  return close_to(a, b, rtol, atol);
}

template <typename T>
bool same_values(const std::vector<T>& a, const std::vector<T>& b) {
  return close_to(a, b, 0, 0);
}

// Loss and probs of the GPU (probs from a buffer prefilled with -777 when asked for).
template <typename T>
T gpu_loss(const std::vector<T>& x, const std::vector<int32_t>& labels, Rc s,
           std::vector<T>* probs) {
  DeviceBuffer<T> dx(x), dp(std::vector<T>(s.n(), T(-777))), dl(std::vector<T>{T(-777)});
  DeviceBuffer<int32_t> dlab(labels);
  gpu::cross_entropy(dx.data(), dlab.data(), s.rows, s.cols, probs ? dp.data() : nullptr,
                     dl.data());
  if (probs) *probs = dp.download();
  return dl.download()[0];
}

}  // namespace

TEST_CASE_TEMPLATE("cuda softmax and log_softmax match the CPU", T, float, double) {
  TG_SKIP_WITHOUT_CUDA();
  uint32_t seed = 1;
  for (const Rc& s : kShapes) {
    if (tg::test::too_big_for_emulator(s.rows * s.cols)) continue;
    CAPTURE(s.rows);
    CAPTURE(s.cols);
    const auto x = tg::test::uniform<T>(s.n(), seed++, -6, 6);
    std::vector<T> want(s.n()), lwant(s.n());
    cpu::softmax(x.data(), s.rows, s.cols, want.data());
    cpu::log_softmax(x.data(), s.rows, s.cols, lwant.data());
    DeviceBuffer<T> dx(x), dy(s.n()), dly(s.n());
    gpu::softmax(dx.data(), s.rows, s.cols, dy.data());
    gpu::log_softmax(dx.data(), s.rows, s.cols, dly.data());
    // Probabilities of 1e5 columns are about 1e-5: the tolerance is relative only.
    CHECK(close_to(dy.download(), want, kRtol<T>, 0));
    CHECK(close_to(dly.download(), lwant, kRtol<T>, kRtol<T>));
    // In place, y == x.
    gpu::log_softmax(dx.data(), s.rows, s.cols, dx.data());
    CHECK(close_to(dx.download(), lwant, kRtol<T>, kRtol<T>));
    dx.upload(x);
    gpu::softmax(dx.data(), s.rows, s.cols, dx.data());
    CHECK(close_to(dx.download(), want, kRtol<T>, 0));
  }
}

TEST_CASE("cuda softmax handles large, infinite and NaN logits as the CPU does") {
  TG_SKIP_WITHOUT_CUDA();
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // Rows: stable for 1000s; -inf gets probability 0; all -inf, +inf or NaN give NaN rows.
  std::vector<float> x = {1000, 1000, 999, -inf, 0, 1, -inf,  -inf, -inf,
                          nan,  0,    1,   inf,  0, 1, -1000, 0,    -1000};
  for (int64_t cols : {3, 1500}) {  // warp per row, then a block per row
    CAPTURE(cols);
    const int64_t rows = 6;
    std::vector<float> xs(static_cast<size_t>(rows * cols), -inf);
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < 3; ++j) xs[i * cols + j * (cols / 3)] = x[i * 3 + j];
    std::vector<float> want(xs.size()), lwant(xs.size());
    cpu::softmax(xs.data(), rows, cols, want.data());
    cpu::log_softmax(xs.data(), rows, cols, lwant.data());
    DeviceBuffer<float> dx(xs), dy(xs.size()), dly(xs.size());
    gpu::softmax(dx.data(), rows, cols, dy.data());
    gpu::log_softmax(dx.data(), rows, cols, dly.data());
    const auto y = dy.download(), ly = dly.download();
    CHECK(close_to(y, want, 1e-6, 0));
    CHECK(near(ly, lwant, 1e-6, 1e-6));
    CHECK(y[0] == doctest::Approx(1 / (2 + std::exp(-1.0))).epsilon(1e-6));
    CHECK(y[static_cast<size_t>(cols)] == 0.0f);  // exp(-inf - 1) is exactly 0
    for (int64_t r = 2; r < 5; ++r) CHECK(std::isnan(y[static_cast<size_t>(r * cols)]));
    CHECK(ly[static_cast<size_t>(5 * cols + cols / 3)] == doctest::Approx(0.0).epsilon(1e-6));
  }
}

TEST_CASE_TEMPLATE("cuda softmax and log_softmax backward match the CPU", T, float, double) {
  TG_SKIP_WITHOUT_CUDA();
  const double atol = sizeof(T) == 4 ? 1e-7 : 1e-15;
  const double rtol = sizeof(T) == 4 ? 1e-4 : 1e-10;
  uint32_t seed = 100;
  for (const Rc& s : kShapes) {
    if (tg::test::too_big_for_emulator(s.rows * s.cols)) continue;
    CAPTURE(s.rows);
    CAPTURE(s.cols);
    const auto x = tg::test::uniform<T>(s.n(), seed++, -3, 3);
    const auto gy = tg::test::uniform<T>(s.n(), seed++);
    std::vector<T> y(s.n()), ly(s.n()), want(s.n()), lwant(s.n());
    cpu::softmax(x.data(), s.rows, s.cols, y.data());
    cpu::log_softmax(x.data(), s.rows, s.cols, ly.data());
    cpu::softmax_backward(y.data(), gy.data(), s.rows, s.cols, want.data());
    cpu::log_softmax_backward(ly.data(), gy.data(), s.rows, s.cols, lwant.data());
    DeviceBuffer<T> dy(y), dly(ly), dgy(gy), dgx(s.n()), dlgx(s.n());
    gpu::softmax_backward(dy.data(), dgy.data(), s.rows, s.cols, dgx.data());
    gpu::log_softmax_backward(dly.data(), dgy.data(), s.rows, s.cols, dlgx.data());
    CHECK(close_to(dgx.download(), want, rtol, atol));
    CHECK(close_to(dlgx.download(), lwant, rtol, 10 * atol));
    // gx written over gy.
    gpu::softmax_backward(dy.data(), dgy.data(), s.rows, s.cols, dgy.data());
    CHECK(close_to(dgy.download(), want, rtol, atol));
  }
}

TEST_CASE_TEMPLATE("cuda cross_entropy matches the CPU loss and probabilities", T, float, double) {
  TG_SKIP_WITHOUT_CUDA();
  uint32_t seed = 200;
  for (const Rc& s : {Rc{1, 1}, Rc{64, 10}, Rc{256, 10}, Rc{33, 33}, Rc{7, 1023}, Rc{3, 1025},
                      Rc{2, 5000}, Rc{1000, 7}, Rc{70000, 3}}) {
    CAPTURE(s.rows);
    CAPTURE(s.cols);
    const auto x = tg::test::uniform<T>(s.n(), seed++, -4, 4);
    const auto labels = uniform_indices(s.rows, s.cols, seed++);
    std::vector<T> want_p(s.n());
    const T want = cpu::cross_entropy(x.data(), labels.data(), s.rows, s.cols, want_p.data());
    std::vector<T> probs;
    const T got = gpu_loss(x, labels, s, &probs);
    CHECK(double(got) == doctest::Approx(double(want)).epsilon(kRtol<T>));
    CHECK(close_to(probs, want_p, kRtol<T>, 0));
    // Without probs, and again: the same bits (a fixed order of the mean, no atomics).
    const T again = gpu_loss(x, labels, s, static_cast<std::vector<T>*>(nullptr));
    CHECK(std::memcmp(&again, &got, sizeof(T)) == 0);
  }
}

TEST_CASE("cuda cross_entropy is stable for large logits and NaN for no rows") {
  TG_SKIP_WITHOUT_CUDA();
  // (3, 3) rows [1000, 0, -1000] with labels 0, 2, 1: losses 0, 2000, 1000.
  const std::vector<float> x = {1000, 0, -1000, 1000, 0, -1000, 1000, 0, -1000};
  const float loss = gpu_loss(x, {0, 2, 1}, {3, 3}, static_cast<std::vector<float>*>(nullptr));
  CHECK(loss == doctest::Approx(1000.0).epsilon(1e-6));
  CHECK(std::isnan(
      gpu_loss(std::vector<float>{}, {}, {0, 10}, static_cast<std::vector<float>*>(nullptr))));
}

TEST_CASE("cuda cross_entropy reports a label out of range at the next synchronisation") {
  TG_SKIP_WITHOUT_CUDA();
  for (int64_t cols : {10, 2000}) {  // warp per row, then a block per row
    CAPTURE(cols);
    const Rc s{4, cols};
    const auto x = tg::test::uniform<float>(s.n(), 3);
    const std::vector<int32_t> labels = {0, 3, static_cast<int32_t>(cols), 1};
    DeviceBuffer<float> dx(x), dp(s.n()), dl(1);
    DeviceBuffer<int32_t> dlab(labels);
    gpu::cross_entropy(dx.data(), dlab.data(), s.rows, s.cols, dp.data(), dl.data());
    const std::string want =
        "cross_entropy: label " + std::to_string(cols) + " of row 2 is out of range [0, ";
    CHECK_THROWS_WITH_AS(dl.download(), doctest::Contains(want.c_str()), tg::Error);
    // The error was raised once and cleared; the loss itself is NaN.
    CHECK(std::isnan(dl.download()[0]));
    dlab.upload({0, 1, 2, -1});
    gpu::cross_entropy(dx.data(), dlab.data(), s.rows, s.cols, dp.data(), dl.data());
    CHECK_THROWS_WITH_AS(dl.download(), doctest::Contains("label -1 of row 3"), tg::Error);
  }
  // No classes at all: every label is out of range, which the host knows without looking.
  DeviceBuffer<float> dx(1), dl(1);
  DeviceBuffer<int32_t> dlab(std::vector<int32_t>{0, 0});
  CHECK_THROWS_WITH_AS(gpu::cross_entropy(dx.data(), dlab.data(), 2, 0, dx.data(), dl.data()),
                       doctest::Contains("for 0 classes"), tg::Error);
}

TEST_CASE_TEMPLATE("cuda cross_entropy_backward matches the CPU with and without gloss", T, float,
                   double) {
  TG_SKIP_WITHOUT_CUDA();
  for (const Rc& s : {Rc{1, 1}, Rc{64, 10}, Rc{33, 33}, Rc{3, 1025}, Rc{1000, 7}}) {
    CAPTURE(s.rows);
    CAPTURE(s.cols);
    const auto x = tg::test::uniform<T>(s.n(), 300, -2, 2);
    const auto labels = uniform_indices(s.rows, s.cols, 301);
    std::vector<T> probs(s.n()), want(s.n()), want2(s.n());
    cpu::cross_entropy(x.data(), labels.data(), s.rows, s.cols, probs.data());
    const T scale = T(1) / static_cast<T>(s.rows), g = T(2.5);
    cpu::cross_entropy_backward(probs.data(), labels.data(), s.rows, s.cols, scale, want.data());
    cpu::cross_entropy_backward(probs.data(), labels.data(), s.rows, s.cols, g * scale,
                                want2.data());
    DeviceBuffer<T> dp(probs), dgl(std::vector<T>{g}), dout(s.n());
    DeviceBuffer<int32_t> dlab(labels);
    // The same products in the same order as the CPU: equal bits.
    gpu::cross_entropy_backward(dp.data(), dlab.data(), s.rows, s.cols, static_cast<T*>(nullptr),
                                scale, dout.data());
    CHECK(same_values(dout.download(), want));
    gpu::cross_entropy_backward(dp.data(), dlab.data(), s.rows, s.cols, dgl.data(), scale,
                                dout.data());
    CHECK(same_values(dout.download(), want2));
  }
  // A label out of range.
  DeviceBuffer<float> dp(std::vector<float>(20, 0.1f)), dout(20);
  DeviceBuffer<int32_t> dlab(std::vector<int32_t>{0, 10});
  gpu::cross_entropy_backward(dp.data(), dlab.data(), 2, 10, static_cast<float*>(nullptr), 0.5f,
                              dout.data());
  CHECK_THROWS_WITH_AS(dout.download(), doctest::Contains("label 10 of row 1"), tg::Error);
}
