// What the course examples from step 03 on share: their command-line flags, loading the data
// set, the notebook's get_model, and the error handling around main. Header-only, because
// examples/CMakeLists.txt builds one main.cpp per folder.
//
//   course::Options o;                                  // --limit, --data, --seed, ...
//   course::Flags flags("03_minibatch_training", "what it shows");
//   flags.data(o).training(o);                          // the standard flags
//   if (auto rc = flags.parse(argc, argv)) return *rc;  // --help: 0, bad flag: 2
//   return course::run([&] { auto d = course::load_data(o); ...; });  // tg::Error: 1
//
// Numbers are parsed with std::from_chars over the whole argument, so "3x", "" and "-3" for a
// positive integer are refused with a message naming the flag.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

class Flags {
 public:
  Flags(std::string program, std::string summary)
      : program_(std::move(program)), summary_(std::move(summary)) {}

  // A flag with a value. set() parses the value and returns an error message, or "" if fine.
  Flags& add(std::string name, std::string metavar, std::string help,
             std::function<std::string(std::string_view)> set) {
    flags_.push_back({std::move(name), std::move(metavar), std::move(help), std::move(set)});
    return *this;
  }
  // A flag without a value (a switch).
  Flags& add_switch(std::string name, std::string help, bool& on) {
    flags_.push_back({std::move(name), "", std::move(help), [&on](std::string_view) {
                        on = true;
                        return std::string();
                      }});
    return *this;
  }

  Flags& integer(std::string name, int64_t& v, std::string help, int64_t min = 1) {
    help += " (default " + std::to_string(v) + ")";
    return add(std::move(name), "N", std::move(help), [&v, min](std::string_view s) {
      int64_t x = 0;
      auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
      if (s.empty() || ec != std::errc() || end != s.data() + s.size() || x < min)
        return std::string(min == 1   ? "needs a positive integer"
                           : min == 0 ? "needs a non-negative integer"
                                      : "needs an integer >= " + std::to_string(min));
      v = x;
      return std::string();
    });
  }
  Flags& real(std::string name, double& v, std::string help) {
    help += " (default " + num(v) + ")";
    return add(std::move(name), "X", std::move(help), [&v](std::string_view s) {
      double x = 0;
      auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
      if (s.empty() || ec != std::errc() || end != s.data() + s.size() || !std::isfinite(x) ||
          x <= 0)
        return std::string("needs a positive number");
      v = x;
      return std::string();
    });
  }
  Flags& text(std::string name, std::string metavar, std::string& v, std::string help) {
    return add(std::move(name), std::move(metavar), std::move(help), [&v](std::string_view s) {
      if (s.empty()) return std::string("needs a value");
      v = std::string(s);
      return std::string();
    });
  }

  // --limit, --data, --seed.
  Flags& data(Options& o) {
    integer("--limit", o.limit, "use only the first N training examples; 0: all", 0);
    text("--data", "DIR", o.data,
         "an MNIST-like folder of IDX files (default: data/mnist if present, else "
         "Fashion-MNIST)");
    return add("--seed", "S", "seed of the model's weights and the shuffling (default 42)",
               [&o](std::string_view s) {
                 uint64_t x = 0;
                 auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
                 if (s.empty() || ec != std::errc() || end != s.data() + s.size())
                   return std::string("needs a non-negative integer");
                 o.seed = x;
                 return std::string();
               });
  }
  // --epochs, --bs, --lr.
  Flags& training(Options& o) {
    integer("--epochs", o.epochs, "epochs to train");
    integer("--bs", o.bs, "batch size");
    return real("--lr", o.lr, "learning rate");
  }

  // Parses argv. nullopt: go on. A value: return it from main (0 after --help, 2 after a bad
  // flag, with "error: ..." on stderr).
  std::optional<int> parse(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--help" || a == "-h") {
        usage(stdout);
        return 0;
      }
      const Flag* f = find(a);
      if (f == nullptr) {
        std::fprintf(stderr, "error: unknown argument '%s' (try --help)\n", a.c_str());
        return 2;
      }
      if (f->metavar.empty()) {
        f->set("");
        continue;
      }
      if (i + 1 >= argc) {
        std::fprintf(stderr, "error: %s needs a value (%s)\n", a.c_str(), f->metavar.c_str());
        return 2;
      }
      const std::string v = argv[++i];
      if (std::string err = f->set(v); !err.empty()) {
        std::fprintf(stderr, "error: %s %s, got '%s'\n", a.c_str(), err.c_str(), v.c_str());
        return 2;
      }
    }
    return std::nullopt;
  }

  void usage(FILE* out) const {
    std::fprintf(out, "usage: %s [flags]\n\n%s\n\nflags:\n", program_.c_str(), summary_.c_str());
    for (const Flag& f : flags_) {
      std::string left = f.name + (f.metavar.empty() ? "" : " " + f.metavar);
      std::fprintf(out, "  %-14s %s\n", left.c_str(), f.help.c_str());
    }
    std::fprintf(out, "  %-14s %s\n", "--help", "show this text");
  }

  static std::string num(double v) {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
  }

 private:
  struct Flag {
    std::string name, metavar, help;
    std::function<std::string(std::string_view)> set;
  };
  const Flag* find(const std::string& name) const {
    for (const Flag& f : flags_)
      if (f.name == name) return &f;
    return nullptr;
  }
  std::string program_, summary_;
  std::vector<Flag> flags_;
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
