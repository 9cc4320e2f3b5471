// Training checkpoints and PyTorch exports, both safetensors files (learner/io/safetensors.h:
// the format, the dtypes read and how they convert, the checks on every header field), written
// atomically (a temporary file beside the target, flushed, then renamed).
#pragma once

#include <string>

#include "base/file.h"  // write_file_atomic, which writes them
#include "learner/io/safetensors.h"
#include "nn/module.h"
#include "optim/optimizer.h"

namespace tg {

// A training checkpoint: "model.<param>" for the model's state dict, "optim.<key>" for the
// optimizer's (when given), and the metadata (epoch, metrics, architecture, ...) with
// "format": "tapegrad-checkpoint-1".
void save_checkpoint(const std::string& path, const nn::Module& model,
                     const optim::Optimizer* opt = nullptr, const Metadata& meta = {});
// The model's state dict alone, under PyTorch's names ("0.weight", "0.bias", "2.weight", ... for
// a Sequential; no "model." prefix, no optimizer keys), every floating tensor as contiguous
// float32, meta under "__metadata__", so that PyTorch loads it as it is:
//   model.load_state_dict(safetensors.torch.load_file(path))
void export_state_dict(const std::string& path, const nn::Module& model, const Metadata& meta = {});
// Loads into model (strict: names and shapes must match; a tensor whose dtype differs from
// the parameter's is converted, as PyTorch's load_state_dict does) and opt (when given and
// present in the file). Returns the metadata without "format".
Metadata load_checkpoint(const std::string& path, nn::Module& model,
                         optim::Optimizer* opt = nullptr);

}  // namespace tg
