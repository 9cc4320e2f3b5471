// mlp_layers, estimate_memory and check_fits (memory.h).
#include "nn/memory.h"

#include <algorithm>

#include "base/error.h"
#include "base/format.h"
#include "base/memory.h"

namespace tg::nn {

namespace {

int64_t mul(int64_t a, int64_t b, const std::string& what) {
  int64_t r = 0;
  TG_CHECK(!__builtin_mul_overflow(a, b, &r), "memory estimate", what, " overflows int64 (", a,
           " * ", b, ")");
  return r;
}

int64_t add(int64_t a, int64_t b, const std::string& what) {
  int64_t r = 0;
  TG_CHECK(!__builtin_add_overflow(a, b, &r), "memory estimate", what, " overflows int64 (", a,
           " + ", b, ")");
  return r;
}

std::string dims(Size2 s) {
  return std::to_string(s.h) + "x" + std::to_string(s.w);
}

// Elements of (c, h, w), checked.
int64_t chw_numel(const Chw& s, const std::string& what) {
  return mul(mul(s.c, s.h, what), s.w, what);
}

// PyTorch's output size of one spatial dim (kernels::pool2d_out_size), with every step
// checked; throws when the output would be empty.
int64_t out_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation,
                 bool ceil_mode, const std::string& what) {
  const int64_t reach = add(mul(dilation, kernel - 1, what), 1, what);  // the window's extent
  const int64_t padded = add(in, mul(pad, 2, what), what);
  TG_CHECK(padded >= reach, "memory estimate", what, ": the window (", reach,
           " with dilation) is larger than the padded input (", padded, "): the output is empty");
  const int64_t span = padded - reach;
  int64_t out = span / stride + (ceil_mode && span % stride != 0 ? 1 : 0) + 1;
  if (ceil_mode && mul(out - 1, stride, what) >= add(in, pad, what)) --out;
  return out;
}

}  // namespace

CnnLayers::CnnLayers(Chw input) : shape_(input) {
  TG_CHECK(input.c > 0 && input.h > 0 && input.w > 0, "memory estimate",
           "the input's (C, H, W) must be positive, got (", input.c, ", ", input.h, ", ", input.w,
           ")");
  inputs_ = chw_numel(input, "the input's element count");
}

std::string CnnLayers::next_name(const std::string& what) const {
  return "layer " + std::to_string(layers_.size()) + " (" + what + ")";
}

CnnLayers& CnnLayers::conv2d(int64_t out_channels, Size2 kernel, Size2 stride, Size2 padding,
                             Size2 dilation, int64_t groups, bool bias) {
  const std::string name = next_name(
      "Conv2d " + std::to_string(shape_.c) + " -> " + std::to_string(out_channels) + ", kernel " +
      dims(kernel) + ", stride " + dims(stride) + ", padding " + dims(padding) + ", dilation " +
      dims(dilation) + ", groups " + std::to_string(groups));
  TG_CHECK(!flat_, "memory estimate", name, ": needs a (C, H, W) input, not flattened features");
  TG_CHECK(out_channels > 0 && groups > 0 && kernel.h > 0 && kernel.w > 0 && stride.h > 0 &&
               stride.w > 0 && padding.h >= 0 && padding.w >= 0 && dilation.h > 0 && dilation.w > 0,
           "memory estimate", name,
           ": channels, groups, kernel, stride and dilation must be positive and padding "
           "non-negative");
  TG_CHECK(shape_.c % groups == 0 && out_channels % groups == 0, "memory estimate", name,
           ": in_channels (", shape_.c, ") and out_channels (", out_channels,
           ") must be divisible by groups (", groups, ")");
  const std::string what = name + ": the weight's element count";
  const int64_t weight =
      mul(mul(mul(out_channels, shape_.c / groups, what), kernel.h, what), kernel.w, what);
  const int64_t params = bias ? add(weight, out_channels, name + ": the parameter count") : weight;
  const Chw out{out_channels,
                out_size(shape_.h, kernel.h, stride.h, padding.h, dilation.h, false,
                         name + ": the output height"),
                out_size(shape_.w, kernel.w, stride.w, padding.w, dilation.w, false,
                         name + ": the output width")};
  int64_t kept = chw_numel(out, name + ": the output's element count");
  // Output rows of 16 pixels and more run the lowered conv (kernels/conv.h, rung 2), which keeps
  // its column matrix (C/g*KH*KW x OH*OW per example) on the tape for the weight gradient.
  if (out.w >= 16 && !(kernel.h == 1 && kernel.w == 1 && stride.h == 1 && stride.w == 1 &&
                       padding.h == 0 && padding.w == 0))
    kept = add(kept, mul(weight / out_channels * groups, out.h * out.w, name + ": the lowering"),
               name + ": the kept elements");
  layers_.push_back({name, params, kept});
  shape_ = out;
  return *this;
}

CnnLayers& CnnLayers::batch_norm2d() {
  const int64_t c = shape_.c;
  TG_CHECK(!flat_, "memory estimate", next_name("BatchNorm2d"), ": needs a (C, H, W) input");
  // weight and bias (the running statistics, 2*C + 1 more, are too small to matter)
  layers_.push_back({next_name("BatchNorm2d " + std::to_string(c)), 2 * c,
                     chw_numel(shape_, "the output's element count")});
  return *this;
}

CnnLayers& CnnLayers::pool(const char* kind, Size2 kernel, Size2 stride, Size2 padding,
                           Size2 dilation, bool ceil_mode) {
  std::string what = std::string(kind) + " kernel " + dims(kernel) + ", stride " + dims(stride) +
                     ", padding " + dims(padding);
  if (std::string(kind) == "MaxPool2d") what += ", dilation " + dims(dilation);
  if (ceil_mode) what += ", ceil_mode";
  const std::string name = next_name(what);
  TG_CHECK(!flat_, "memory estimate", name, ": needs a (C, H, W) input, not flattened features");
  TG_CHECK(kernel.h > 0 && kernel.w > 0 && stride.h > 0 && stride.w > 0 && dilation.h > 0 &&
               dilation.w > 0,
           "memory estimate", name, ": kernel, stride and dilation must be positive");
  TG_CHECK(
      padding.h >= 0 && padding.w >= 0 && padding.h <= kernel.h / 2 && padding.w <= kernel.w / 2,
      "memory estimate", name, ": padding must be non-negative and at most half the kernel");
  const Chw out{shape_.c,
                out_size(shape_.h, kernel.h, stride.h, padding.h, dilation.h, ceil_mode,
                         name + ": the output height"),
                out_size(shape_.w, kernel.w, stride.w, padding.w, dilation.w, ceil_mode,
                         name + ": the output width")};
  layers_.push_back({name, 0, chw_numel(out, name + ": the output's element count")});
  shape_ = out;
  return *this;
}

CnnLayers& CnnLayers::max_pool2d(Size2 kernel, Stride2 stride, Size2 padding, Size2 dilation,
                                 bool ceil_mode) {
  return pool("MaxPool2d", kernel, stride.value_or(kernel), padding, dilation, ceil_mode);
}

CnnLayers& CnnLayers::avg_pool2d(Size2 kernel, Stride2 stride, Size2 padding, bool ceil_mode) {
  return pool("AvgPool2d", kernel, stride.value_or(kernel), padding, 1, ceil_mode);
}

CnnLayers& CnnLayers::adaptive_avg_pool2d(Size2 output) {
  const std::string name = next_name("AdaptiveAvgPool2d " + dims(output));
  TG_CHECK(!flat_, "memory estimate", name, ": needs a (C, H, W) input, not flattened features");
  TG_CHECK(output.h > 0 && output.w > 0, "memory estimate", name,
           ": the output size must be positive");
  const Chw out{shape_.c, output.h, output.w};
  layers_.push_back({name, 0, chw_numel(out, name + ": the output's element count")});
  shape_ = out;
  return *this;
}

CnnLayers& CnnLayers::activation(const std::string& kind) {
  layers_.push_back({next_name(kind), 0, chw_numel(shape_, "the output's element count")});
  return *this;
}

CnnLayers& CnnLayers::flatten() {
  const int64_t n = chw_numel(shape_, "the output's element count");
  layers_.push_back({next_name("Flatten " + std::to_string(n)), 0, n});
  shape_ = {n, 1, 1};
  flat_ = true;
  return *this;
}

CnnLayers& CnnLayers::linear(int64_t out_features, bool bias) {
  const std::string name =
      next_name("Linear " + std::to_string(shape_.c) + " -> " + std::to_string(out_features));
  TG_CHECK(flat_, "memory estimate", name, ": needs flattened features (call flatten() first)");
  TG_CHECK(out_features > 0, "memory estimate", name, ": out_features must be positive");
  const int64_t weight = mul(shape_.c, out_features, name + ": the weight's element count");
  const int64_t params = bias ? add(weight, out_features, name + ": the parameter count") : weight;
  layers_.push_back({name, params, out_features});
  shape_ = {out_features, 1, 1};
  return *this;
}

std::vector<LayerMemory> mlp_layers(const std::vector<int64_t>& sizes) {
  TG_CHECK(sizes.size() >= 2, "mlp", "needs at least 2 layer sizes (input, output), got ",
           sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i)
    TG_CHECK(sizes[i] > 0, "mlp", "layer size ", i, " must be positive, got ", sizes[i]);
  std::vector<LayerMemory> layers;
  for (size_t i = 0; i + 1 < sizes.size(); ++i) {
    const int64_t in = sizes[i], out = sizes[i + 1];
    if (i > 0) layers.push_back({"layer " + std::to_string(layers.size()) + " (ReLU)", 0, in});
    std::string name = "layer " + std::to_string(layers.size()) + " (Linear " + std::to_string(in) +
                       " -> " + std::to_string(out) + ")";
    const int64_t params = add(mul(in, out, name + ": the weight's element count"), out,
                               name + ": the parameter count");
    layers.push_back({std::move(name), params, out});
  }
  return layers;
}

int64_t MemoryEstimate::total() const {
  int64_t t = 0;
  for (int64_t v : {parameters, gradients, optimizer_state, weight_copies, activations, data})
    t = v > INT64_MAX - t ? INT64_MAX : t + v;
  return t;
}

MemoryEstimate estimate_memory(const std::vector<LayerMemory>& layers, const EstimateOptions& o) {
  TG_CHECK(o.inputs >= 0 && o.batch > 0 && o.eval_batch >= 0 && o.optimizer_buffers >= 0 &&
               o.weight_copies >= 0 && o.data_bytes >= 0,
           "memory estimate",
           "counts must be non-negative and the batch positive, got inputs=", o.inputs,
           ", batch=", o.batch, ", eval_batch=", o.eval_batch,
           ", optimizer_buffers=", o.optimizer_buffers, ", weight_copies=", o.weight_copies,
           ", data_bytes=", o.data_bytes);
  const auto elem = static_cast<int64_t>(dtype_size(o.dtype));
  int64_t params = 0;
  // Per example: training keeps the input, every output and every output's gradient;
  // validation the input and the largest (layer input + layer output) pair.
  int64_t train = o.inputs, eval_pair = 0, prev = o.inputs;
  for (size_t i = 0; i < layers.size(); ++i) {
    const LayerMemory& l = layers[i];
    TG_CHECK(l.parameters >= 0 && l.outputs >= 0, "memory estimate", l.name,
             ": negative counts (parameters ", l.parameters, ", outputs ", l.outputs, ")");
    params = add(params, l.parameters, l.name + ": the parameter count so far");
    mul(params, elem, l.name + ": the parameters' byte count so far");
    train = add(train, mul(l.outputs, 2, l.name + ": its output and gradient count"),
                l.name + ": the activation count per example so far");
    // The first layer's input is the batch, already counted once.
    eval_pair = std::max(
        eval_pair, add(i == 0 ? 0 : prev, l.outputs, l.name + ": its input and output count"));
    prev = l.outputs;
  }
  MemoryEstimate e;
  e.parameters = params * elem;  // checked in the loop
  e.gradients = e.parameters;
  e.optimizer_state = mul(e.parameters, o.optimizer_buffers, "the optimizer state's byte count");
  e.weight_copies = mul(e.parameters, o.weight_copies, "the weight copies' byte count");
  const int64_t train_bytes =
      mul(mul(train, o.batch,
              "the training activations' element count (batch " + std::to_string(o.batch) + ")"),
          elem, "the training activations' byte count");
  const int64_t eval_bytes =
      o.eval_batch == 0
          ? 0
          : mul(mul(add(o.inputs, eval_pair, "the validation activation count per example"),
                    o.eval_batch,
                    "the validation activations' element count (batch " +
                        std::to_string(o.eval_batch) + ")"),
                elem, "the validation activations' byte count");
  e.activations = std::max(train_bytes, eval_bytes);
  e.data = o.data_bytes;
  return e;
}

MemoryEstimate estimate_mlp(const std::vector<int64_t>& sizes, int64_t batch, DType dtype,
                            bool momentum) {
  auto layers = mlp_layers(sizes);
  return estimate_memory(layers, {.inputs = sizes.front(),
                                  .batch = batch,
                                  .dtype = dtype,
                                  .optimizer_buffers = momentum ? 1 : 0});
}

void check_fits(const char* op, const std::string& what, int64_t bytes) {
  const MemoryAvailable m = available_memory();
  if (!m.known() || bytes <= m.bytes) return;
  TG_FAIL(op, what, " need ", tg::bytes(bytes), " (", bytes, " bytes), more than the ",
          tg::bytes(m.bytes), " (", m.bytes, " bytes) this machine has available (", m.source, ")");
}

}  // namespace tg::nn
