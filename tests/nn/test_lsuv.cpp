// nn/lsuv.h: LSUV brings each watched output to mean ~0 and std ~1 on the batch, layer by
// layer; without a bias only the std; the layers it finds; a layer outside the model refused.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "autograd/tape.h"
#include "base/error.h"
#include "nn/nn.h"
#include "tensor/creation.h"
#include "tensor/grad_mode.h"
#include "test_util.h"

using namespace tg;

namespace {

// The mean and unbiased std of every hooked layer's output on one forward of xb.
std::vector<std::pair<double, double>> measured(nn::Module& model,
                                                const std::vector<nn::LsuvLayer>& layers,
                                                const Tensor& xb) {
  std::vector<std::shared_ptr<nn::Module>> mods;
  for (const auto& l : layers) mods.push_back(l.watch);
  nn::ActivationStats stats(mods);
  model(xb);
  std::vector<std::pair<double, double>> out;
  for (size_t i = 0; i < mods.size(); ++i)
    out.emplace_back(stats.means()[i][0], stats.stds()[i][0]);
  return out;
}

}  // namespace

TEST_CASE("lsuv: every Linear of an MLP ends at mean 0 and std 1 on the batch") {
  // Weights 5 times too large and a bias shift: the outputs start far from unit scale.
  Generator gen(7);
  auto model = nn::mlp({8, 32, 16, 4}, gen);
  {
    NoGrad g;
    for (auto& [name, p] : model->named_parameters()) p.copy_(p * 5.0 + 0.5);
  }
  Tensor xb = randn({64, 8}, gen);
  auto layers = nn::lsuv_layers(*model);
  REQUIRE(layers.size() == 3);
  CHECK(layers[0].name == "0");
  CHECK(layers[1].name == "2");
  CHECK(layers[2].name == "4");
  const auto before = measured(*model, layers, xb);
  CHECK(before[1].second > 3);  // far from 1 before
  const size_t recorded = tape().size();
  const auto results = nn::lsuv_init(*model, xb, nn::LsuvOptions{.tol = 1e-3, .max_iters = 10});
  REQUIRE(results.size() == 3);
  CHECK(tape().size() == recorded);  // nothing recorded
  const auto after = measured(*model, layers, xb);
  for (size_t i = 0; i < 3; ++i) {
    CAPTURE(i);
    CHECK(results[i].converged);
    CHECK(results[i].iterations >= 1);
    CHECK(results[i].iterations <= 3);  // the update is exact for a watched linear output
    // Layer 0 sees the same input before and after; the later ones' before is measured after
    // the earlier layers were fitted, so only layer 0's std_before is the untouched model's.
    CHECK(std::abs(after[i].first) <= 1e-3);
    CHECK(std::abs(after[i].second - 1) <= 1e-3);
    CHECK(results[i].std_after == doctest::Approx(after[i].second).epsilon(1e-9));
  }
  CHECK(results[0].mean_before == doctest::Approx(before[0].first).epsilon(1e-9));
  CHECK(results[0].std_before == doctest::Approx(before[0].second).epsilon(1e-9));
  CHECK(model->parameters()[0].requires_grad());  // still parameters
}

TEST_CASE("lsuv: a conv without bias gets std 1, its mean left as it is, max_iters caps it") {
  Generator gen(3);
  auto model = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Conv2d>(2, 4, 3, 1, 1, 1, 1, /*bias=*/false, gen),
      std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Conv2d>(4, 4, 3, 2, 1, 1, 1, /*bias=*/true, gen)});
  Tensor xb = randn({8, 2, 6, 6}, gen) + 1.0;  // a mean the bias-free conv keeps
  auto layers = nn::lsuv_layers(*model);
  REQUIRE(layers.size() == 2);
  CHECK_FALSE(layers[0].bias.defined());
  // max_iters 0: measured, nothing changed.
  const auto none = nn::lsuv_init(*model, xb, layers, nn::LsuvOptions{.max_iters = 0});
  CHECK(none[0].iterations == 0);
  CHECK(none[0].std_after == none[0].std_before);
  const auto r = nn::lsuv_init(*model, xb, layers);
  const auto after = measured(*model, layers, xb);
  CHECK(r[0].converged);
  CHECK(std::abs(after[0].second - 1) <= 1e-3);
  CHECK(std::abs(after[0].first) > 0.01);  // no bias to move it
  CHECK(std::abs(after[1].first) <= 1e-3);
  CHECK(std::abs(after[1].second - 1) <= 1e-3);
}

TEST_CASE("lsuv: the course's CNN's layers by path, a layer outside the model is refused") {
  Generator gen(1);
  auto cnn = nn::course_cnn(28, 28, {8, 16, 32, 32}, 10, gen);
  std::vector<std::string> names;
  for (const auto& l : nn::lsuv_layers(*cnn)) names.push_back(l.name);
  CHECK(names == std::vector<std::string>{"1", "4", "7", "10", "15"});
  auto model = nn::mlp({4, 3}, gen);
  auto stranger = std::make_shared<nn::Linear>(4, 3, true, gen);
  Tensor xb = randn({5, 4}, gen);
  std::vector<nn::LsuvLayer> bad{{"stranger", stranger, stranger->weight, stranger->bias}};
  CHECK(test::has(test::error_of([&] { nn::lsuv_init(*model, xb, bad); }), "did not run"));
  CHECK_THROWS_AS(nn::lsuv_init(*model, xb, nn::LsuvOptions{.tol = 0}), Error);
  // A zero output has no std to divide by.
  {
    NoGrad g;
    for (auto& p : model->parameters()) p.zero_();
  }
  CHECK(test::has(test::error_of([&] { nn::lsuv_init(*model, xb); }), "nothing to rescale"));
}
