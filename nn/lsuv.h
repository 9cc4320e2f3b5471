// LSUV, layer-sequential unit-variance init (Mishkin & Matas 2015; the course's notebook 07a):
// for one layer after another, in forward order, run a batch through the model, watch that
// layer's output with a forward hook, and rescale the layer until the output has mean ~0 and
// std ~1 on the batch, then move to the next layer (which now sees normalised inputs).
//
//   tg::Tensor xb = first_batch_of_training_data;
//   auto layers = tg::nn::lsuv_layers(*model);            // every Conv2d and Linear
//   layers.pop_back();                                    // leave the logits alone, say
//   for (const auto& r : tg::nn::lsuv_init(*model, xb, layers))
//     std::printf("%s: std %.3f -> %.3f\n", r.name.c_str(), r.std_before, r.std_after);
//
// One step of the update: with m and s the output's mean and std, bias <- (bias - m) / s and
// weight <- weight / s, which maps a linear output y to (y - m) / s exactly; so a layer whose
// own output is watched is done after one step (the second forward confirms it). When the
// watched output is further on (a ReLU after the conv, as the course's ConvLayer), the step is
// not exact and it repeats, up to max_iters. Without a bias only the std is fitted.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nn/module.h"

namespace tg::nn {

struct LsuvLayer {
  std::string name;               // for the report: the path, "3" or "body.1.conv"
  std::shared_ptr<Module> watch;  // whose output is normalised (called through operator())
  Tensor weight, bias;            // rescaled in place; bias may be undefined
};

struct LsuvOptions {
  double tol = 1e-3;   // |mean| <= tol and |std - 1| <= tol ends a layer
  int max_iters = 10;  // updates per layer at most
};

struct LsuvResult {
  std::string name;
  double mean_before = 0, std_before = 0;  // of the watched output, before any update
  double mean_after = 0, std_after = 0;    // after the last update
  int iterations = 0;                      // updates made
  bool converged = false;                  // within tol (mean only checked with a bias)
};

// Every Conv2d and Linear below model (depth first, in registration order), each watching its
// own output, named by its path of child names ("0", "block.2").
std::vector<LsuvLayer> lsuv_layers(const Module& model);

// Runs LSUV over layers, in the given order, on the batch xb (model(xb) must run). Records no
// gradients; leaves the model's training mode as it was (a BatchNorm in training mode updates
// its running statistics at each forward, as in the course). Throws when an output's std is 0
// or not finite (nothing to rescale).
std::vector<LsuvResult> lsuv_init(Module& model, const Tensor& xb,
                                  const std::vector<LsuvLayer>& layers, LsuvOptions options = {});
// lsuv_init over lsuv_layers(model).
std::vector<LsuvResult> lsuv_init(Module& model, const Tensor& xb, LsuvOptions options = {});

}  // namespace tg::nn
