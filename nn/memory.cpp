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

}  // namespace

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
