// A model's architecture as a small JSON document the library rebuilds it from: what
// tg::export_learner writes beside the weights (learner/io/export.h), so a trained model is one
// file to ship.
//
//   nlohmann::json arch = tg::nn::describe_module(*model);
//   // {"type": "Sequential", "layers": [{"type": "Linear", "in_features": 784,
//   //   "out_features": 50, "bias": true}, {"type": "ReLU"}, ...]}
//   std::shared_ptr<tg::nn::Module> same = tg::nn::build_module(arch);   // fresh weights
//   same->load_state_dict(model->state_dict());
//
// Every layer of nn/layers.h is described by its constructor's arguments, under PyTorch's
// argument names: Sequential (its "layers", nested Sequentials too), Linear, Conv2d, ReLU,
// Sigmoid, Tanh, LeakyReLU, Flatten, Unflatten, Dropout, MaxPool2d, AvgPool2d,
// AdaptiveAvgPool2d, BatchNorm1d, BatchNorm2d, LayerNorm and GroupNorm. A Lambda (a C++
// function) or a Module of your own has no description: describe_module names it, with its
// path in the model, in a tg::Error. (The course CNN's view is an Unflatten for that reason.)
//
// build_module trusts nothing: an unknown type, a missing or unexpected key, a value of the
// wrong kind or out of range is a tg::Error naming the layer's path ("layers[3].kernel_size")
// and the problem; the layers' own constructors then check their arguments as usual.
#pragma once

#include <memory>

#include <nlohmann/json.hpp>

#include "nn/module.h"

namespace tg::nn {

nlohmann::json describe_module(const Module& m);
std::shared_ptr<Module> build_module(const nlohmann::json& j);

}  // namespace tg::nn
