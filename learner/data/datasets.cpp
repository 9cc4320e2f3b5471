// Built-in data sets and the standard MNIST-like preparation: flatten, normalise with the
// training statistics, wrap in loaders.
#include "learner/data/datasets.h"

#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "base/file.h"
#include "learner/data/idx.h"
#include "tensor/ops.h"

namespace tg {

namespace fs = std::filesystem;

std::vector<std::string> builtin_vocab(const std::string& name) {
  if (name == "mnist") return {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  // Zalando's names for the ten labels (the data set's README).
  if (name == "fashion")
    return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  TG_FAIL("dataset", "unknown built-in data set '", name, "' (known: mnist, fashion)");
}

std::string builtin_dataset_dir(const std::string& name) {
  if (name == "mnist") {
    // $TAPEGRAD_DATA/mnist, else data/mnist below the working directory, else below the
    // source tree this library was built from (so programs run from build/ find it too).
    if (const char* root = std::getenv("TAPEGRAD_DATA"); root && *root)
      return std::string(root) + "/mnist";
    std::error_code ec;
    if (std::filesystem::is_directory("data/mnist", ec)) return "data/mnist";
#ifdef TG_SOURCE_DIR
    const std::string in_source = std::string(TG_SOURCE_DIR) + "/data/mnist";
    if (std::filesystem::is_directory(in_source, ec)) return in_source;
#endif
    return "data/mnist";
  }
  if (name == "fashion") return "/usr/share/datasets/fashion-mnist";
  TG_FAIL("dataset", "unknown built-in data set '", name, "' (known: mnist, fashion)");
}

std::optional<std::string> first_available_dataset() {
  for (const char* n : {"mnist", "fashion"}) {
    std::string dir = builtin_dataset_dir(n);
    std::error_code ec;
    if (std::filesystem::is_directory(dir, ec)) return dir;
  }
  return std::nullopt;
}

ImageData load_image_folder(const std::string& dir, int64_t limit) {
  TG_CHECK(limit >= 0, "load_image_folder", "limit must be >= 0, got ", limit);
  idx::Folder f = idx::read_folder(dir, 256);  // any uint8 label; c is counted below
  Tensor xi = f.train.images, yi = f.train.labels;
  if (limit > 0 && limit < xi.size(0)) {
    xi = xi.narrow(0, 0, limit);
    yi = yi.narrow(0, 0, limit);
  }
  const int64_t pixels = xi.size(1) * xi.size(2);
  ImageData d;
  d.norm = stats_of(xi);
  d.x_train = normalize(xi, d.norm).reshape({xi.size(0), pixels});
  d.y_train = yi.contiguous();
  d.x_valid = normalize(f.test.images, d.norm).reshape({f.test.images.size(0), pixels});
  d.y_valid = f.test.labels;
  int64_t max_label = 0;
  for (const Tensor& y : {d.y_train, d.y_valid})
    if (y.numel() > 0)
      max_label = std::max<int64_t>(
          max_label, ops::reduce(ReduceOp::max, y.to(DType::f32), {}, false).item<int64_t>());
  d.c = max_label + 1;
  const fs::path names = fs::path(dir) / "classes.txt";
  std::error_code ec;
  if (fs::exists(names, ec)) {
    InputFile file("load_image_folder", names.string());
    TG_CHECK(file.size() <= (1u << 20), "load_image_folder", "'", names.string(), "' is ",
             file.size(), " bytes: too big for a list of class names (at most 1 MiB)");
    std::string text(file.size(), '\0');
    text.resize(file.read(text.data(), text.size()));
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      d.vocab.push_back(line);
    }
    while (!d.vocab.empty() && d.vocab.back().empty()) d.vocab.pop_back();
    TG_CHECK(static_cast<int64_t>(d.vocab.size()) >= d.c, "load_image_folder", "'", names.string(),
             "' names ", d.vocab.size(), " classes, but the labels need ", d.c);
  }
  return d;
}

DataBunch make_databunch(const ImageData& d, int64_t bs, uint64_t seed, int64_t valid_bs) {
  DataBunch db;
  db.train_dl = DataLoader(std::make_shared<Dataset>(d.x_train, d.y_train),
                           {.batch_size = bs, .shuffle = true, .seed = seed, .prefetch = true});
  db.valid_dl =
      DataLoader(std::make_shared<Dataset>(d.x_valid, d.y_valid), {.batch_size = valid_bs});
  db.c = d.c;
  db.norm = d.norm;
  db.vocab = d.vocab;
  return db;
}

}  // namespace tg
