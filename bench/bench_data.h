// The data the benchmarks run on: random images of MNIST's shape for the epoch benchmarks
// (bench_train, bench_libtorch), for a machine without the real data sets (the speed is the
// same); the wide MLP's parameters with fixed gradients for the optimizer steps (bench_optim,
// bench_libtorch).
#pragma once

#include <vector>
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

// The parameters of the wide MLP (784-512-512-10: 669,706 floats in 6 tensors, PyTorch's
// [out, in] layout), each with a gradient, from a fixed seed.
inline std::vector<Tensor> wide_mlp_params() {
  const std::vector<Shape> shapes = {{512, 784}, {512}, {512, 512}, {512}, {10, 512}, {10}};
  Generator gen(1);
  std::vector<Tensor> ps;
  for (const Shape& s : shapes) {
    Tensor p = (randn(s, gen) * 0.05).detach().requires_grad_();
    p.set_grad((randn(s, gen) * 0.01).detach());
    ps.push_back(p);
  }
  return ps;
}

}  // namespace tg::bench
