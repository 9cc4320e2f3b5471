// The CNN layers: pooling, Dropout (train/eval through a parent), Sigmoid, Tanh, LeakyReLU,
// Flatten's dims, Lambda; their PyTorch-like repr; a small CNN-shaped model end to end.
#include <doctest/doctest.h>

#include <memory>
#include <vector>

#include "autograd/autograd.h"
#include "nn/nn.h"
#include "tensor/creation.h"
#include "tensor/ops.h"
#include "test_util.h"

using namespace tg;

TEST_CASE("CNN layers: str() gives PyTorch's repr") {
  CHECK(nn::MaxPool2d(2).str() ==
        "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)");
  CHECK(nn::MaxPool2d({3, 2}, 1, {1, 0}, 1, true).str() ==
        "MaxPool2d(kernel_size=(3, 2), stride=1, padding=(1, 0), dilation=1, ceil_mode=True)");
  CHECK(nn::AvgPool2d(3, 2, 1).str() == "AvgPool2d(kernel_size=3, stride=2, padding=1)");
  CHECK(nn::AdaptiveAvgPool2d(1).str() == "AdaptiveAvgPool2d(output_size=1)");
  CHECK(nn::AdaptiveAvgPool2d({5, 7}).str() == "AdaptiveAvgPool2d(output_size=(5, 7))");
  CHECK(nn::Dropout().str() == "Dropout(p=0.5, inplace=False)");
  CHECK(nn::Dropout(0.1).str() == "Dropout(p=0.1, inplace=False)");
  CHECK(nn::Sigmoid().str() == "Sigmoid()");
  CHECK(nn::Tanh().str() == "Tanh()");
  CHECK(nn::LeakyReLU().str() == "LeakyReLU(negative_slope=0.01)");
  CHECK(nn::LeakyReLU(0.2).str() == "LeakyReLU(negative_slope=0.2)");
  CHECK(nn::Flatten(0, 2).str() == "Flatten(start_dim=0, end_dim=2)");
  auto id = [](const Tensor& x) { return x; };
  CHECK(nn::Lambda(id).str() == "Lambda()");
  CHECK(nn::Lambda(id, "view").str() == "Lambda(view)");
}

TEST_CASE("pooling layers forward to their ops") {
  Tensor x = arange(16).reshape({1, 1, 4, 4});
  CHECK(nn::MaxPool2d(2)(x).to_vector<float>() == std::vector<float>{5, 7, 13, 15});
  CHECK(nn::AvgPool2d(2)(x).to_vector<float>() == std::vector<float>{2.5f, 4.5f, 10.5f, 12.5f});
  CHECK(nn::AdaptiveAvgPool2d(1)(x).to_vector<float>() == std::vector<float>{7.5f});
  CHECK(nn::MaxPool2d(3, 1, 1)(x).shape() == Shape{1, 1, 4, 4});
  std::string m = test::error_of([&] { nn::MaxPool2d(2)(zeros({4, 4})); });
  CHECK(test::has(m, "max_pool2d"));
  CHECK(test::has(m, "[4, 4]"));
}

TEST_CASE("activations, Flatten's dims and Lambda") {
  Tensor x = tensor({-1.0f, 0.0f, 2.0f});
  CHECK(nn::LeakyReLU(0.5)(x).to_vector<float>() == std::vector<float>{-0.5f, 0, 2});
  CHECK(nn::Sigmoid()(x).to_vector<float>()[1] == 0.5f);
  CHECK(nn::Tanh()(x).to_vector<float>()[1] == 0.0f);
  CHECK(nn::Flatten()(zeros({2, 3, 4, 5})).shape() == Shape{2, 60});
  CHECK(nn::Flatten(2)(zeros({2, 3, 4, 5})).shape() == Shape{2, 3, 20});
  CHECK(nn::Flatten(1, 2)(zeros({2, 3, 4, 5})).shape() == Shape{2, 12, 5});
  nn::Lambda half([](const Tensor& t) { return t * 0.5; });
  CHECK(half(x).to_vector<float>() == std::vector<float>{-0.5f, 0, 1});
  CHECK(test::has(test::error_of([] { nn::Lambda(nullptr); }), "Lambda"));
  CHECK(test::has(test::error_of([] { nn::Dropout(1.0); }), "p must be in [0, 1)"));
}

TEST_CASE("Dropout obeys train() and eval() set on a parent") {
  Generator gen(11);
  auto drop = std::make_shared<nn::Dropout>(0.5, gen);
  nn::Sequential model{
      std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{drop})};
  Tensor x = ones({200});
  CHECK(drop->is_training());
  auto y = model(x).to_vector<float>();
  int zeros_seen = 0;
  for (float v : y) {
    CHECK((v == 0 || v == 2));
    zeros_seen += v == 0;
  }
  CHECK(zeros_seen > 50);
  CHECK(zeros_seen < 150);
  model.eval();
  CHECK_FALSE(drop->is_training());
  CHECK(equal(model(x), x));
  model.train();
  CHECK(drop->is_training());
  CHECK_FALSE(equal(model(x), x));
}

TEST_CASE("a small CNN-shaped model: pool, flatten, linear, gradients reach the weights") {
  Generator gen(5);
  auto lin = std::make_shared<nn::Linear>(2 * 2 * 2, 3, true, gen);
  nn::Sequential model{
      std::make_shared<nn::Lambda>(
          [](const Tensor& t) {
            return reshape(t, {-1, 2, 4, 4});
          },
          "view"),
      std::make_shared<nn::MaxPool2d>(2),
      std::make_shared<nn::LeakyReLU>(0.1),
      std::make_shared<nn::Dropout>(0.25, gen),
      std::make_shared<nn::Flatten>(),
      lin,
      std::make_shared<nn::Tanh>(),
  };
  CHECK(model.str() ==
        "Sequential(\n"
        "  (0): Lambda(view)\n"
        "  (1): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)\n"
        "  (2): LeakyReLU(negative_slope=0.1)\n"
        "  (3): Dropout(p=0.25, inplace=False)\n"
        "  (4): Flatten(start_dim=1, end_dim=-1)\n"
        "  (5): Linear(in_features=8, out_features=3, bias=True)\n"
        "  (6): Tanh()\n"
        ")");
  Tensor x = randn({5, 32}, gen);
  Tensor y = model(x);
  CHECK(y.shape() == Shape{5, 3});
  backward(sum(y));
  REQUIRE(lin->weight.grad().defined());
  CHECK(lin->weight.grad().shape() == Shape{3, 8});
}

TEST_CASE("nn: course_cnn is the course's net, with PyTorch's state-dict names") {
  Generator gen(0);
  auto net = nn::course_cnn(28, 28, {8, 16, 32, 32}, 10, gen);
  CHECK(net->size() == 1 + 4 * 3 + 3);  // view, 4 x (conv, ReLU, BN), pool, flatten, linear
  CHECK(net->str().find("(1): Conv2d(1, 8, kernel_size=(5, 5), stride=(2, 2), padding=(2, 2), "
                        "bias=False)") != std::string::npos);
  CHECK(net->str().find("(4): Conv2d(8, 16, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), "
                        "bias=False)") != std::string::npos);
  const auto sd = net->state_dict();
  for (const char* k : {"1.weight", "3.weight", "3.bias", "3.running_mean", "3.running_var",
                        "3.num_batches_tracked", "15.weight", "15.bias"})
    CHECK_MESSAGE(sd.count(k) == 1, k);
  CHECK(sd.count("1.bias") == 0);  // the convs have no bias: the batchnorm after them has one
  // (N, 784) in, (N, 10) out; 28 -> 14 -> 7 -> 4 -> 2, then the average pool.
  Tensor y = (*net)(randn({3, 784}, gen));
  CHECK(y.shape() == Shape{3, 10});
  CHECK_THROWS_AS(nn::course_cnn(28, 28, {}, 10, gen), Error);
}

TEST_CASE("nn: course_cnn with two convs per stage keeps each stage's resolution") {
  Generator gen(0);
  auto net = nn::course_cnn(28, 28, {8, 16}, 10, gen, 2);
  CHECK(net->size() == 1 + 2 * 6 + 3);  // view, 2 x 2 x (conv, ReLU, BN), pool, flatten, linear
  CHECK(net->str().find("(4): Conv2d(8, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), "
                        "bias=False)") != std::string::npos);
  CHECK(net->str().find("(7): Conv2d(8, 16, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), "
                        "bias=False)") != std::string::npos);
  CHECK(net->str().find("(10): Conv2d(16, 16, kernel_size=(3, 3), stride=(1, 1)") !=
        std::string::npos);
  // Parameters: 8*25 + 16 + 8*8*9 + 16 + 16*8*9 + 32 + 16*16*9 + 32 + 16*10 + 10.
  int64_t params = 0;
  for (const Tensor& p : net->parameters()) params += p.numel();
  CHECK(params == 200 + 16 + 576 + 16 + 1152 + 32 + 2304 + 32 + 170);
  int64_t estimated = 0;
  for (const auto& l : nn::course_cnn_layers(28, 28, {8, 16}, 10, 2)) estimated += l.parameters;
  CHECK(estimated == params);
  CHECK((*net)(randn({2, 784}, gen)).shape() == Shape{2, 10});
  CHECK(test::has(test::error_of([&] { nn::course_cnn(28, 28, {8}, 10, gen, 0); }),
                  "convs_per_stage must be in 1..8"));
}
