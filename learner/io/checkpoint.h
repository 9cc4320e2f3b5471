// Checkpoints in the safetensors format, so weights open in other tools (Python's safetensors,
// PyTorch, and so on):
//   8 bytes   little-endian uint64 N, the header's length
//   N bytes   JSON: {"name": {"dtype": "F32", "shape": [50, 784], "data_offsets": [b, e]}, ...,
//                    "__metadata__": {"key": "value", ...}}
//   the data  raw little-endian bytes, tensors back to back (offsets relative to this part)
// Writing is atomic (a temporary file beside the target, flushed, then renamed). Reading
// validates everything before trusting it: header length against the file size, the JSON,
// dtypes, shapes against offsets, offsets in bounds and non-overlapping; any problem is a
// tg::Error naming the file and the problem.
#pragma once

#include <map>
#include <string>

#include "base/file.h"  // write_file_atomic, which writes them
#include "nn/module.h"
#include "optim/optimizer.h"
#include "tensor/tensor.h"

namespace tg {

using TensorMap = std::map<std::string, Tensor>;
using Metadata = std::map<std::string, std::string>;

// Tensors may be float32, float64, int32 or uint8, any shape, on the CPU (others are copied).
void save_safetensors(const std::string& path, const TensorMap& tensors, const Metadata& meta = {});
TensorMap load_safetensors(const std::string& path, Metadata* meta = nullptr);

// A training checkpoint: "model.<param>" for the model's state dict, "optim.<key>" for the
// optimizer's (when given), and the metadata (epoch, metrics, architecture, ...).
void save_checkpoint(const std::string& path, const nn::Module& model,
                     const optim::Optimizer* opt = nullptr, const Metadata& meta = {});
// The model's state dict alone, under PyTorch's names ("0.weight", "0.bias", ...; no "model."
// prefix, no optimizer keys), so that PyTorch loads it as it is:
//   model.load_state_dict(safetensors.torch.load_file(path))
void export_state_dict(const std::string& path, const nn::Module& model, const Metadata& meta = {});
// Loads into model (strict: names, shapes, dtypes must match) and opt (when given and
// present in the file). Returns the metadata.
Metadata load_checkpoint(const std::string& path, nn::Module& model,
                         optim::Optimizer* opt = nullptr);

}  // namespace tg
