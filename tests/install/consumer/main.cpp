// A program outside the tapegrad tree, built against the installed package: one SGD step on a
// two-layer MLP must lower the loss.
#include <cstdio>

#include "autograd/autograd.h"
#include "nn/nn.h"
#include "optim/optimizer.h"
#include "tensor/creation.h"

int main() {
  tg::Generator gen(7);
  auto model = tg::nn::mlp({4, 8, 3}, gen);
  tg::optim::SGD opt(model->parameters(), {.lr = 0.5});
  tg::Tensor x = tg::randn({16, 4}, gen);
  tg::Tensor y = tg::randint(0, 3, {16}, gen);
  float first = 0, last = 0;
  for (int i = 0; i < 5; ++i) {
    opt.zero_grad();
    tg::Tensor loss = tg::cross_entropy((*model)(x), y);
    tg::backward(loss);
    opt.step();
    (i == 0 ? first : last) = loss.item<float>();
  }
  if (!(last < first)) {
    std::printf("consumer failed: loss did not fall (%f -> %f)\n", first, last);
    return 1;
  }
  std::printf("consumer ok: loss %.4f -> %.4f\n", first, last);
  return 0;
}
