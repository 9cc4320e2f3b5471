// The normalisation layers: BatchNorm1d/2d (parameters, buffers, the running statistics after
// two training steps worked out by hand, num_batches_tracked, eval), LayerNorm, GroupNorm,
// PyTorch's state-dict names and reprs, and the errors for wrong channel counts.
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
using tg::test::error_of;
using tg::test::has;

namespace {

void check_close(const Tensor& t, const std::vector<double>& want, double tol = 1e-6) {
  std::vector<double> got = t.to_vector<double>();
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(tol));
}

const double kEps = 1e-5;

}  // namespace

TEST_CASE("BatchNorm1d: initial state, two training steps by hand, then eval") {
  nn::BatchNorm1d bn(2);
  CHECK(bn.weight.to_vector<float>() == std::vector<float>{1, 1});
  CHECK(bn.bias.to_vector<float>() == std::vector<float>{0, 0});
  CHECK(bn.running_mean.to_vector<float>() == std::vector<float>{0, 0});
  CHECK(bn.running_var.to_vector<float>() == std::vector<float>{1, 1});
  CHECK(bn.num_batches_tracked.dtype() == DType::i32);
  CHECK(bn.num_batches_tracked.dim() == 0);
  CHECK(bn.num_batches_tracked.item<int32_t>() == 0);
  CHECK(bn.parameters().size() == 2);
  CHECK(bn.is_training());
  // Step 1: channel 0 {1, 3} (mean 2, biased variance 1, unbiased 2), channel 1 {2, 6}
  // (mean 4, biased 4, unbiased 8).
  Tensor y = bn(tensor({{1, 2}, {3, 6}}));
  const double a = 1 / std::sqrt(1 + kEps), c = 2 / std::sqrt(4 + kEps);
  check_close(y, {-a, -c, a, c});
  check_close(bn.running_mean, {0.2, 0.4});
  check_close(bn.running_var, {1.1, 1.7});
  CHECK(bn.num_batches_tracked.item<int32_t>() == 1);
  // Step 2: channel 0 {0, 4} (mean 2, unbiased 8), channel 1 {0, 2} (mean 1, unbiased 2).
  bn(tensor({{0, 0}, {4, 2}}));
  check_close(bn.running_mean, {0.38, 0.46});
  check_close(bn.running_var, {1.79, 1.73});
  CHECK(bn.num_batches_tracked.item<int32_t>() == 2);
  // Eval uses the running statistics and changes nothing, one example at a time included.
  bn.eval();
  CHECK_FALSE(bn.is_training());
  Tensor ye = bn(tensor({{1, 2}}));
  check_close(ye, {(1 - 0.38) / std::sqrt(1.79 + kEps), (2 - 0.46) / std::sqrt(1.73 + kEps)});
  check_close(bn.running_mean, {0.38, 0.46});
  CHECK(bn.num_batches_tracked.item<int32_t>() == 2);
  bn.train();
  CHECK(has(error_of([&] { bn(tensor({{1, 2}})); }), "more than 1 value per channel"));
}

TEST_CASE("BatchNorm1d on (N, C, L) and BatchNorm2d on (N, C, H, W), with a backward") {
  nn::BatchNorm1d bn1(2);
  Tensor x1 = tensor({1, 2, 3, 4, 0, 0, 0, 4}).reshape({1, 2, 4});
  bn1(x1);
  check_close(bn1.running_mean, {0.25, 0.1});
  check_close(bn1.running_var, {0.9 + 0.1 * 5 / 3, 1.3});
  nn::BatchNorm2d bn2(2, 1e-5, 0.5);
  Tensor x2 = tensor({1, 2, 3, 4, 0, 0, 0, 4}).reshape({1, 2, 2, 2});
  Tensor y = bn2(x2);
  const double a = 1 / std::sqrt(1.25 + kEps), c = 1 / std::sqrt(3 + kEps);
  check_close(y, {-1.5 * a, -0.5 * a, 0.5 * a, 1.5 * a, -c, -c, -c, 3 * c});
  check_close(bn2.running_mean, {1.25, 0.5});
  check_close(bn2.running_var, {0.5 + 0.5 * 5 / 3, 2.5});
  // The gradient reaches weight and bias: dL/dbias = sum of dL/dy, here L = sum(y * t).
  Tensor t = tensor({1, 0, 0, 0, 0, 0, 0, 2}).reshape({1, 2, 2, 2});
  backward(sum(bn2(x2) * t));
  check_close(bn2.bias.grad(), {1, 2});
  check_close(bn2.weight.grad(), {-1.5 * a, 2 * 3 * c});
}

TEST_CASE("BatchNorm without affine or without running statistics") {
  nn::BatchNorm1d plain(3, 1e-5, 0.1, false, true);
  CHECK(plain.parameters().empty());
  CHECK(plain.state_dict().size() == 3);
  nn::BatchNorm1d untracked(2, 1e-5, 0.1, true, false);
  CHECK(untracked.named_buffers().empty());
  untracked.eval();  // no running statistics: batch statistics in eval too
  check_close(untracked(tensor({{1, 2}, {3, 6}})),
              {-1 / std::sqrt(1 + kEps), -2 / std::sqrt(4 + kEps), 1 / std::sqrt(1 + kEps),
               2 / std::sqrt(4 + kEps)});
}

TEST_CASE("BatchNorm in a Sequential: PyTorch's state-dict keys, buffers not parameters") {
  Generator gen(3);
  nn::Sequential model(
      {std::make_shared<nn::Linear>(3, 2, true, gen), std::make_shared<nn::BatchNorm1d>(2)});
  std::vector<std::string> keys;
  for (const auto& [k, v] : model.state_dict()) keys.push_back(k);
  // nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2)).state_dict().keys(), sorted.
  CHECK(keys == std::vector<std::string>{"0.bias", "0.weight", "1.bias", "1.num_batches_tracked",
                                         "1.running_mean", "1.running_var", "1.weight"});
  std::vector<std::string> params;
  for (const auto& [k, v] : model.named_parameters()) params.push_back(k);
  CHECK(params == std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias"});
  model.eval();
  CHECK_FALSE(model[1].is_training());
  model.train();
  CHECK(model[1].is_training());
}

TEST_CASE("LayerNorm and GroupNorm: parameters, forward by hand") {
  nn::LayerNorm ln({3});
  CHECK(ln.weight.shape() == Shape{3});
  CHECK(ln.parameters().size() == 2);
  const double a = 1 / std::sqrt(2.0 / 3 + kEps);
  check_close(ln(tensor({{1, 2, 3}})), {-a, 0, a});
  nn::LayerNorm ln2({2, 3}, 1e-5, false);
  CHECK(ln2.parameters().empty());
  CHECK(ln2(zeros({4, 2, 3})).shape() == Shape{4, 2, 3});
  nn::GroupNorm gn(2, 4);
  CHECK(gn.weight.to_vector<float>() == std::vector<float>{1, 1, 1, 1});
  Tensor x = tensor({1, 3, 1, 3, 0, 4, 0, 4}).reshape({1, 4, 1, 2});
  const double b = 1 / std::sqrt(1 + kEps), c = 2 / std::sqrt(4 + kEps);
  check_close(gn(x), {-b, b, -b, b, -c, c, -c, c});
  nn::GroupNorm instance(4, 4, 1e-5, false);
  CHECK(instance.parameters().empty());
  check_close(instance(x), {-b, b, -b, b, -c, c, -c, c});
}

TEST_CASE("normalisation layers: PyTorch's repr") {
  CHECK(nn::BatchNorm1d(8).str() ==
        "BatchNorm1d(8, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)");
  CHECK(nn::BatchNorm2d(16, 0.001, 0.01, false, false).str() ==
        "BatchNorm2d(16, eps=0.001, momentum=0.01, affine=False, track_running_stats=False)");
  CHECK(nn::LayerNorm({10}).str() == "LayerNorm((10,), eps=1e-05, elementwise_affine=True)");
  CHECK(nn::LayerNorm({4, 5}, 1).str() == "LayerNorm((4, 5), eps=1.0, elementwise_affine=True)");
  CHECK(nn::GroupNorm(2, 4).str() == "GroupNorm(2, 4, eps=1e-05, affine=True)");
}

TEST_CASE("normalisation layers: errors for wrong channel counts and dims name the shapes") {
  nn::BatchNorm2d bn(3);
  CHECK(has(error_of([&] {
              bn(zeros({2, 4, 5, 5}));
            }),
            "BatchNorm2d: expected 3 channels, got input of shape [2, 4, 5, 5]"));
  CHECK(has(error_of([&] {
              bn(zeros({3, 5, 5}));
            }),
            "BatchNorm2d: expected 4D input (N, C, H, W), got [3, 5, 5]"));
  CHECK(bn.num_batches_tracked.item<int32_t>() == 0);  // a refused input counts nothing
  nn::BatchNorm1d bn1(3);
  CHECK(has(error_of([&] {
              bn1(zeros({2, 3, 4, 4}));
            }),
            "BatchNorm1d: expected 2D or 3D input (N, C) or (N, C, L), got [2, 3, 4, 4]"));
  CHECK(has(error_of([&] {
              bn1(zeros({2, 5}));
            }),
            "BatchNorm1d: expected 3 channels, got input of shape [2, 5]"));
  nn::GroupNorm gn(2, 4);
  CHECK(has(error_of([&] {
              gn(zeros({2, 6, 3}));
            }),
            "GroupNorm: expected 4 channels, got input of shape [2, 6, 3]"));
  CHECK(has(error_of([&] { nn::GroupNorm(3, 4); }), "num_groups=3 must divide num_channels=4"));
  nn::LayerNorm ln({4});
  CHECK(has(error_of([&] {
              ln(zeros({2, 3}));
            }),
            "layer_norm: normalized_shape [4] does not match the trailing dims of the input of "
            "shape [2, 3]"));
  CHECK(has(error_of([&] { nn::BatchNorm1d(0); }), "num_features must be positive, got 0"));
}
