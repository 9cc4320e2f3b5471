// What a model's training run needs in memory, estimated from a description of its layers
// before anything is allocated, so that a run that cannot fit is refused with a figure instead
// of growing until the OS kills it (nn::mlp, the trainer).
//
//   auto layers = tg::nn::mlp_layers({784, 256, 10});        // Linear, ReLU, Linear
//   tg::nn::MemoryEstimate e = tg::nn::estimate_memory(
//       layers, {.inputs = 784, .batch = 64, .eval_batch = 1024, .optimizer_buffers = 1});
//   e.total();                                                // bytes
//
// A layer is described by its parameter count and its output elements per example; a new
// kind of layer (a convolution) adds a function that returns its LayerMemory. Every count is
// computed with overflow-checked int64 arithmetic: a count that does not fit is a tg::Error
// naming the layer, never a wrapped number.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tensor/dtype.h"

namespace tg::nn {

// One layer as the estimate sees it.
struct LayerMemory {
  std::string name;        // for messages: "layer 0 (Linear 784 -> 256)"
  int64_t parameters = 0;  // elements of its parameters (weight and bias)
  int64_t outputs = 0;     // elements of its output, per example
};

// An MLP's layers as nn::mlp builds them: Linear, ReLU, ..., Linear. Checks the sizes as mlp
// does (at least two, each positive) and that each Linear's parameter count fits in int64.
std::vector<LayerMemory> mlp_layers(const std::vector<int64_t>& sizes);

struct EstimateOptions {
  int64_t inputs = 0;             // elements of one example's input (784 for MNIST)
  int64_t batch = 1;              // training batch size
  int64_t eval_batch = 0;         // validation batch size (forward only); 0: none
  DType dtype = DType::f32;       // of parameters and activations
  int64_t optimizer_buffers = 0;  // state tensors per parameter: SGD 1 with momentum > 0, else 0
  int64_t weight_copies = 0;      // extra copies of the parameters (lr_find's saved weights)
  int64_t data_bytes = 0;         // the data set, as loaded
};

// Bytes per category. Training keeps, for one batch, the input and every layer's output on
// the tape for backward, and each output's gradient during backward (an upper bound: the tape
// frees a gradient once its node has run). Validation runs without the tape: the input, and
// the largest pair of consecutive layer outputs (a layer's input and output) alive at once.
// activations is the larger of the two passes.
struct MemoryEstimate {
  int64_t parameters = 0;
  int64_t gradients = 0;        // one per parameter, as .grad()
  int64_t optimizer_state = 0;  // parameters * optimizer_buffers
  int64_t weight_copies = 0;    // parameters * weight_copies
  int64_t activations = 0;
  int64_t data = 0;
  int64_t total() const;  // the sum, saturating at INT64_MAX
};

MemoryEstimate estimate_memory(const std::vector<LayerMemory>& layers, const EstimateOptions& o);

// An MLP trained with SGD at one batch size: estimate_memory(mlp_layers(sizes), ...) with
// inputs = sizes[0] and one optimizer buffer per parameter when momentum.
MemoryEstimate estimate_mlp(const std::vector<int64_t>& sizes, int64_t batch,
                            DType dtype = DType::f32, bool momentum = false);

// Throws tg::Error (op: "<what> need N bytes ..., more than the M available (source)") when
// `bytes` exceed the memory this machine has available (base/memory.h). Does nothing when the
// available memory is unknown.
void check_fits(const char* op, const std::string& what, int64_t bytes);

}  // namespace tg::nn
