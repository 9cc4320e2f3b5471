// Checkpoints and exports on top of safetensors.cpp. A training checkpoint is a safetensors
// file with "model.*" and "optim.*" tensors and "format": "tapegrad-checkpoint-1" in its
// metadata; an export is the bare state dict PyTorch's load_state_dict takes.
#include "learner/io/checkpoint.h"

#include "tensor/grad_mode.h"

namespace tg {

namespace {
constexpr const char* kFormat = "tapegrad-checkpoint-1";
}  // namespace

void save_checkpoint(const std::string& path, const nn::Module& model, const optim::Optimizer* opt,
                     const Metadata& meta) {
  auto it = meta.find("format");
  TG_CHECK(it == meta.end() || it->second == kFormat, "save_checkpoint", "'", path,
           "': the metadata key 'format' is reserved for \"", kFormat, "\", got \"",
           it == meta.end() ? "" : it->second, "\"");
  TensorMap tensors;
  for (auto& [k, t] : model.state_dict()) tensors.emplace("model." + k, t);
  if (opt)
    for (auto& [k, t] : opt->state_dict()) tensors.emplace("optim." + k, t);
  Metadata m = meta;
  m["format"] = kFormat;
  save_safetensors(path, tensors, m);
}

void export_state_dict(const std::string& path, const nn::Module& model, const Metadata& meta) {
  auto it = meta.find("format");
  TG_CHECK(it == meta.end() || it->second != kFormat, "export_state_dict", "'", path,
           "': an export is not a training checkpoint; \"format\": \"", kFormat,
           "\" would make load_checkpoint take it for one");
  NoGrad guard;
  TensorMap tensors;
  std::map<std::string, std::string> store_as;
  for (auto& [k, t] : model.state_dict()) {
    Tensor c = t.detach().to(Device::cpu());
    if (c.dtype() == DType::f64) c = c.to(DType::f32);  // PyTorch's default dtype
    // BatchNorm's counter is int64 in PyTorch; tapegrad keeps it as int32.
    if (c.dtype() == DType::i32 &&
        (k == "num_batches_tracked" || k.ends_with(".num_batches_tracked")))
      store_as.emplace(k, "I64");
    tensors.emplace(k, c.contiguous());
  }
  save_safetensors(path, tensors, meta, store_as);
}

Metadata load_checkpoint(const std::string& path, nn::Module& model, optim::Optimizer* opt) {
  const char* op = "load_checkpoint";
  Metadata meta;
  TensorMap tensors = load_safetensors(path, &meta);
  auto it = meta.find("format");
  TG_CHECK(it != meta.end(), op, "'", path, "' is not a tapegrad checkpoint (no \"format\" in ",
           "its metadata; load it with load_safetensors)");
  TG_CHECK(it->second == kFormat, op, "'", path, "' has format \"", it->second, "\", expected \"",
           kFormat, "\"");
  meta.erase(it);
  nn::StateDict model_sd;
  std::map<std::string, Tensor> optim_sd;
  for (auto& [k, t] : tensors) {
    if (k.starts_with("model."))
      model_sd.emplace(k.substr(6), std::move(t));
    else if (k.starts_with("optim."))
      optim_sd.emplace(k.substr(6), std::move(t));
    else
      TG_FAIL(op, "'", path, "': unexpected tensor '", k, "' (neither model.* nor optim.*)");
  }
  // Either both load or neither changes: the model is restored when the optimizer refuses.
  nn::StateDict before;
  if (opt && !optim_sd.empty()) {
    NoGrad guard;
    for (auto& [k, t] : model.state_dict()) before.emplace(k, t.clone());
  }
  try {
    model.load_state_dict(model_sd, true);
  } catch (const Error& e) {
    TG_FAIL(op, "'", path, "': ", e.what());
  }
  if (opt && !optim_sd.empty()) {
    try {
      opt->load_state_dict(optim_sd);
    } catch (const Error& e) {
      model.load_state_dict(before, true);
      TG_FAIL(op, "'", path, "': ", e.what());
    }
  }
  return meta;
}

}  // namespace tg
