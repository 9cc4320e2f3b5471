// Course step 07a, "LSUV" (fastai notebook 07a_lsuv, on the CPU): instead of working out the
// right init by hand, measure it. Layer-sequential unit-variance init (tg::nn::lsuv_init) runs
// one batch through the net and, conv by conv, rescales each conv (bias <- (bias - mean) / std,
// weight /= std) until its output has mean 0 and std 1 on that batch. The course's CNN without
// batchnorm (06c's) is trained for an epoch from PyTorch's default init, and from the same init
// after LSUV: the per-layer means and stds before and after LSUV, and both accuracies.
//
//   build/bin/07a_lsuv [--limit N] [--data DIR] [--seed S] [--bs B] [--lr X] [--epochs E]
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "examples/common/course.h"
#include "learner/callbacks/callbacks.h"
#include "learner/learner.h"
#include "nn/hooks.h"
#include "nn/layers.h"
#include "nn/lsuv.h"

namespace {

// 06c's net: a view to (N, 1, side, side), four Conv2d (bias) + ReLU blocks (8, 16, 32, 32
// channels), average pool, Linear; PyTorch's default init. relus: the ReLU of each block.
std::shared_ptr<tg::nn::Sequential> cnn(int64_t side, int64_t classes, tg::Generator& gen,
                                        std::vector<std::shared_ptr<tg::nn::Module>>& relus) {
  auto model = std::make_shared<tg::nn::Sequential>();
  model->push_back(std::make_shared<tg::nn::Lambda>(
      [side](const tg::Tensor& x) {
        return tg::reshape(x, {-1, 1, side, side});
      },
      "view"));
  int64_t in = 1;
  for (int64_t out : {8, 16, 32, 32}) {
    const int64_t k = in == 1 ? 5 : 3;
    model->push_back(std::make_shared<tg::nn::Conv2d>(in, out, k, 2, k / 2, 1, 1, true, gen));
    auto relu = std::make_shared<tg::nn::ReLU>();
    model->push_back(relu);
    relus.push_back(relu);
    in = out;
  }
  model->push_back(std::make_shared<tg::nn::AdaptiveAvgPool2d>(1));
  model->push_back(std::make_shared<tg::nn::Flatten>());
  model->push_back(std::make_shared<tg::nn::Linear>(in, classes, true, gen));
  return model;
}

struct Run {
  double valid_accuracy = 0;
  std::vector<double> first_relu_std;  // each ReLU's output std on the first training batch
};

Run fit(const course::Data& data, const course::Options& o, bool lsuv) {
  tg::Generator gen(o.seed);
  std::vector<std::shared_ptr<tg::nn::Module>> relus;
  const auto side = static_cast<int64_t>(std::lround(std::sqrt(data.d.x_train.size(1))));
  auto model = cnn(side, data.d.c, gen, relus);
  if (lsuv) {
    // The convs only (the course's ConvLayers), not the classifier; the first bs training
    // images as the batch.
    std::vector<tg::nn::LsuvLayer> layers = tg::nn::lsuv_layers(*model);
    layers.pop_back();  // the Linear
    const tg::Tensor xb = data.d.x_train.narrow(0, 0, std::min(o.bs, data.d.x_train.size(0)));
    std::printf("\nLSUV on %lld images, each conv's output (tol 1e-3):\n",
                static_cast<long long>(xb.size(0)));
    std::printf("  %-6s %24s %24s %6s\n", "conv", "before: mean / std", "after: mean / std",
                "steps");
    for (const tg::nn::LsuvResult& r : tg::nn::lsuv_init(*model, xb, layers))
      std::printf("  %-6s %11.4f / %-10.4f %11.4f / %-10.4f %4d%s\n", r.name.c_str(), r.mean_before,
                  r.std_before, r.mean_after + 0.0, r.std_after, r.iterations,
                  r.converged ? "" : " (not converged)");
  }
  auto opt =
      std::make_shared<tg::optim::SGD>(model->parameters(), tg::optim::SGDOptions{.lr = o.lr});
  tg::nn::ActivationStats stats(relus, 0.5, {.bins = 0});
  tg::Learner learn(model, opt, tg::cross_entropy, tg::make_databunch(data.d, o.bs, o.seed),
                    {.metrics = {tg::accuracy_metric()}});
  auto avg = std::make_shared<tg::AvgStats>();
  std::printf("%s:\n", lsuv ? "after LSUV" : "PyTorch's default init");
  learn.fit(o.epochs, {avg});
  Run r;
  r.valid_accuracy = avg->history.back().at("valid_accuracy");
  for (const auto& s : stats.stds()) r.first_relu_std.push_back(s[0]);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  course::Options o;
  o.lr = 0.4;  // 06c's
  course::Flags flags("07a_lsuv",
                      "the course's CNN without batchnorm from PyTorch's default init and after "
                      "LSUV: per-conv output mean and std before and after, and the accuracy "
                      "after a short fit.");
  flags.data(o).training(o);
  if (auto rc = flags.parse_or_exit(argc, argv)) return *rc;

  return course::run([&] {
    const course::Data data = course::load_data(o);
    std::printf("\n");
    const Run plain = fit(data, o, false);
    const Run lsuv = fit(data, o, true);
    std::printf("\neach ReLU's output std on the first training batch:\n");
    for (size_t i = 0; i < plain.first_relu_std.size(); ++i)
      std::printf("  layer %zu   default %.4f   LSUV %.4f\n", i + 1, plain.first_relu_std[i],
                  lsuv.first_relu_std[i]);
    std::printf("\nvalid_accuracy after %lld epoch(s): default init %.4f, LSUV %.4f\n",
                static_cast<long long>(o.epochs), plain.valid_accuracy, lsuv.valid_accuracy);
    return 0;
  });
}
