// The data the benchmarks run on: random images of MNIST's shape for the epoch benchmarks
// (bench_train, bench_libtorch), for a machine without the real data sets (the speed is the
// same); the wide MLP's parameters with fixed gradients and the optimizers for the optimizer
// steps (bench_optim, bench_libtorch).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "base/error.h"
#include "learner/data/datasets.h"
#include "optim/adam.h"
#include "optim/optimizer.h"
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

inline int64_t total_numel(const std::vector<Tensor>& ts) {
  int64_t n = 0;
  for (const Tensor& t : ts) n += t.numel();
  return n;
}

// The optimizer a step benchmark times, by its row name (SGD_momentum, Adam, AdamW, RMSprop,
// LAMB), with the hyper-parameters bench_optim and bench_libtorch both use: small steps, so
// the weights stay near their start however many steps are timed.
inline std::unique_ptr<optim::StatefulOptimizer> make_optimizer(const std::string& name,
                                                                const std::vector<Tensor>& ps) {
  namespace op = optim;
  if (name == "SGD_momentum")
    return std::make_unique<op::SGD>(ps, op::SGDOptions{.lr = 1e-4, .momentum = 0.9});
  if (name == "Adam") return std::make_unique<op::Adam>(ps, op::AdamOptions{.lr = 1e-5});
  if (name == "AdamW") return std::make_unique<op::AdamW>(ps, op::AdamWOptions{.lr = 1e-5});
  if (name == "RMSprop") return std::make_unique<op::RMSprop>(ps, op::RMSpropOptions{.lr = 1e-5});
  if (name == "LAMB") return std::make_unique<op::LAMB>(ps, op::LAMBOptions{.lr = 1e-5});
  TG_FAIL("bench", "no optimizer row named '", name, "'");
}

}  // namespace tg::bench
