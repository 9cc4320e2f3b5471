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
#include "tensor/ops_pool.h"
#include "tensor/size2.h"

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

// One example's (channels, height, width); after a flatten (features, 1, 1).
struct Chw {
  int64_t c = 0, h = 0, w = 0;
  bool operator==(const Chw&) const = default;
};

// A CNN's layers, described one by one from the input's shape, each layer's output shape
// following from the one before (PyTorch's formulas):
//
//   auto net = tg::nn::CnnLayers({1, 28, 28})
//                  .conv2d(8, 5, 2, 2).activation()        // (8, 14, 14)
//                  .max_pool2d(2).flatten().linear(10);     // (8, 7, 7), 392, 10
//   estimate_memory(net.layers(), {.inputs = net.inputs(), .batch = 64});
//
// Conv2d: parameters O*C/g*kh*kw (+ O with bias), outputs O*OH*OW with
// OH = floor((H + 2*ph - dh*(kh-1) - 1) / sh) + 1 (OW likewise). Pooling: no parameters, C*OH*OW
// outputs (ceil_mode as torch: the last window must start inside the input or its left
// padding). Flatten: C*H*W outputs, counted as a new tensor though tapegrad's is a view of its
// input (so the estimate stays an upper bound). Arguments are checked as the layers check them
// (positive kernel, stride and dilation; channels divisible by groups; pool padding at most half
// the kernel; a non-empty output); every count is overflow-checked. A tg::Error names the layer.
class CnnLayers {
 public:
  explicit CnnLayers(Chw input);
  CnnLayers& conv2d(int64_t out_channels, Size2 kernel, Size2 stride = 1, Size2 padding = 0,
                    Size2 dilation = 1, int64_t groups = 1, bool bias = true);
  CnnLayers& max_pool2d(Size2 kernel, Stride2 stride = {}, Size2 padding = 0, Size2 dilation = 1,
                        bool ceil_mode = false);
  CnnLayers& avg_pool2d(Size2 kernel, Stride2 stride = {}, Size2 padding = 0,
                        bool ceil_mode = false);
  CnnLayers& adaptive_avg_pool2d(Size2 output);
  // An elementwise layer without parameters (ReLU, Sigmoid, Dropout, ...): the same shape.
  CnnLayers& activation(const std::string& kind = "ReLU");
  CnnLayers& batch_norm2d();  // BatchNorm2d(C): weight and bias, the same shape
  CnnLayers& flatten();       // (C, H, W) -> C*H*W features
  CnnLayers& linear(int64_t out_features, bool bias = true);  // after flatten()

  const std::vector<LayerMemory>& layers() const { return layers_; }
  int64_t inputs() const { return inputs_; }  // for EstimateOptions::inputs
  Chw shape() const { return shape_; }        // the last layer's output, per example
  bool flat() const { return flat_; }

 private:
  std::string next_name(const std::string& what) const;
  CnnLayers& pool(const char* kind, Size2 kernel, Size2 stride, Size2 padding, Size2 dilation,
                  bool ceil_mode);
  std::vector<LayerMemory> layers_;
  Chw shape_;
  int64_t inputs_ = 0;
  bool flat_ = false;
};

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
