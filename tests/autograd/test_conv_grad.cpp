// tg::conv2d: forward by hand, backward by gradcheck in float64 for input, weight and bias
// across stride, padding, dilation and groups (depthwise included), float32 forward, and the
// errors for bad input, each naming the shapes.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "autograd/autograd.h"
#include "tensor/creation.h"
#include "tensor/ops.h"
#include "test_util.h"

using namespace tg;

namespace {

Generator gen(4321);

Tensor leaf(const Shape& s) {
  return uniform(s, -1, 1, gen, DType::f64).requires_grad_();
}

struct Case {
  const char* name;
  Shape x, w;
  Size2 stride, padding, dilation;
  int64_t groups;
  bool bias;
};

}  // namespace

TEST_CASE("tg::conv2d forward by hand, float32 and float64") {
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor x = arange(1, 10, 1, dt).reshape({1, 1, 3, 3});
    Tensor w = tensor({1, 2, 3, 4}, dt).reshape({1, 1, 2, 2});
    Tensor b = tensor({0.5}, dt);
    Tensor y = conv2d(x, w, b);
    CHECK(y.shape() == Shape{1, 1, 2, 2});
    CHECK(y.dtype() == dt);
    CHECK(y.to_vector<double>() == std::vector<double>{37.5, 47.5, 67.5, 77.5});
    // Stride 2 and padding 1 (worked out in tests/kernels/test_conv.cpp).
    CHECK(conv2d(x, w, Tensor(), 2, 1).to_vector<double>() == std::vector<double>{4, 18, 36, 77});
    // Per-axis: stride (1, 2) without padding keeps columns 0..1 only: y = [37, 67].
    Tensor yr = conv2d(x, w, Tensor(), {1, 2}, 0);
    CHECK(yr.shape() == Shape{1, 1, 2, 1});
    CHECK(yr.to_vector<double>() == std::vector<double>{37, 67});
  }
}

TEST_CASE("tg::conv2d of a non-contiguous input equals that of its contiguous copy") {
  Tensor x = uniform({2, 5, 3, 4}, -1, 1, gen).transpose(1, 3);  // (2, 4, 3, 5), strided
  Tensor w = uniform({3, 4, 2, 2}, -1, 1, gen);
  CHECK(allclose(conv2d(x, w), conv2d(x.contiguous(), w), 0, 0));
}

TEST_CASE("tg::conv2d backward: gradcheck of input, weight and bias across the options") {
  const std::vector<Case> cases = {
      {"3x3 plain", {2, 2, 5, 5}, {3, 2, 3, 3}, 1, 0, 1, 1, true},
      {"3x3 stride 2 pad 1", {2, 3, 6, 5}, {2, 3, 3, 3}, 2, 1, 1, 1, true},
      {"per-axis stride and padding", {1, 2, 5, 7}, {2, 2, 2, 3}, {2, 1}, {0, 2}, 1, 1, true},
      {"dilation 2", {1, 2, 7, 6}, {2, 2, 3, 2}, 1, 1, {2, 3}, 1, true},
      {"groups 2", {2, 4, 4, 4}, {6, 2, 3, 3}, 1, 1, 1, 2, true},
      {"depthwise", {2, 3, 5, 5}, {3, 1, 3, 3}, 2, 1, 1, 3, true},
      {"1x1", {2, 3, 3, 4}, {2, 3, 1, 1}, 1, 0, 1, 1, true},
      {"1x1 strided, no bias", {1, 3, 5, 5}, {2, 3, 1, 1}, 2, 0, 1, 1, false},
      {"batch 1 odd sizes no bias", {1, 1, 7, 3}, {1, 1, 4, 2}, {3, 1}, {1, 0}, 1, 1, false},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    std::vector<Tensor> in = {leaf(c.x), leaf(c.w)};
    if (c.bias) in.push_back(leaf({c.w[0]}));
    auto f = [&](const std::vector<Tensor>& v) {
      return conv2d(v[0], v[1], c.bias ? v[2] : Tensor(), c.stride, c.padding, c.dilation,
                    c.groups);
    };
    GradcheckResult r = gradcheck(f, in);
    CHECK_MESSAGE(r.ok, r.message);
  }
}

TEST_CASE("tg::conv2d backward: only the inputs that require grad get one") {
  Tensor x = uniform({2, 2, 4, 4}, -1, 1, gen, DType::f64);
  Tensor w = leaf({3, 2, 3, 3});
  Tensor b = uniform({3}, -1, 1, gen, DType::f64);
  backward(sum(conv2d(x, w, b, 1, 1)));
  CHECK(w.grad().defined());
  CHECK(w.grad().shape() == w.shape());
  CHECK_FALSE(x.grad().defined());
  CHECK_FALSE(b.grad().defined());
}

TEST_CASE("tg::conv2d errors name the shapes and the option at fault") {
  using test::error_of;
  using test::has;
  Tensor x = zeros({2, 3, 8, 8}), w = zeros({4, 3, 3, 3});
  std::string m = error_of([&] { conv2d(x, zeros({4, 2, 3, 3})); });
  CHECK(has(m,
            "conv2d: input [2, 3, 8, 8] has 3 channels but weight [4, 2, 3, 3] with groups=1 "
            "expects 2"));
  m = error_of([&] { conv2d(x, zeros({4, 3, 3})); });
  CHECK(has(m, "conv2d: weight must be 4-d"));
  CHECK(has(m, "[4, 3, 3]"));
  m = error_of([&] { conv2d(zeros({3, 8, 8}), w); });
  CHECK(has(m, "conv2d: input must be 4-d (N, C, H, W), got [3, 8, 8]"));
  m = error_of([&] { conv2d(x, zeros({4, 1, 3, 3}), Tensor(), 1, 0, 1, 2); });
  CHECK(has(m, "groups=2 does not divide the input's channels: input [2, 3, 8, 8] has 3"));
  m = error_of([&] { conv2d(zeros({2, 4, 8, 8}), zeros({3, 2, 3, 3}), Tensor(), 1, 0, 1, 2); });
  CHECK(has(m, "groups=2 does not divide out_channels: weight [3, 2, 3, 3] has 3"));
  m = error_of([&] { conv2d(zeros({1, 3, 2, 2}), w); });
  CHECK(has(m,
            "kernel of weight [4, 3, 3, 3] with dilation (1, 1) spans (3, 3), larger than "
            "input [1, 3, 2, 2] padded by (0, 0) (2, 2)"));
  CHECK(error_of([&] {
          conv2d(zeros({1, 3, 2, 2}), w, Tensor(), 1, 1);
        }) == "<no tg::Error thrown>");
  m = error_of([&] { conv2d(x, w, Tensor(), {1, 0}); });
  CHECK(has(m, "conv2d: stride must be positive, got (1, 0)"));
  m = error_of([&] { conv2d(x, w, Tensor(), 1, 0, -1); });
  CHECK(has(m, "conv2d: dilation must be positive, got (-1, -1)"));
  m = error_of([&] { conv2d(x, w, Tensor(), 1, {0, -2}); });
  CHECK(has(m, "conv2d: padding must be non-negative, got (0, -2)"));
  m = error_of([&] { conv2d(x, w, zeros({3})); });
  CHECK(has(m, "conv2d: bias of shape [3] does not match weight of shape [4, 3, 3, 3]"));
  m = error_of([&] { conv2d(x, zeros({4, 3, 3, 3}, DType::f64)); });
  CHECK(has(m, "conv2d: dtypes differ"));
}
