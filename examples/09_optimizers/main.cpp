// Course step 09, "optimizers" (fastai notebook 09_optimizers, on the CPU): the optimizer rebuilt
// from parts. A StatefulOptimizer (optim/generic.h) keeps per-parameter state computed by stats
// (average_grad, average_sqr_grad, step_count) and updates with steppers that read it (sgd_step,
// weight_decay, l2_reg, momentum_step, adam_step, lamb_step); the notebook's recipes sgd_opt,
// momentum_opt, adam_opt and lamb_opt are a few lines each. Each recipe trains the notebook's MLP
// from the same init; then the recipe is checked against the fused optimizer of the library that
// computes the same update in one pass, and the library's own optimizers (SGD, Adam, AdamW,
// RMSprop, LAMB) are shown as the recipes they are, Adam's fused kernel against its recipe.
//
//   build/bin/09_optimizers [--limit N] [--data DIR] [--seed S] [--bs B] [--epochs E]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "examples/common/course.h"
#include "learner/callbacks/callbacks.h"
#include "learner/learner.h"
#include "optim/adam.h"
#include "optim/generic.h"
#include "optim/optimizer.h"

namespace {

using Recipe = std::function<std::shared_ptr<tg::optim::Optimizer>(const std::vector<tg::Tensor>&)>;

struct Result {
  double train_loss = 0, valid_accuracy = 0;
  std::shared_ptr<tg::nn::Sequential> model;
};

Result fit(const course::Data& data, const course::Options& o, const Recipe& make_opt) {
  auto [model, sgd] = course::get_model(data.d, o.nh, o.lr, o.seed);
  (void)sgd;  // the notebook's get_model makes an SGD; every row here brings its own
  tg::Learner learn(model, make_opt(model->parameters()), tg::cross_entropy,
                    tg::make_databunch(data.d, o.bs, o.seed), {.metrics = {tg::accuracy_metric()}});
  auto avg = std::make_shared<tg::AvgStats>();
  learn.fit(o.epochs, {avg});
  return {avg->history.back().at("train_loss"), avg->history.back().at("valid_accuracy"), model};
}

// The largest difference between two models' weights.
double max_diff(const tg::nn::Module& a, const tg::nn::Module& b) {
  double worst = 0;
  const auto pa = a.parameters(), pb = b.parameters();
  for (size_t i = 0; i < pa.size(); ++i) {
    const auto va = pa[i].to_vector<float>(), vb = pb[i].to_vector<float>();
    for (size_t k = 0; k < va.size(); ++k)
      worst = std::max(worst, double(std::fabs(va[k] - vb[k])));
  }
  return worst;
}

template <typename Opt>
std::shared_ptr<tg::optim::Optimizer> shared(Opt opt) {
  return std::make_shared<Opt>(std::move(opt));
}

}  // namespace

int main(int argc, char** argv) {
  course::Options o;
  course::Flags flags("09_optimizers",
                      "the notebook's optimizers built from stats and steppers (sgd_opt, "
                      "momentum_opt, adam_opt, lamb_opt), each training the MLP from the same "
                      "init, and each checked against the library's fused optimizer.");
  flags.data(o).training(o);
  if (auto rc = flags.parse_or_exit(argc, argv)) return *rc;

  return course::run([&] {
    namespace op = tg::optim;
    const course::Data data = course::load_data(o);
    struct Row {
      std::string name;
      Recipe recipe;
    };
    const std::vector<Row> rows{
        {"sgd_opt, lr 0.2",
         [](const auto& ps) {
           return shared(op::sgd_opt(ps, {{"lr", 0.2}}));
         }},
        {"sgd_opt, lr 0.2, weight_decay 1e-2",
         [](const auto& ps) {
           return shared(op::sgd_opt(ps, {{"lr", 0.2}, {"weight_decay", 1e-2}}));
         }},
        {"momentum_opt, lr 0.02, momentum 0.9",
         [](const auto& ps) {
           return shared(op::momentum_opt(ps, {{"lr", 0.02}, {"momentum", 0.9}}));
         }},
        {"adam_opt, lr 3e-3",
         [](const auto& ps) {
           return shared(op::adam_opt(ps, {{"lr", 3e-3}}));
         }},
        {"adam_opt, lr 3e-3, weight_decay 1e-2 (AdamW)",
         [](const auto& ps) {
           return shared(op::adam_opt(ps, {{"lr", 3e-3}, {"weight_decay", 1e-2}}));
         }},
        {"lamb_opt, lr 3e-3",
         [](const auto& ps) {
           return shared(op::lamb_opt(ps, {{"lr", 3e-3}}));
         }},
    };
    std::printf("\n%-46s %10s %14s\n", "optimizer", "train_loss", "valid_accuracy");
    for (const Row& r : rows) {
      const Result res = fit(data, o, r.recipe);
      std::printf("%-46s %10.4f %14.4f\n", r.name.c_str(), res.train_loss, res.valid_accuracy);
    }

    // The recipe and the fused optimizer: the same update, so the same weights after the fit up
    // to float rounding.
    const Result generic = fit(data, o, [](const auto& ps) {
      return shared(op::momentum_opt(ps, {{"lr", 0.02}, {"momentum", 0.9}}));
    });
    const Result fused = fit(data, o, [](const auto& ps) {
      return std::make_shared<op::SGD>(ps, op::SGDOptions{.lr = 0.02, .momentum = 0.9});
    });
    std::printf("\nmomentum_opt against optim::SGD(momentum 0.9): largest weight difference %.2g\n",
                max_diff(*generic.model, *fused.model));

    // The library's optimizers are recipes too, with PyTorch's names, plus a fused kernel that
    // computes the recipe in one pass; set_fused(false) runs the recipe's loops instead.
    const std::vector<tg::Tensor> none;
    const std::vector<std::shared_ptr<op::StatefulOptimizer>> library{
        std::make_shared<op::SGD>(none, op::SGDOptions{.momentum = 0.9}),
        std::make_shared<op::Adam>(none), std::make_shared<op::AdamW>(none),
        std::make_shared<op::RMSprop>(none), std::make_shared<op::LAMB>(none)};
    std::printf("\nthe library's optimizers as recipes:\n");
    for (const auto& opt : library)
      std::printf("  %-8s %s\n", std::string(opt->name()).c_str(), opt->recipe().c_str());
    auto adam = [](bool fused_kernel) {
      return [fused_kernel](const auto& ps) {
        auto opt = std::make_shared<op::Adam>(ps, op::AdamOptions{.lr = 3e-3});
        opt->set_fused(fused_kernel);
        return std::shared_ptr<op::Optimizer>(opt);
      };
    };
    const Result adam_fused = fit(data, o, adam(true)), adam_recipe = fit(data, o, adam(false));
    std::printf("optim::Adam, fused kernel against its recipe: largest weight difference %.2g\n",
                max_diff(*adam_fused.model, *adam_recipe.model));
    return 0;
  });
}
