// The README's example: a two-layer MLP, one forward, one backward, one SGD step.
#include <cstdio>
#include <string>

#include "apps/cli/flags.h"
#include "autograd/autograd.h"
#include "base/error.h"
#include "nn/nn.h"
#include "optim/optimizer.h"
#include "tensor/creation.h"

int main(int argc, char** argv) {
  tg::cli::Flags flags("00_quickstart", "the README's example; it takes no flags");
  if (auto rc = flags.parse_or_exit(argc, argv)) return *rc;  // -h: the help; anything else: 2

  try {  // a tg::Error (bad shapes, a bad TG_GEMM_ISA, ...) names the problem; exit 1
    tg::Generator gen(0);
    auto model = tg::nn::mlp({784, 50, 10}, gen);  // Linear(784, 50), ReLU, Linear(50, 10)
    tg::optim::SGD opt(model->parameters(), {.lr = 0.1, .momentum = 0.9});

    tg::Tensor x = tg::randn({64, 784}, gen);      // a batch of 64 "images"
    tg::Tensor y = tg::randint(0, 10, {64}, gen);  // int32 labels

    tg::Tensor loss = tg::cross_entropy((*model)(x), y);  // forward, recorded on the tape
    opt.zero_grad();
    tg::backward(loss);  // gradients into every parameter's .grad()
    opt.step();          // p -= lr * (momentum-smoothed) grad

    tg::Tensor after = tg::cross_entropy((*model)(x), y);
    std::printf("%s\nloss %.4f -> %.4f after one step\n", model->str().c_str(), loss.item<float>(),
                after.item<float>());
    return after.item<float>() < loss.item<float>() ? 0 : 1;
  } catch (const tg::Error& e) {
    std::fprintf(stderr, "00_quickstart: error: %s\n", e.what());
    return 1;
  }
}
