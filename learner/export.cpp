// export_learner and load_learner (learner/export.h).
#include "learner/export.h"

#include <cmath>

#include "base/json.h"
#include "nn/describe.h"
#include "tensor/grad_mode.h"
#include "tensor/ops.h"

namespace tg {

namespace {

constexpr const char* kArch = "learner.architecture";
constexpr const char* kInput = "learner.input_shape";
constexpr const char* kNorm = "learner.normalize";
constexpr const char* kVocab = "learner.vocab";
constexpr const char* kActivation = "learner.activation";

Shape input_shape_of(const Learner& learn) {
  for (const DataLoader* dl : {&learn.data.train_dl, &learn.data.valid_dl})
    if (dl->dataset()) {
      const Shape& s = dl->dataset()->x().shape();
      return Shape(s.begin() + 1, s.end());
    }
  TG_FAIL("export_learner", "the Learner has no data set, so the model's input shape is unknown");
}

}  // namespace

Metadata learner_metadata(const Learner& learn) {
  const char* op = "export_learner";
  Metadata m;
  m[kArch] = dump_json(nn::describe_module(*learn.model), op);
  m[kInput] = dump_json(nlohmann::json(input_shape_of(learn)), op);
  m[kNorm] =
      dump_json(nlohmann::json{{"mean", learn.data.norm.mean}, {"std", learn.data.norm.std}}, op);
  m[kVocab] = dump_json(nlohmann::json(learn.data.vocab), op);
  m[kActivation] = learn.activation ? "softmax" : "none";
  return m;
}

void export_learner(const Learner& learn, const std::string& path, bool with_optimizer,
                    const Metadata& extra) {
  Metadata m = extra;
  for (auto& [k, v] : learner_metadata(learn)) m[k] = v;
  save_checkpoint(path, *learn.model, with_optimizer ? learn.opt.get() : nullptr, m);
}

LoadedLearner load_learner(const std::string& path) {
  const char* op = "load_learner";
  Metadata meta = read_safetensors_metadata(path);
  auto field = [&](const char* key) -> nlohmann::json {
    auto it = meta.find(key);
    TG_CHECK(it != meta.end(), op, "'", path, "' has no \"", key,
             "\" in its metadata: not a file of export_learner (or the trainer's --save)");
    const std::string what = std::string(op) + ": '" + path + "': " + key;
    nlohmann::json j = parse_json(it->second, what);
    meta.erase(it);
    return j;
  };
  LoadedLearner l;
  const nlohmann::json arch = field(kArch);
  const std::string where = "'" + path + "': " + kInput;
  const nlohmann::json input = field(kInput);  // kept: json_array returns a reference into it
  for (const auto& v : json_array(input, op, where))
    l.input_shape.push_back(json_int64(v, op, where));
  for (int64_t s : l.input_shape) TG_CHECK(s >= 1, op, where, " must hold sizes >= 1");
  const nlohmann::json norm = field(kNorm);
  const std::string nwhere = "'" + path + "': " + kNorm;
  json_object(norm, op, nwhere);
  for (const char* k : {"mean", "std"}) {
    TG_CHECK(norm.contains(k) && norm[k].is_number(), op, nwhere, " needs a number \"", k, "\"");
    const double v = norm[k].get<double>();
    TG_CHECK(std::isfinite(v) && (std::string(k) != "std" || v != 0), op, nwhere, ".", k,
             " must be finite", std::string(k) == "std" ? " and non-zero" : "", ", got ", v);
  }
  TG_CHECK(norm.size() == 2, op, nwhere, " must hold \"mean\" and \"std\" only");
  l.norm = {norm["mean"].get<double>(), norm["std"].get<double>()};
  const std::string vwhere = "'" + path + "': " + kVocab;
  const nlohmann::json vocab = field(kVocab);
  for (const auto& v : json_array(vocab, op, vwhere)) l.vocab.push_back(json_string(v, op, vwhere));
  auto act = meta.find(kActivation);
  TG_CHECK(act != meta.end(), op, "'", path, "' has no \"", kActivation, "\" in its metadata");
  TG_CHECK(act->second == "softmax" || act->second == "none", op, "'", path, "': ", kActivation,
           " must be \"softmax\" or \"none\", got \"", act->second, "\"");
  if (act->second == "softmax")
    l.activation = [](const Tensor& logits) { return ops::softmax(logits); };
  meta.erase(act);
  try {
    l.model = nn::build_module(arch);
  } catch (const Error& e) {
    TG_FAIL(op, "'", path, "': ", e.what());
  }
  Metadata rest = load_checkpoint(path, *l.model);
  for (const auto& [k, v] : rest)
    if (!k.starts_with("learner.")) l.meta[k] = v;
  l.model->eval();
  return l;
}

Prediction LoadedLearner::predict(const Tensor& item) const {
  return tg::predict(*model, item, norm, vocab, activation, input_shape);
}

Tensor LoadedLearner::predict_batch(const Tensor& items) const {
  Shape want = input_shape;
  want.insert(want.begin(), items.defined() && items.dim() >= 1 ? items.size(0) : 0);
  TG_CHECK(items.defined() && items.dim() >= 1 && items.shape() == want, "predict_batch",
           "expected a batch (n, ...) of the model's input ", shape_str(input_shape), ", got ",
           items.defined() ? items.shape_str() : "an undefined tensor");
  struct Eval {
    nn::Module& m;
    bool was;
    ~Eval() { m.train(was); }
  } scope{*model, model->is_training()};
  NoGrad no_grad;
  model->eval();
  Tensor out = (*model)(normalize(items, norm).to(model->device()));
  return activation ? activation(out) : out;
}

}  // namespace tg
