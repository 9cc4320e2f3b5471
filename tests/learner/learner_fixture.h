// A tiny Learner for the callback and event tests: a 4-8-3 MLP on synthetic data, 4 training
// examples in batches of 2 and 2 validation examples in one batch (unless asked otherwise).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "learner/learner.h"
#include "nn/layers.h"
#include "optim/optimizer.h"
#include "tensor/creation.h"

namespace tg::test {

inline DataBunch tiny_data(int64_t n_train = 4, int64_t n_valid = 2, int64_t bs = 2,
                           uint64_t seed = 3) {
  Generator gen(seed);
  auto train = std::make_shared<Dataset>(randn({n_train, 4}, gen), randint(0, 3, {n_train}, gen));
  auto valid = std::make_shared<Dataset>(randn({n_valid, 4}, gen), randint(0, 3, {n_valid}, gen));
  DataBunch db;
  db.train_dl = DataLoader(train, {.batch_size = bs, .shuffle = true, .seed = seed});
  db.valid_dl = DataLoader(valid, {.batch_size = bs});
  db.c = 3;
  return db;
}

inline std::unique_ptr<Learner> tiny_learner(std::vector<std::shared_ptr<Callback>> cbs = {},
                                             DataBunch data = tiny_data(), double lr = 0.1) {
  Generator gen(5);
  auto model = nn::mlp({4, 8, 3}, gen);
  auto opt = std::make_shared<optim::SGD>(model->parameters(), optim::SGDOptions{.lr = lr});
  return std::make_unique<Learner>(
      model, opt, [](const Tensor& p, const Tensor& y) { return cross_entropy(p, y); },
      std::move(data), LearnerOptions{.metrics = {accuracy_metric()}}, std::move(cbs));
}

}  // namespace tg::test
