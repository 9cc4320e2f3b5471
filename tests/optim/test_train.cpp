// End to end: a 4-32-3 MLP trained with SGD + momentum and cross-entropy on a small synthetic
// problem whose classes are linearly separable (label = argmax of x @ W_true), fixed seeds.
#include <doctest/doctest.h>

#include <vector>

#include "autograd/autograd.h"
#include "nn/nn.h"
#include "optim/optimizer.h"
#include "tensor/creation.h"

using namespace tg;

namespace {

// 256 points in 4-d, labelled by which of three fixed directions they lean to most.
std::pair<Tensor, Tensor> make_data(Generator& gen) {
  const int n = 256;
  const double w_true[4][3] = {{1, -1, 0}, {0.5, 1, -1}, {-1, 0.5, 1}, {0, -0.5, 0.5}};
  Tensor x = randn({n, 4}, gen);
  std::vector<float> xs = x.to_vector<float>();
  std::vector<int32_t> labels(n);
  for (int i = 0; i < n; ++i) {
    double best = -1e9;
    for (int c = 0; c < 3; ++c) {
      double s = 0;
      for (int j = 0; j < 4; ++j) s += xs[i * 4 + j] * w_true[j][c];
      if (s > best) best = s, labels[i] = c;
    }
  }
  return {x, from_vector<int32_t>(labels)};
}

}  // namespace

TEST_CASE("an MLP trained with SGD drives the loss down on a separable problem") {
  Generator gen(2024);
  auto [x, y] = make_data(gen);
  auto model = nn::mlp({4, 32, 3}, gen);
  optim::SGD opt(model->parameters(), {.lr = 0.1, .momentum = 0.9});
  std::vector<double> losses;
  for (int step = 0; step < 150; ++step) {
    opt.zero_grad();
    Tensor loss = cross_entropy((*model)(x), y);
    losses.push_back(loss.item<double>());
    backward(loss);
    opt.step();
  }
  CHECK(losses.front() > 0.9);  // about log(3) = 1.10 at the start
  CHECK(losses.back() < 0.15);
  CHECK(losses.back() < losses[50]);
  NoGrad guard;
  double acc = nn::functional::accuracy((*model)(x), y).item<double>();
  CHECK(acc > 0.95);
  MESSAGE("loss ", losses.front(), " -> ", losses.back(), ", accuracy ", acc);
}
