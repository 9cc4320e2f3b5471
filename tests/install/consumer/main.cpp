// A program outside the tapegrad tree, built against the installed package: five SGD steps on a
// two-layer MLP must lower the loss on the CPU, and on the GPU too when the installed build has
// the CUDA backend and this machine a device (the program itself needs no CUDA toolkit).
#include <cstdio>
#include <string>

#include "autograd/autograd.h"
#include "nn/nn.h"
#include "optim/optimizer.h"
#include "tensor/creation.h"
#include "tensor/cuda.h"

namespace {

// Five steps on `device`; prints "consumer <what> ok: loss a -> b" and returns true when the
// loss fell.
bool train(tg::Device device, const char* what) {
  tg::Generator gen(7);
  auto model = tg::nn::mlp({4, 8, 3}, gen);
  model->to(device);
  tg::optim::SGD opt(model->parameters(), {.lr = 0.5});
  tg::Tensor x = tg::randn({16, 4}, gen).to(device);
  tg::Tensor y = tg::randint(0, 3, {16}, gen).to(device);
  float first = 0, last = 0;
  for (int i = 0; i < 5; ++i) {
    opt.zero_grad();
    tg::Tensor loss = tg::cross_entropy((*model)(x), y);
    tg::backward(loss);
    opt.step();
    (i == 0 ? first : last) = loss.item<float>();
  }
  if (!(last < first)) {
    std::printf("consumer %s failed: loss did not fall (%f -> %f)\n", what, first, last);
    return false;
  }
  std::printf("consumer %s ok: loss %.4f -> %.4f\n", what, first, last);
  return true;
}

}  // namespace

int main() {
  if (!train(tg::Device::cpu(), "cpu")) return 1;
  if (!tg::cuda::is_available()) {
    std::printf("consumer cuda: not available (%s)\n", tg::cuda::unavailable_reason().c_str());
    return 0;
  }
  return train(tg::Device::cuda(), "cuda") ? 0 : 1;
}
