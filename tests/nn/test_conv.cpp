// nn::Conv2d: parameter shapes and state-dict names as PyTorch's, the default init (kaiming
// uniform with a = sqrt(5), then the bias, from one generator), the forward equal to tg::conv2d,
// str() as PyTorch's repr, gradients reaching both parameters, and the argument checks.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "autograd/autograd.h"
#include "nn/nn.h"
#include "tensor/creation.h"
#include "tensor/ops.h"
#include "test_util.h"

using namespace tg;

TEST_CASE("Conv2d has weight (out, in/groups, kH, kW) and bias (out), named as in PyTorch") {
  Generator gen(1);
  nn::Conv2d conv(4, 6, {3, 2}, 1, 0, 1, 2, true, gen);
  CHECK(conv.weight.shape() == Shape{6, 2, 3, 2});
  CHECK(conv.bias.shape() == Shape{6});
  auto named = conv.named_parameters();
  REQUIRE(named.size() == 2);
  CHECK(named[0].first == "weight");
  CHECK(named[1].first == "bias");
  auto sd = conv.state_dict();
  CHECK(sd.size() == 2);
  CHECK(sd.count("weight") == 1);
  CHECK(sd.count("bias") == 1);
  nn::Conv2d nobias(4, 6, 3, 1, 0, 1, 1, false, gen);
  CHECK(nobias.named_parameters().size() == 1);
  CHECK_FALSE(nobias.bias.defined());
}

TEST_CASE("Conv2d draws kaiming_uniform_(a = sqrt(5)) for the weight, then U(+-1/sqrt(fan_in))") {
  Generator g1(11), g2(11);
  nn::Conv2d conv(2, 3, {2, 2}, 1, 0, 1, 1, true, g1);
  Tensor w = empty({3, 2, 2, 2}), b = empty({3});
  nn::init::kaiming_uniform_(w, g2, std::sqrt(5.0));
  const double bound = 1.0 / std::sqrt(8.0);  // fan_in = 2 * 2 * 2
  nn::init::uniform_(b, -bound, bound, g2);
  CHECK(test::same_bits(conv.weight.detach(), w));
  CHECK(test::same_bits(conv.bias.detach(), b));
  // Both stay inside +-1/sqrt(fan_in) (kaiming_uniform with a = sqrt(5) gives that bound too);
  // with groups the fan is in/groups * kH * kW.
  nn::Conv2d big(16, 32, 3, 1, 1, 1, 4, true, g1);
  const double gbound = 1.0 / std::sqrt(4.0 * 9.0);
  for (double v : big.weight.detach().to(DType::f64).to_vector<double>())
    CHECK(std::abs(v) <= gbound);
  for (double v : big.bias.detach().to(DType::f64).to_vector<double>())
    CHECK(std::abs(v) <= gbound);
}

TEST_CASE("Conv2d's forward is tg::conv2d with its options, and gradients reach both parameters") {
  Generator gen(5);
  nn::Conv2d conv(3, 4, {3, 3}, {2, 1}, {1, 0}, {1, 2}, 1, true, gen);
  Tensor x = uniform({2, 3, 9, 8}, -1, 1, gen);
  Tensor y = conv(x);
  CHECK(y.shape() == Shape{2, 4, 5, 4});
  {
    NoGrad guard;
    Tensor ref = conv2d(x, conv.weight, conv.bias, {2, 1}, {1, 0}, {1, 2}, 1);
    CHECK(test::same_bits(y.detach(), ref));
  }
  backward(sum(y));
  CHECK(conv.weight.grad().shape() == conv.weight.shape());
  // d sum(y) / d bias[o] = the number of outputs per channel: 2 * 5 * 4.
  for (double v : conv.bias.grad().to(DType::f64).to_vector<double>()) CHECK(v == 40);
}

TEST_CASE("Conv2d's str() is PyTorch's repr") {
  Generator gen(2);
  CHECK(nn::Conv2d(1, 8, 5, 2, 2, 1, 1, true, gen).str() ==
        "Conv2d(1, 8, kernel_size=(5, 5), stride=(2, 2), padding=(2, 2))");
  CHECK(nn::Conv2d(8, 16, 3, 1, 0, 1, 1, true, gen).str() ==
        "Conv2d(8, 16, kernel_size=(3, 3), stride=(1, 1))");
  CHECK(nn::Conv2d(4, 4, {3, 1}, {1, 2}, {1, 0}, 2, 4, false, gen).str() ==
        "Conv2d(4, 4, kernel_size=(3, 1), stride=(1, 2), padding=(1, 0), dilation=(2, 2), "
        "groups=4, bias=False)");
  auto seq = nn::Sequential(
      {std::make_shared<nn::Conv2d>(1, 8, 5, 2, 2, 1, 1, true, gen), std::make_shared<nn::ReLU>()});
  CHECK(
      test::has(seq.str(), "(0): Conv2d(1, 8, kernel_size=(5, 5), stride=(2, 2), padding=(2, 2))"));
}

TEST_CASE("Conv2d refuses bad arguments and inputs, naming them") {
  using test::error_of;
  using test::has;
  Generator gen(3);
  CHECK(has(error_of([&] { nn::Conv2d(3, 4, 3, 1, 0, 1, 2, true, gen); }),
            "Conv2d: groups=2 must divide in_channels=3 and out_channels=4"));
  CHECK(has(error_of([&] { nn::Conv2d(0, 4, 3, 1, 0, 1, 1, true, gen); }), "in_channels=0"));
  CHECK(has(error_of([&] {
              nn::Conv2d(3, 4, {3, 0}, 1, 0, 1, 1, true, gen);
            }),
            "kernel_size must be positive, got (3, 0)"));
  CHECK(has(error_of([&] { nn::Conv2d(3, 4, 3, 0, 0, 1, 1, true, gen); }), "stride (0, 0)"));
  CHECK(has(error_of([&] { nn::Conv2d(3, 4, 3, 1, -1, 1, 1, true, gen); }),
            "padding must be non-negative, got (-1, -1)"));
  nn::Conv2d conv(3, 4, 3, 1, 0, 1, 1, true, gen);
  CHECK(has(error_of([&] {
              conv(zeros({2, 5, 8, 8}));
            }),
            "Conv2d: input of shape [2, 5, 8, 8] does not match in_channels=3"));
  CHECK(has(error_of([&] { conv(zeros({2, 3, 2, 2})); }), "larger than input [2, 3, 2, 2]"));
}
