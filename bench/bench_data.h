// The data the epoch benchmarks train on (bench_train, bench_libtorch): random images of
// MNIST's shape, for a machine without the real data sets (the speed is the same).
#pragma once

#include "learner/data/datasets.h"
#include "tensor/creation.h"
#include "tensor/random.h"

namespace tg::bench {

inline ImageData random_mnist_like() {
  Generator gen(1);
  ImageData r;
  r.x_train = randn({60000, 784}, gen);
  r.y_train = randint(0, 10, {60000}, gen);
  r.x_valid = randn({10000, 784}, gen);
  r.y_valid = randint(0, 10, {10000}, gen);
  r.c = 10;
  return r;
}

}  // namespace tg::bench
