// tapegrad-predict: a model file of tapegrad-train --save (or tg::export_learner) on images,
// with nothing else: the file holds the architecture, the weights and the normalisation.
//
//   tapegrad-predict --model best.safetensors --images t10k-images-idx3-ubyte --show 5
//   tapegrad-predict --model best.safetensors --images IMG --labels LBL --interpret cm.svg
//
// Prints the first --show predictions (item, label, probability), and with --labels the
// accuracy (and with --interpret the confusion matrix, most confused classes and top losses,
// and the matrix as SVG). Exit codes: 0 success, 2 a bad flag, 1 a bad file or a model that
// does not fit the images; every error is one line "tapegrad-predict: error: <what>".
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "apps/cli/flags.h"
#include "base/file.h"
#include "base/format.h"
#include "learner/data/idx.h"
#include "learner/export.h"
#include "learner/inference.h"
#include "tensor/creation.h"
#include "tensor/grad_mode.h"
#include "tensor/ops.h"

namespace {

int error(const std::string& msg, int code) {
  std::cout.flush();
  std::cerr << "tapegrad-predict: error: " << msg << std::endl;
  return code;
}

int run(const std::string& model_path, const std::string& images_path,
        const std::string& labels_path, int64_t show, int64_t limit, const std::string& interpret,
        int64_t batch) {
  using namespace tg;
  LoadedLearner m = load_learner(model_path);
  Tensor images = idx::read_images(images_path);  // uint8 (n, rows, cols)
  int64_t n = images.size(0);
  if (limit > 0) n = std::min(n, limit);
  const int64_t pixels = images.numel() / std::max<int64_t>(images.size(0), 1);
  int64_t want = 1;
  for (int64_t s : m.input_shape) want *= s;
  TG_CHECK(pixels == want, "tapegrad-predict", "the images in '", images_path, "' have ", pixels,
           " pixels, the model '", model_path, "' takes ", shape_str(m.input_shape));
  Shape batch_shape = m.input_shape;
  batch_shape.insert(batch_shape.begin(), n);
  images = images.narrow(0, 0, n).reshape(batch_shape);
  Tensor labels;
  if (!labels_path.empty()) {
    labels = idx::read_labels(labels_path, 256);
    TG_CHECK(labels.size(0) >= n, "tapegrad-predict", "'", labels_path, "' has ", labels.size(0),
             " labels for ", n, " images");
    labels = labels.narrow(0, 0, n).contiguous();
  }
  // The probabilities of every item, in batches.
  std::vector<Tensor> parts;
  for (int64_t at = 0; at < n; at += batch)
    parts.push_back(m.predict_batch(images.narrow(0, at, std::min(batch, n - at))));
  const int64_t c = parts.empty() ? 0 : parts[0].size(1);
  Tensor probs = empty({n, c});
  for (int64_t at = 0, i = 0; at < n; at += batch, ++i)
    probs.narrow(0, at, parts[static_cast<size_t>(i)].size(0)).copy_(parts[static_cast<size_t>(i)]);
  const std::vector<float> p = probs.to_vector<float>();
  auto name = [&](int64_t cls) {
    return cls < static_cast<int64_t>(m.vocab.size()) ? m.vocab[static_cast<size_t>(cls)]
                                                      : std::to_string(cls);
  };
  std::vector<int32_t> decoded(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const float* row = p.data() + i * c;
    decoded[static_cast<size_t>(i)] = static_cast<int32_t>(std::max_element(row, row + c) - row);
  }
  std::cout << "model  " << model_path << ": " << m.model->name() << " for "
            << shape_str(m.input_shape) << ", " << c << " classes\n";
  for (int64_t i = 0; i < std::min(show, n); ++i) {
    const int32_t d = decoded[static_cast<size_t>(i)];
    std::cout << "item " << i << ": " << name(d) << " ("
              << fixed(p[static_cast<size_t>(i * c + d)], 4) << ")";
    if (labels.defined()) std::cout << ", actual " << name(labels.at<int32_t>({i}));
    std::cout << "\n";
  }
  if (!labels.defined()) return 0;
  const std::vector<int32_t> t = labels.to_vector<int32_t>();
  for (int64_t i = 0; i < n; ++i)
    TG_CHECK(t[static_cast<size_t>(i)] < c, "tapegrad-predict", "label ", t[static_cast<size_t>(i)],
             " of item ", i, " in '", labels_path, "' is not one of the model's ", c, " classes");
  // Each item's loss: the cross-entropy of its probabilities (with "none", the outputs are
  // taken as they are).
  Tensor losses = empty({n});
  float* l = losses.data<float>();
  for (int64_t i = 0; i < n; ++i)
    l[i] = -std::log(std::max(p[static_cast<size_t>(i * c + t[static_cast<size_t>(i)])], 1e-30f));
  ClassificationInterpretation ci(probs, labels, losses, m.vocab);
  std::cout << "accuracy " << fixed(ci.accuracy(), 4) << " on " << n << " images\n";
  if (!interpret.empty()) {
    std::cout << "\n" << ci.str() << "\n";
    write_file_atomic(interpret, ci.svg_confusion_matrix());
    std::cout << "interp " << interpret << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model, images, labels, interpret;
  int64_t show = 10, limit = 0, batch = 1024;
  tg::cli::Flags flags(
      "tapegrad-predict",
      "Runs a model file of tapegrad-train --save (or tg::export_learner) on the images of an "
      "IDX file: the file holds the architecture, the weights and the normalisation.",
      "Exit codes: 0 success, 1 a bad file or a model that does not fit the images, 2 a bad "
      "flag.\nExample: tapegrad-predict --model best.safetensors --images "
      "data/mnist/t10k-images-idx3-ubyte --labels data/mnist/t10k-labels-idx1-ubyte");
  flags.text("--model", "PATH", model, "the model file (required)")
      .text("--images", "PATH", images, "an IDX images file (idx3, uint8; .gz too) (required)")
      .text("--labels", "PATH", labels, "its IDX labels file: print the accuracy")
      .integer("--show", show, "print the first N predictions", 0)
      .integer("--limit", limit, "use only the first N images", 0,
               std::numeric_limits<int64_t>::max(), "all")
      .integer("--batch", batch, "images per forward pass")
      .text("--interpret", "PATH", interpret,
            "with --labels: print the confusion matrix, most confused classes and top losses, "
            "and write the matrix as SVG to PATH");
  if (auto rc = flags.parse_or_exit(argc, argv)) return *rc;
  if (model.empty() || images.empty())
    return error(std::string(model.empty() ? "--model" : "--images") + " is required (see --help)",
                 2);
  if (!interpret.empty() && labels.empty())
    return error("--interpret needs --labels (see --help)", 2);
  try {
    return run(model, images, labels, show, limit, interpret, batch);
  } catch (const std::exception& e) {
    return error(e.what(), 1);
  }
}
