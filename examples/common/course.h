// What the course examples from step 03 on share: their command-line flags, loading the data
// set, the notebook's get_model, and the error handling around main. Header-only, because
// examples/CMakeLists.txt builds one main.cpp per folder.
//
//   course::Options o;                                  // --limit, --data, --seed, ...
//   course::Flags flags("03_minibatch_training", "what it shows");
//   flags.data(o).training(o);                                   // the standard flags
//   if (auto rc = flags.parse_or_exit(argc, argv)) return *rc;   // --help: 0, bad flag: 2
//   return course::run([&] { auto d = course::load_data(o); ...; });  // tg::Error: 1
//
// Numbers are parsed with std::from_chars over the whole argument, so "3x", "" and "-3" for a
// positive integer are refused with a message naming the flag (tg::cli::Flags).
#pragma once

#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "apps/cli/flags.h"
#include "base/error.h"
#include "learner/data/datasets.h"
#include "nn/layers.h"
#include "optim/optimizer.h"

namespace course {

// The flags most examples take. limit 0: every training example.
struct Options {
  int64_t limit = 0;  // training examples kept (the first N)
  std::string data;   // data folder; empty: tg::first_available_dataset()
  uint64_t seed = 42;
  int64_t epochs = 1;
  int64_t bs = 64;
  double lr = 0.2;   // the notebook's 0.5 is for pixels in [0, 1]; ours are normalised
  int64_t nh = 50;   // hidden units
  std::string plot;  // SVG output, where the example draws one
};

// The flag parser every example and the trainer share (apps/cli/flags.h), with the flags most
// examples take. Its rules: values after a space or '=', strict numbers, -h/--help, errors
// that name the flag, exit 2 for a usage error.
class Flags : public tg::cli::Flags {
 public:
  using tg::cli::Flags::Flags;

  // --limit, --data, --seed.
  Flags& data(Options& o) {
    integer("--limit", o.limit, "use only the first N training examples", 0,
            std::numeric_limits<int64_t>::max(), "all");
    text("--data", "DIR", o.data,
         "an MNIST-like folder of IDX files (default: data/mnist if present, else Fashion-MNIST)",
         "found");
    seed("--seed", o.seed, "seed of the model's weights and the shuffling");
    return *this;
  }
  // --epochs, --bs, --lr.
  Flags& training(Options& o) {
    integer("--epochs", o.epochs, "epochs to train");
    integer("--bs", o.bs, "batch size");
    real("--lr", o.lr, "learning rate");
    return *this;
  }
};

// Runs the body of main: its return value is the exit code; a tg::Error (or any other
// exception) prints "error: ..." (with nested causes) and exits 1.
inline void print_nested(const std::exception& e, int depth) {
  std::fprintf(stderr, "%s%s\n", depth == 0 ? "error: " : "  caused by: ", e.what());
  try {
    std::rethrow_if_nested(e);
  } catch (const std::exception& inner) {
    print_nested(inner, depth + 1);
  } catch (...) {
  }
}
template <typename F>
int run(F&& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    print_nested(e, 0);
    return 1;
  }
}

// The data set of an example: MNIST-like images, flattened to 784 floats and normalised with
// the training set's mean and std (tg::load_image_folder), as the notebook's get_data() does.
struct Data {
  std::string dir;
  tg::ImageData d;
};

inline Data load_data(const Options& o) {
  std::string dir = o.data;
  if (dir.empty()) {
    std::optional<std::string> found = tg::first_available_dataset();
    TG_CHECK(found.has_value(), "data",
             "no data set found: run `make data` (or scripts/fetch-mnist.sh) to fetch MNIST into "
             "data/mnist, install Debian's dataset-fashion-mnist package, or pass --data DIR");
    dir = *found;
  }
  Data out{dir, tg::load_image_folder(dir, o.limit)};
  std::printf("data: %s: %lld training and %lld validation images of %lld pixels, %lld classes\n",
              dir.c_str(), static_cast<long long>(out.d.x_train.size(0)),
              static_cast<long long>(out.d.x_valid.size(0)),
              static_cast<long long>(out.d.x_train.size(1)), static_cast<long long>(out.d.c));
  return out;
}

// The notebook's get_model: Linear(m, nh) -> ReLU -> Linear(nh, c), and SGD over its
// parameters. A pair, so that `std::tie(model, opt) = get_model(...)` reads as the notebook's
// `model, opt = get_model()`.
using ModelAndOpt = std::pair<std::shared_ptr<tg::nn::Sequential>, std::shared_ptr<tg::optim::SGD>>;
inline ModelAndOpt get_model(const tg::ImageData& d, int64_t nh, double lr, uint64_t seed,
                             double momentum = 0) {
  tg::Generator gen(seed);
  auto model = tg::nn::mlp({d.x_train.size(1), nh, d.c}, gen);
  auto opt = std::make_shared<tg::optim::SGD>(
      model->parameters(), tg::optim::SGDOptions{.lr = lr, .momentum = momentum});
  return {model, opt};
}

// Creates the folder that will hold `path`, if it has one.
inline void make_parent_dir(const std::string& path) {
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  TG_CHECK(!ec, "plot", "cannot create the folder ", parent.string(), ": ", ec.message());
}

}  // namespace course
