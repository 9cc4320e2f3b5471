// Course step 10b, "mixup and label smoothing" (fastai notebook 10b_mixup_label_smoothing, on the
// CPU): two ways of telling the model not to be so sure. Label smoothing
// (tg::label_smoothing_cross_entropy, nn::CrossEntropyLoss{.label_smoothing}) aims at 1 - eps
// for the right class and eps / c spread over all classes instead of a hard 1; Mixup (the
// tg::Mixup callback) trains on blends lambda * x_i + (1 - lambda) * x_j of two images, with the
// loss lambda * loss(pred, y_i) + (1 - lambda) * loss(pred, y_j). The program works one
// smoothed loss out by hand, shows Mixup's first draws, then trains the course CNN with plain
// cross-entropy, with label smoothing and with Mixup from the same init.
//
//   build/bin/10b_mixup [--limit N] [--data DIR] [--seed S] [--bs B] [--lr X] [--epochs E]
//                       [--alpha A] [--eps E]
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "examples/common/course.h"
#include "learner/callbacks/callbacks.h"
#include "learner/learner.h"
#include "nn/loss.h"
#include "tensor/creation.h"

namespace {

// Mixup's lambda of each training batch, read after Mixup (order -5) has drawn it.
struct Lambdas : tg::Callback {
  int order() const override { return 0; }
  void before_batch(tg::Learner& l) override {
    if (const auto* m = l.cb<tg::Mixup>(); m && l.training && m->active) seen.push_back(m->lambda);
  }
  std::vector<double> seen;
};

double fit(const course::Data& data, const course::Options& o, int64_t side, tg::LossFn loss,
           std::vector<std::shared_ptr<tg::Callback>> cbs) {
  tg::Generator gen(o.seed);
  auto model = tg::nn::course_cnn(side, side, {8, 16, 32, 32}, data.d.c, gen);
  auto opt = std::make_shared<tg::optim::SGD>(model->parameters(),
                                              tg::optim::SGDOptions{.lr = o.lr, .momentum = 0.9});
  tg::Learner learn(model, opt, std::move(loss), tg::make_databunch(data.d, o.bs, o.seed),
                    {.metrics = {tg::accuracy_metric()}});
  auto avg = std::make_shared<tg::AvgStats>();
  cbs.push_back(avg);
  cbs.push_back(std::make_shared<tg::ParamScheduler>("lr", tg::one_cycle_lr(o.lr)));
  learn.fit(o.epochs, cbs);
  return avg->history.back().at("valid_accuracy");
}

}  // namespace

int main(int argc, char** argv) {
  course::Options o;
  o.epochs = 3;
  o.lr = 0.2;
  double alpha = 0.4, eps = 0.1;
  course::Flags flags("10b_mixup",
                      "label smoothing worked out by hand, Mixup's first draws, then the course "
                      "CNN trained with plain cross-entropy, with label smoothing and with Mixup.");
  flags.data(o).training(o);
  flags.real("--alpha", alpha, "Mixup's alpha: lambda ~ Beta(alpha, alpha)");
  flags.real("--eps", eps, "label smoothing, in [0, 1)", tg::cli::Range::unit_interval);
  if (auto rc = flags.parse_or_exit(argc, argv)) return *rc;

  return course::run([&] {
    // One row of logits [2, 0, 0], label 0, by hand: log_softmax = [2, 0, 0] - log(e^2 + 2).
    const double lse = std::log(std::exp(2.0) + 2), nll = lse - 2;
    const double uniform = (3 * lse - 2) / 3;  // the mean over classes of -log_softmax
    const double by_hand = (1 - eps) * nll + eps * uniform;
    const tg::Tensor logits = tg::tensor({2.0, 0.0, 0.0}, tg::DType::f64).reshape({1, 3});
    const tg::Tensor label = tg::tensor({0}, tg::DType::i32);
    const double lib = tg::label_smoothing_cross_entropy(logits, label, eps).item<double>();
    std::printf(
        "label smoothing %.2f of logits [2, 0, 0], label 0: by hand %.6f, library %.6f "
        "(plain cross-entropy %.6f)\n",
        eps, by_hand, lib, nll);

    const course::Data data = course::load_data(o);
    const auto side = static_cast<int64_t>(std::lround(std::sqrt(data.d.x_train.size(1))));
    TG_CHECK(side * side == data.d.x_train.size(1), "10b_mixup", "the images must be square, got ",
             data.d.x_train.size(1), " pixels");

    std::printf("\n");
    const double plain = fit(data, o, side, tg::cross_entropy, {});
    const double smoothed =
        fit(data, o, side, tg::nn::CrossEntropyLoss{.label_smoothing = eps}, {});
    auto lambdas = std::make_shared<Lambdas>();
    const double mixed = fit(data, o, side, tg::cross_entropy,
                             {std::make_shared<tg::Mixup>(alpha, o.seed), lambdas});
    std::printf("\nMixup's first lambdas (Beta(%.2g, %.2g), folded to >= 0.5):", alpha, alpha);
    for (size_t i = 0; i < std::min<size_t>(6, lambdas->seen.size()); ++i)
      std::printf(" %.3f", lambdas->seen[i]);
    std::printf(
        "\n\nvalid_accuracy after %lld epoch(s): cross-entropy %.4f, label smoothing %.4f, "
        "Mixup %.4f\n",
        static_cast<long long>(o.epochs), plain, smoothed, mixed);
    return std::abs(by_hand - lib) < 1e-12 ? 0 : 1;
  });
}
