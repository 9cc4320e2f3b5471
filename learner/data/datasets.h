// The built-in image data sets and the standard preparation of an MNIST-like folder, shared by
// the trainer and the course examples.
//
//   auto d = tg::load_image_folder(tg::builtin_dataset_dir("mnist"));   // data/mnist
//   // d.x_train (60000, 784) float32, normalised with the training set's mean and std
//   tg::DataBunch db = tg::make_databunch(d, 64, /*seed=*/1);
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "learner/data/data.h"

namespace tg {

struct ImageData {
  Tensor x_train, y_train;  // float32 (n, rows*cols), int32 (n)
  Tensor x_valid, y_valid;  // the test split, normalised with the training statistics
  Normalization norm;       // of the training images (pixel values 0..255)
  int64_t c = 0;            // number of classes: largest label + 1
  // The classes' names, from the folder's classes.txt (one name per line) when it has one,
  // else empty (builtin_vocab gives the built-in data sets' names).
  std::vector<std::string> vocab = {};
};

// "mnist" -> $TAPEGRAD_DATA/mnist when that variable is set, else data/mnist (fetched by `make
// data`) below the working directory, else below the source tree the library was built from;
// "fashion" -> Debian's dataset-fashion-mnist folder. Unknown names are a tg::Error listing
// the known ones.
std::string builtin_dataset_dir(const std::string& name);
// The class names of a built-in data set: "0".."9" for mnist, Fashion-MNIST's ten
// ("T-shirt/top", "Trouser", ...) for fashion; unknown names are a tg::Error.
std::vector<std::string> builtin_vocab(const std::string& name);
// The first built-in data set whose folder exists (mnist, then fashion), or nothing.
std::optional<std::string> first_available_dataset();

// Reads the four IDX files of dir (and classes.txt when present: one name per line, at least
// one per class, blank lines at the end ignored; fewer names than classes is a tg::Error);
// limit > 0 keeps the first `limit` training examples (the
// statistics are those of the kept ones).
ImageData load_image_folder(const std::string& dir, int64_t limit = 0);

// Training loader shuffled with seed (prefetching), validation loader in order.
DataBunch make_databunch(const ImageData& d, int64_t bs, uint64_t seed, int64_t valid_bs = 1024);

}  // namespace tg
