// The Learner conveniences: summary, predict, get_preds' decoded classes,
// ClassificationInterpretation, export_learner / load_learner, and SaveModel's export metadata.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>

#include "autograd/functions.h"
#include "base/file.h"
#include "learner/callbacks/callbacks.h"
#include "learner/export.h"
#include "learner/inference.h"
#include "learner_fixture.h"
#include "nn/layers.h"
#include "tensor/creation.h"
#include "tensor/grad_mode.h"
#include "tensor/ops.h"
#include "test_util.h"

using namespace tg;
using tg::test::error_of;
using tg::test::has;
using tg::test::TempDir;

namespace {

// A Learner on 1x4x4 "images" (16 values) through the course CNN (Unflatten, convs, BatchNorm),
// with a normalisation and a vocab, so every convenience sees a real model.
std::unique_ptr<Learner> cnn_learner(uint64_t seed = 11) {
  Generator gen(seed);
  auto train = std::make_shared<Dataset>(randn({12, 16}, gen), randint(0, 3, {12}, gen));
  auto valid = std::make_shared<Dataset>(randn({6, 16}, gen), randint(0, 3, {6}, gen));
  DataBunch db;
  db.train_dl = DataLoader(train, {.batch_size = 4, .shuffle = true, .seed = seed});
  db.valid_dl = DataLoader(valid, {.batch_size = 4});
  db.c = 3;
  db.norm = {2.0, 4.0};
  db.vocab = {"cat", "dog", "bird"};
  auto model = nn::course_cnn(4, 4, {2, 4}, 3, gen);
  auto opt = std::make_shared<optim::SGD>(model->parameters(),
                                          optim::SGDOptions{.lr = 0.1, .momentum = 0.9});
  return std::make_unique<Learner>(model, opt, cross_entropy, std::move(db),
                                   LearnerOptions{.metrics = {accuracy_metric()}});
}

std::vector<float> values(const Tensor& t) {
  return t.to(Device::cpu()).to(DType::f32).contiguous().to_vector<float>();
}

}  // namespace

TEST_CASE("summary: each layer's output shape, parameters and trainable flag, then the totals") {
  auto learn = cnn_learner();
  auto* bn =
      dynamic_cast<nn::BatchNorm2d*>(&(*dynamic_cast<nn::Sequential*>(learn->model.get()))[3]);
  REQUIRE(bn != nullptr);
  const std::vector<float> mean_before = values(bn->running_mean);
  learn->model->train();
  const std::string s = learn->summary();
  INFO(s);
  CHECK(has(s, "Sequential (Input shape: 4 x 16)"));
  CHECK(has(s, "Layer (type)         Output Shape         Param #    Trainable"));
  CHECK(has(s, "Unflatten            4 x 1 x 4 x 4\n"));
  // conv 1->2, kernel 5, no bias: 50 weights; stride 2 pad 2 on 4x4 -> 2x2.
  CHECK(has(s, "Conv2d               4 x 2 x 2 x 2        50         True\n"));
  CHECK(has(s, "ReLU                 4 x 2 x 2 x 2\n"));
  CHECK(has(s, "BatchNorm2d          4 x 2 x 2 x 2        4          True\n"));
  CHECK(has(s, "Conv2d               4 x 4 x 1 x 1        72         True\n"));
  CHECK(has(s, "Linear               4 x 3                15         True\n"));
  // 50 + 4 + 72 + 8 + 15
  CHECK(has(s, "Total params: 149\nTotal trainable params: 149\nTotal non-trainable params: 0\n"));
  CHECK(has(s, "Optimizer used: SGD (lr=0.1, momentum=0.9"));
  CHECK(has(s, "Loss function: cross_entropy"));
  CHECK(has(s, "  - TrainEval"));
  // Eval mode for the summary's forward (running statistics untouched), the mode restored.
  CHECK(learn->model->is_training());
  CHECK(values(bn->running_mean) == mean_before);
  // A frozen parameter shows as not trainable; thousands get separators in the totals.
  Generator gen(1);
  auto big = nn::mlp({100, 30, 2}, gen);
  big->parameters()[1].requires_grad_(false);  // the first bias
  const std::string b = summary(*big, randn({5, 100}, gen));
  CHECK(has(b, "Linear               5 x 30               3030       Partial\n"));
  CHECK(has(
      b, "Total params: 3,092\nTotal trainable params: 3,062\nTotal non-trainable params: 30\n"));
  CHECK(has(error_of([&] { summary(*big, Tensor()); }), "summary"));
  CHECK(has(error_of([&] { summary(*big, randn({5, 99}, gen)); }), "Linear"));
}

TEST_CASE("predict: one raw item normalised as the data was, its class, label and probabilities") {
  auto learn = cnn_learner();
  learn->fit(1);
  Generator gen(4);
  Tensor raw = randn({16}, gen) * 10.0 + 3.0;
  const Prediction p = learn->predict(raw);
  // By hand: normalise with (2, 4), a batch of one, eval mode, softmax.
  learn->model->eval();
  Tensor want;
  {
    NoGrad ng;
    want = ops::softmax((*learn->model)(((raw - 2.0) / 4.0).reshape({1, 16})));
  }
  learn->model->train();
  const std::vector<float> w = values(want);
  REQUIRE(p.probs.size() == 3);
  for (size_t i = 0; i < 3; ++i) CHECK(p.probs[i] == doctest::Approx(w[i]).epsilon(1e-6));
  const int64_t best = std::max_element(w.begin(), w.end()) - w.begin();
  CHECK(p.index == best);
  CHECK(p.label == std::vector<std::string>{"cat", "dog", "bird"}[static_cast<size_t>(best)]);
  // A batch of one and uint8 pixels work too; other shapes name the expected one.
  CHECK(learn->predict(raw.reshape({1, 16})).index == p.index);
  CHECK(learn->predict(raw.to(DType::u8)).probs.size() == 3);
  CHECK(has(error_of([&] { learn->predict(randn({15}, gen)); }), "is not the model's input [16]"));
  CHECK(has(error_of([&] { learn->predict(randn({2, 16}, gen)); }), "predict"));
  CHECK(has(error_of([&] { learn->predict(Tensor()); }), "no item"));
  // Without a vocab the label is the index.
  learn->data.vocab.clear();
  CHECK(learn->predict(raw).label == std::to_string(p.index));
}

TEST_CASE("get_preds gives the decoded classes beside the probabilities") {
  auto learn = tg::test::tiny_learner({}, tg::test::tiny_data(4, 5, 2));
  auto preds = learn->get_preds();
  REQUIRE(preds.decoded.defined());
  CHECK(preds.decoded.dtype() == DType::i32);
  CHECK(preds.decoded.to_vector<int32_t>() == decode_classes(preds.preds).to_vector<int32_t>());
  const std::vector<float> p = values(preds.preds);
  const std::vector<int32_t> d = preds.decoded.to_vector<int32_t>();
  for (size_t i = 0; i < d.size(); ++i) {
    const float* row = p.data() + 3 * i;
    CHECK(d[i] == std::max_element(row, row + 3) - row);
  }
  CHECK(has(error_of([] { decode_classes(ones({3})); }), "decode_classes"));
}

TEST_CASE("ClassificationInterpretation: confusion matrix, top losses and most confused by hand") {
  // 6 items, 3 classes. Predicted (argmax): 0, 1, 1, 2, 0, 2; actual: 0, 0, 1, 2, 2, 2.
  Tensor probs = from_vector<float>({0.7f, 0.2f, 0.1f, 0.3f, 0.6f, 0.1f, 0.1f, 0.8f, 0.1f, 0.2f,
                                     0.2f, 0.6f, 0.5f, 0.1f, 0.4f, 0.1f, 0.1f, 0.8f},
                                    {6, 3});
  Tensor targets = from_vector<int32_t>({0, 0, 1, 2, 2, 2}, {6});
  Tensor losses = from_vector<float>({0.36f, 1.2f, 0.22f, 0.51f, 1.2f, NAN}, {6});
  ClassificationInterpretation ci(probs, targets, losses, {"a", "b", "c"});
  using M = std::vector<std::vector<int64_t>>;
  CHECK(ci.confusion_matrix() == M{{1, 1, 0}, {0, 1, 0}, {1, 0, 2}});
  CHECK(ci.accuracy() == doctest::Approx(4.0 / 6));
  CHECK(ci.decoded.to_vector<int32_t>() == std::vector<int32_t>{0, 1, 1, 2, 0, 2});
  const auto top = ci.top_losses(4);
  REQUIRE(top.size() == 4);
  CHECK(top[0].index == 5);  // NaN first: the worst a loss can be
  CHECK(top[1].index == 1);  // 1.2, the lower index of the tie first
  CHECK(top[2].index == 4);
  CHECK(top[3].index == 3);
  CHECK(top[1].actual == 0);
  CHECK(top[1].predicted == 1);
  CHECK(top[1].prob == doctest::Approx(0.3));
  CHECK(ci.top_losses(100).size() == 6);
  CHECK(ci.top_losses(0).empty());
  const auto mc = ci.most_confused();
  REQUIRE(mc.size() == 2);
  CHECK((mc[0].actual == 0 && mc[0].predicted == 1 && mc[0].count == 1));
  CHECK((mc[1].actual == 2 && mc[1].predicted == 0));
  CHECK(ci.most_confused(2).empty());
  const std::string s = ci.str(2);
  INFO(s);
  CHECK(has(s, "6 items, accuracy 0.6667"));
  CHECK(has(s, "  0 a       1 1 0\n"));
  CHECK(has(s, "  a -> b: 1\n"));
  CHECK(has(s, "Top 2 losses"));
  const std::string svg = ci.svg_confusion_matrix();
  size_t cells = 0;
  for (size_t at = 0; (at = svg.find("class=\"cell\"", at)) != std::string::npos; ++at) ++cells;
  CHECK(cells == 9);
  CHECK(has(svg, "a predicted as b: 1"));
  CHECK(has(ci.svg_confusion_matrix(true), ">0.50<"));
  const std::string tl = ci.svg_top_losses(randn({6, 4}, *new Generator(2)), 3, 2, 2);
  size_t items = 0;
  for (size_t at = 0; (at = tl.find("class=\"item\"", at)) != std::string::npos; ++at) ++items;
  CHECK(items == 3);
  CHECK(has(error_of([&] { ci.svg_top_losses(ones({6, 5}), 3, 2, 2); }), "not 2x2 images"));
  CHECK(has(error_of([&] { ci.top_losses(-1); }), "k must be >= 0"));
  // Inputs that do not fit are refused.
  CHECK(has(
      error_of([&] {
        ClassificationInterpretation(probs, from_vector<int32_t>({0, 0, 1, 2, 2, 3}, {6}), losses);
      }),
      "outside [0, 3)"));
  CHECK(has(error_of([&] { ClassificationInterpretation(probs, targets, ones({5})); }), "losses"));
  CHECK(has(error_of([&] { ClassificationInterpretation(probs, targets.to(DType::f32), losses); }),
            "int32"));
}

TEST_CASE("ClassificationInterpretation::from_learner: each item's own loss") {
  auto learn = cnn_learner();
  learn->fit(1);
  auto ci = ClassificationInterpretation::from_learner(*learn);
  CHECK(ci.size() == 6);
  CHECK(ci.vocab == std::vector<std::string>{"cat", "dog", "bird"});
  const auto raw = learn->get_preds(nullptr, true);
  const std::vector<float> logits = values(raw.preds), l = values(ci.losses);
  const std::vector<int32_t> t = raw.targets.to_vector<int32_t>();
  int64_t total = 0;
  for (const auto& row : ci.confusion_matrix())
    for (int64_t v : row) total += v;
  CHECK(total == 6);
  for (size_t i = 0; i < 6; ++i) {
    double mx = -INFINITY, z = 0;
    for (size_t c = 0; c < 3; ++c) mx = std::max<double>(mx, logits[3 * i + c]);
    for (size_t c = 0; c < 3; ++c) z += std::exp(logits[3 * i + c] - mx);
    const double want = -(logits[3 * i + static_cast<size_t>(t[i])] - mx - std::log(z));
    CHECK(l[i] == doctest::Approx(want).epsilon(1e-5));
  }
  CHECK(ci.str().size() > 0);
}

TEST_CASE("export_learner / load_learner: one file rebuilds the model and predicts the same") {
  TempDir tmp;
  auto learn = cnn_learner();
  learn->fit(2);
  const std::string path = tmp / "model.safetensors";
  export_learner(*learn, path);
  LoadedLearner m = load_learner(path);
  CHECK(m.model->str() == learn->model->str());
  CHECK(m.input_shape == Shape{16});
  CHECK(m.norm.mean == 2.0);
  CHECK(m.norm.std == 4.0);
  CHECK(m.vocab == std::vector<std::string>{"cat", "dog", "bird"});
  CHECK(static_cast<bool>(m.activation));
  CHECK(!m.model->is_training());
  Generator gen(9);
  Tensor raw = randn({5, 16}, gen) * 4.0 + 2.0;
  for (int64_t i = 0; i < 5; ++i) {
    const Prediction a = learn->predict(raw.select(0, i)), b = m.predict(raw.select(0, i));
    CHECK(a.index == b.index);
    CHECK(a.label == b.label);
    CHECK(a.probs == b.probs);  // the same weights and running statistics, bit for bit
  }
  const std::vector<float> batch = values(m.predict_batch(raw));
  CHECK(batch.size() == 15);
  CHECK(batch[3] == doctest::Approx(m.predict(raw.select(0, 1)).probs[0]).epsilon(1e-6));
  CHECK(has(error_of([&] { m.predict_batch(randn({5, 15}, gen)); }), "predict_batch"));
  // Without the optimizer by default; with it, load_checkpoint restores it too.
  auto optim_keys = [&] {
    int n = 0;
    for (const auto& [k, t] : load_safetensors(path)) n += k.starts_with("optim.");
    return n;
  };
  CHECK(optim_keys() == 0);
  export_learner(*learn, path, /*with_optimizer=*/true);
  CHECK(optim_keys() > 0);
  CHECK(load_learner(path).vocab.size() == 3);
}

TEST_CASE("load_learner names what is wrong with a file") {
  TempDir tmp;
  auto learn = cnn_learner();
  const std::string good = tmp / "good.safetensors";
  export_learner(*learn, good);
  Metadata meta;
  TensorMap tensors = load_safetensors(good, &meta);
  auto write_with = [&](const std::string& key, const std::string* value) {
    Metadata m = meta;
    if (value)
      m[key] = *value;
    else
      m.erase(key);
    const std::string p = tmp / "bad.safetensors";
    save_safetensors(p, tensors, m);
    return error_of([&] { load_learner(p); });
  };
  const std::string not_json = "{oops", bad_type = R"({"type": "Transformer"})",
                    bad_norm = R"({"mean": 0, "std": 0})", bad_act = "relu", bad_shape = "[16, -1]";
  CHECK(has(write_with("learner.architecture", nullptr), "no \"learner.architecture\""));
  CHECK(has(write_with("learner.architecture", &not_json), "invalid JSON"));
  CHECK(has(write_with("learner.architecture", &bad_type), "unknown layer type \"Transformer\""));
  CHECK(has(write_with("learner.normalize", &bad_norm), "std must be finite and non-zero"));
  CHECK(has(write_with("learner.activation", &bad_act), "\"softmax\" or \"none\""));
  CHECK(has(write_with("learner.input_shape", &bad_shape), "learner.input_shape"));
  // Weights that do not fit the architecture.
  const std::string other =
      R"({"type": "Sequential", "layers": [{"type": "Linear", "in_features": 16, "out_features": 3, "bias": true}]})";
  CHECK(has(write_with("learner.architecture", &other), "load"));
  // A plain checkpoint, and not a file at all.
  save_checkpoint(tmp / "plain.safetensors", *learn->model);
  CHECK(has(error_of([&] { load_learner(tmp / "plain.safetensors"); }),
            "not a file of export_learner"));
  CHECK(has(error_of([&] { load_learner(tmp / "missing.safetensors"); }), "no such file"));
  // A model the library cannot describe is refused before anything is written.
  auto lam = std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Lambda>([](const Tensor& t) { return t; }),
      std::make_shared<nn::Linear>(4, 3)});
  auto l2 = std::make_unique<Learner>(
      lam, std::make_shared<optim::SGD>(lam->parameters(), optim::SGDOptions{}), cross_entropy,
      tg::test::tiny_data());
  CHECK(has(error_of([&] { export_learner(*l2, tmp / "lam.safetensors"); }), "Lambda"));
  CHECK(!std::filesystem::exists(tmp / "lam.safetensors"));
}

TEST_CASE("SaveModel with the learner's metadata writes a file load_learner reads") {
  TempDir tmp;
  auto learn = cnn_learner();
  auto saver = std::make_shared<SaveModel>(tmp / "best.safetensors", "valid_loss");
  saver->meta = learner_metadata(*learn);
  learn->fit(2, {std::make_shared<AvgStats>(), saver});
  REQUIRE(saver->best_epoch >= 0);
  LoadedLearner m = load_learner(tmp / "best.safetensors");
  CHECK(m.vocab.size() == 3);
  CHECK(m.meta.at("monitor") == "valid_loss");
  CHECK(m.meta.count("epoch") == 1);
  // Still an ordinary checkpoint for --resume: model and optimizer load.
  auto other = cnn_learner(12);
  load_checkpoint(tmp / "best.safetensors", *other->model, other->opt.get());
}
