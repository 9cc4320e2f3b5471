// nn::Unflatten, and describe_module / build_module (nn/describe.h): every layer type round
// trips to the same architecture and, with the weights loaded, the same outputs; what cannot be
// described or rebuilt is a tg::Error naming where and why.
#include <doctest/doctest.h>

#include "autograd/autograd.h"
#include "nn/describe.h"
#include "nn/layers.h"
#include "tensor/creation.h"
#include "tensor/grad_mode.h"
#include "test_util.h"

using namespace tg;
using nlohmann::json;
using tg::test::error_of;
using tg::test::has;

TEST_CASE("Unflatten splits one dim, infers a -1, and refuses sizes that do not fit") {
  Tensor x = arange(0, 12, 1).reshape({2, 6});
  nn::Unflatten u(1, {2, 3});
  Tensor y = u(x);
  CHECK(y.shape() == Shape{2, 2, 3});
  CHECK(y.at<float>({1, 1, 2}) == 11.f);
  CHECK(y.at<float>({0, 1, 0}) == 3.f);
  CHECK(nn::Unflatten(-1, {3, -1})(x).shape() == Shape{2, 3, 2});
  CHECK(nn::Unflatten(0, {1, 2})(x).shape() == Shape{1, 2, 6});
  CHECK(nn::Unflatten(1, {1, 28, 28}).str() == "Unflatten(dim=1, unflattened_size=(1, 28, 28))");
  CHECK(nn::Unflatten(1, {6}).str() == "Unflatten(dim=1, unflattened_size=(6,))");
  CHECK(has(error_of([&] { nn::Unflatten(1, {4, 2})(x); }), "do not unflatten dim 1 of size 6"));
  CHECK(has(error_of([&] { nn::Unflatten(1, {5, -1})(x); }), "Unflatten"));
  CHECK(has(error_of([&] { nn::Unflatten(2, {6})(x); }), "out of range"));
  CHECK(has(error_of([] { nn::Unflatten(1, {-1, -1}); }), "at most one size may be -1"));
  CHECK(has(error_of([] { nn::Unflatten(1, {}); }), "empty"));
  CHECK(has(error_of([] { nn::Unflatten(1, {-2}); }), ">= 0 or -1"));
  // The gradient flows through (a reshape): d/dx sum(y * w) = w, flattened back.
  Tensor a = arange(0, 6, 1).reshape({1, 6}).requires_grad_();
  Tensor w = arange(10, 16, 1).reshape({1, 2, 3});
  backward(sum(nn::Unflatten(1, {2, 3})(a) * w));
  CHECK(a.grad().to_vector<float>() == std::vector<float>{10, 11, 12, 13, 14, 15});
}

namespace {

std::shared_ptr<nn::Sequential> every_layer(Generator& gen) {
  auto inner = std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Conv2d>(4, 6, Size2(3, 1), Size2(1, 2), Size2(1, 0), 1, 2, true, gen),
      std::make_shared<nn::GroupNorm>(3, 6, 1e-4, true),
      std::make_shared<nn::LeakyReLU>(0.2),
  });
  return std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Unflatten>(1, Shape{1, 8, 8}),
      std::make_shared<nn::Conv2d>(1, 4, 3, 1, 1, 1, 1, false, gen),
      std::make_shared<nn::BatchNorm2d>(4, 1e-3, 0.2, true, true),
      std::make_shared<nn::ReLU>(),
      std::make_shared<nn::MaxPool2d>(2, 2, 0, 1, false),
      inner,
      std::make_shared<nn::AvgPool2d>(Size2(2, 1), Stride2(1), Size2(0), true, false),
      std::make_shared<nn::AdaptiveAvgPool2d>(Size2(2, 3)),
      std::make_shared<nn::Flatten>(1, -1),
      std::make_shared<nn::LayerNorm>(Shape{36}, 1e-5, true),
      std::make_shared<nn::Dropout>(0.25),
      std::make_shared<nn::Linear>(36, 10, true, gen),
      std::make_shared<nn::BatchNorm1d>(10, 1e-5, 0.1, false, true),
      std::make_shared<nn::Tanh>(),
      std::make_shared<nn::Linear>(10, 5, false, gen),
      std::make_shared<nn::Sigmoid>(),
  });
}

}  // namespace

TEST_CASE("describe_module and build_module: every layer type round trips") {
  Generator gen(7);
  auto model = every_layer(gen);
  const json arch = nn::describe_module(*model);
  CHECK(arch["type"] == "Sequential");
  CHECK(arch["layers"].size() == 16);
  CHECK(arch["layers"][0] ==
        json{{"type", "Unflatten"}, {"dim", 1}, {"unflattened_size", {1, 8, 8}}});
  CHECK(arch["layers"][1]["kernel_size"] == json{3, 3});
  CHECK(arch["layers"][1]["bias"] == false);
  CHECK(arch["layers"][5]["layers"][0]["groups"] == 2);
  CHECK(arch["layers"][11] ==
        json{{"type", "Linear"}, {"in_features", 36}, {"out_features", 10}, {"bias", true}});
  auto rebuilt = nn::build_module(arch);
  CHECK(rebuilt->str() == model->str());
  CHECK(nn::describe_module(*rebuilt) == arch);
  // Same names and shapes, so the weights load strictly; then the same outputs (eval mode:
  // dropout off, the running statistics used).
  rebuilt->load_state_dict(model->state_dict());
  model->eval();
  rebuilt->eval();
  NoGrad ng;
  Tensor x = randn({3, 64}, gen);
  Tensor a = (*model)(x), b = (*rebuilt)(x);
  CHECK(tg::test::same_bits(a, b));
  // The course CNN (its view is an Unflatten) and an MLP.
  for (auto m : {nn::course_cnn(28, 28, {8, 16, 32, 32}, 10, gen), nn::mlp({784, 50, 10}, gen)}) {
    auto r = nn::build_module(nn::describe_module(*m));
    CHECK(r->str() == m->str());
    CHECK(r->state_dict().size() == m->state_dict().size());
  }
}

TEST_CASE("describe_module names a layer it cannot write down") {
  auto m = std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
          std::make_shared<nn::Lambda>([](const Tensor& t) { return t; }, "id")})});
  const std::string e = error_of([&] { nn::describe_module(*m); });
  CHECK(has(e, "describe_module"));
  CHECK(has(e, "\"1.0\""));
  CHECK(has(e, "Lambda"));
  struct Mine : nn::Module {
    Tensor forward(const Tensor& x) override { return x; }
  };
  CHECK(has(error_of([] { nn::describe_module(Mine()); }), "at the top (Module)"));
  // A user's module that calls itself by a library name is not taken for that layer.
  struct FakeRelu : nn::Module {
    Tensor forward(const Tensor& x) override { return x; }
    std::string name() const override { return "ReLU"; }
  };
  CHECK(has(error_of([] { nn::describe_module(FakeRelu()); }), "no description"));
}

TEST_CASE("build_module refuses what it cannot trust, saying where") {
  auto err = [](const json& j) { return error_of([&] { nn::build_module(j); }); };
  const json lin = {{"type", "Linear"}, {"in_features", 4}, {"out_features", 2}, {"bias", true}};
  CHECK(nn::build_module(lin)->str() == nn::Linear(4, 2).str());
  auto with = [&](const char* k, const json& v) {
    json j = lin;
    j[k] = v;
    return json{{"type", "Sequential"}, {"layers", {{{"type", "ReLU"}}, j}}};
  };
  CHECK(has(err(with("in_features", "4")), "layers[1].in_features"));
  CHECK(has(err(with("in_features", 0)), "layers[1].in_features must be >= 1"));
  CHECK(has(err(with("in_features", 2.0)), "in_features"));
  CHECK(has(err(with("bias", 1)), "layers[1].bias must be true or false"));
  CHECK(has(err(with("extra", 1)), "layers[1]: unexpected key \"extra\""));
  json missing = lin;
  missing.erase("bias");
  CHECK(has(err(missing), "missing key \"bias\""));
  CHECK(has(err(json{{"type", "Transformer"}}),
            "unknown layer type \"Transformer\" (known: Sequential, Linear"));
  CHECK(has(err(json::array()), "must be an object"));
  CHECK(has(err(json{{"layers", json::array()}}), "missing key \"type\""));
  CHECK(has(err(json{{"type", "Sequential"}, {"layers", 3}}), "layers"));
  CHECK(has(err(json{{"type", "Conv2d"},
                     {"in_channels", 4},
                     {"out_channels", 6},
                     {"kernel_size", {3}},
                     {"stride", {1, 1}},
                     {"padding", {0, 0}},
                     {"dilation", {1, 1}},
                     {"groups", 1},
                     {"bias", true}}),
            "kernel_size must be a pair"));
  // A layer's own constructor refusing: the path is added.
  CHECK(has(err(json{{"type", "Sequential"},
                     {"layers",
                      {{{"type", "GroupNorm"},
                        {"num_groups", 4},
                        {"num_channels", 6},
                        {"eps", 1e-5},
                        {"affine", true}}}}}),
            "layers[0] (GroupNorm): GroupNorm"));
  CHECK(has(err(json{{"type", "Dropout"}, {"p", 1.5}}), "Dropout"));
}
