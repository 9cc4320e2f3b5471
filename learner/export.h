// A trained model as one file to ship (fastai's learn.export / load_learner):
//
//   tg::export_learner(learn, "model.safetensors");      // architecture, weights, normalisation
//   tg::LoadedLearner m = tg::load_learner("model.safetensors");
//   tg::Prediction p = m.predict(raw_image);             // p.label, p.probs
//
// (`export` is a C++ keyword, hence a free function rather than learn.export.)
//
// The file is a tapegrad checkpoint (learner/io/checkpoint.h: "model.<name>" tensors, and
// "optim.<key>" ones when the optimizer is kept) whose metadata also holds what rebuilding and
// using the model needs, each value JSON text:
//   "learner.architecture"  nn::describe_module(model) (nn/describe.h)
//   "learner.input_shape"   one item's shape, e.g. [784]
//   "learner.normalize"     {"mean": m, "std": s}: what predict applies to a raw item
//   "learner.vocab"         the class names, [] when unnamed
//   "learner.activation"    "softmax" (a cross-entropy Learner) or "none"
// so load_checkpoint and the trainer's --resume read it like any checkpoint, and PyTorch reads
// its weights with safetensors.torch.load_file (strip the "model." prefix). Written atomically.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "learner/inference.h"
#include "learner/io/checkpoint.h"
#include "learner/learner.h"

namespace tg {

// The metadata above for learn (its model must be describable: nn/describe.h says which).
Metadata learner_metadata(const Learner& learn);
// with_optimizer: keep the optimizer's state too (the trainer's --save does, for --resume).
void export_learner(const Learner& learn, const std::string& path, bool with_optimizer = false,
                    const Metadata& extra = {});

// What load_learner gives back: the rebuilt model with its weights (in eval mode, on the CPU),
// and what predict needs.
struct LoadedLearner {
  std::shared_ptr<nn::Module> model;
  Shape input_shape;
  Normalization norm;
  std::vector<std::string> vocab;
  std::function<Tensor(const Tensor&)> activation;  // empty for "none"
  Metadata meta;                                    // the file's other metadata
  // One raw item (pixels as read from the files) or a batch of one.
  Prediction predict(const Tensor& item) const;
  // A batch of raw items (n, input_shape...): the activations' output (n, classes).
  Tensor predict_batch(const Tensor& items) const;
};
// Every metadata field is checked (missing, not JSON, wrong kind: a tg::Error naming the file
// and the key), then the model is rebuilt and its weights loaded strictly (every name and shape
// must match the architecture).
LoadedLearner load_learner(const std::string& path);

}  // namespace tg
