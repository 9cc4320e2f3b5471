// The trainer's flags as one table (name, value, help, setter): the parser and the --help text
// are both read from it, so they cannot drift apart. Numbers are parsed with std::from_chars
// over the whole argument: "3x", " 3", "0x10" and "" are refused, "1e-3" is a float.
#include "apps/train/options.h"

#include <charconv>
#include <cmath>
#include <functional>
#include <limits>
#include <sstream>
#include <string_view>
#include <system_error>

namespace tg::train {

namespace {

std::string num(double v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

[[noreturn]] void bad(const std::string& flag, std::string_view value, const std::string& want) {
  throw UsageError(flag + ": '" + std::string(value) + "' is not " + want);
}

// An integer in [lo, hi], the whole of s.
template <typename T>
T parse_int(const std::string& flag, std::string_view s, T lo, const std::string& want) {
  T v{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v < lo) bad(flag, s, want);
  return v;
}

int64_t positive(const std::string& flag, std::string_view s) {
  return parse_int<int64_t>(flag, s, 1, "a positive integer");
}

// A finite double, the whole of s ("0.1", "1e-3", ".5"; not "nan", "inf", "1e-3x").
double parse_float(const std::string& flag, std::string_view s) {
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v))
    bad(flag, s, "a finite number");
  return v;
}

std::string one_of(const std::string& flag, std::string_view s,
                   const std::vector<std::string>& choices) {
  std::string list;
  for (const auto& c : choices) {
    if (s == c) return c;
    list += (list.empty() ? "" : ", ") + c;
  }
  throw UsageError(flag + ": unknown value '" + std::string(s) + "' (choose one of: " + list + ")");
}

// "784-128-10": at least two sizes, each a positive integer.
std::vector<int64_t> parse_arch(const std::string& flag, std::string_view s) {
  std::vector<int64_t> sizes;
  size_t start = 0;
  while (true) {
    const size_t dash = s.find('-', start);
    std::string_view part = s.substr(start, dash == std::string_view::npos ? s.npos : dash - start);
    int64_t v = 0;
    auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
    if (part.empty() || ec != std::errc() || end != part.data() + part.size() || v <= 0)
      throw UsageError(
          flag + ": '" + std::string(s) +
          "' is not a list of positive layer sizes joined by '-' (e.g. 784-128-10): '" +
          std::string(part) + "' is not a positive integer");
    sizes.push_back(v);
    if (dash == std::string_view::npos) break;
    start = dash + 1;
  }
  if (sizes.size() < 2)
    throw UsageError(flag + ": '" + std::string(s) +
                     "' needs at least two sizes, input and output (e.g. 784-128-10)");
  return sizes;
}

struct Flag {
  std::string name, metavar, help;
  std::function<std::string(const Options&)> shown;  // the default, as --help shows it
  std::function<void(Options&, const std::string& flag, std::string_view value)>
      set;                           // null: a switch
  std::function<void(Options&)> on;  // a switch
};

// Word-wraps text into lines of at most width columns, each after the first indented.
std::string wrap(const std::string& text, size_t indent, size_t width) {
  std::string out, word;
  size_t col = indent;
  std::istringstream words(text);
  while (words >> word) {
    if (col > indent && col + 1 + word.size() > width) {
      out += "\n" + std::string(indent, ' ');
      col = indent;
    } else if (col > indent) {
      out += ' ';
      ++col;
    }
    out += word;
    col += word.size();
  }
  return out;
}

std::string or_none(const std::string& s) {
  return s.empty() ? "none" : s;
}

const std::vector<Flag>& flags() {
  static const std::vector<Flag> table = {
      {"--data", "DIR",
       "folder with the four IDX files (raw or .gz); overrides the --dataset folder",
       [](const Options& o) { return o.data_folder(); },
       [](Options& o, const std::string&, std::string_view v) { o.data_dir = v; }, nullptr},
      {"--dataset", "NAME",
       "built-in data set: mnist (data/mnist) or fashion (/usr/share/datasets/fashion-mnist)",
       [](const Options& o) { return o.dataset; },
       [](Options& o, const std::string& f, std::string_view v) {
         o.dataset = one_of(f, v, {"mnist", "fashion"});
       },
       nullptr},
      {"--arch", "SIZES",
       "layer sizes joined by '-': the first is the image size (rows*cols), the last >= the "
       "number of classes",
       [](const Options& o) { return arch_str(o.arch); },
       [](Options& o, const std::string& f, std::string_view v) { o.arch = parse_arch(f, v); },
       nullptr},
      {"--epochs", "N", "training epochs",
       [](const Options& o) { return std::to_string(o.epochs); },
       [](Options& o, const std::string& f, std::string_view v) { o.epochs = positive(f, v); },
       nullptr},
      {"--bs", "N", "training batch size", [](const Options& o) { return std::to_string(o.bs); },
       [](Options& o, const std::string& f, std::string_view v) { o.bs = positive(f, v); },
       nullptr},
      {"--lr", "X", "learning rate, > 0 (the peak of the onecycle schedule)",
       [](const Options& o) { return num(o.lr); },
       [](Options& o, const std::string& f, std::string_view v) {
         o.lr = parse_float(f, v);
         if (o.lr <= 0) throw UsageError(f + ": the learning rate must be > 0, got " + num(o.lr));
       },
       nullptr},
      {"--momentum", "X", "SGD momentum, in [0, 1)",
       [](const Options& o) { return num(o.momentum); },
       [](Options& o, const std::string& f, std::string_view v) {
         o.momentum = parse_float(f, v);
         if (o.momentum < 0 || o.momentum >= 1)
           throw UsageError(f + ": the momentum must be in [0, 1), got " + num(o.momentum));
       },
       nullptr},
      {"--wd", "X", "weight decay (L2, added to the gradient), >= 0",
       [](const Options& o) { return num(o.wd); },
       [](Options& o, const std::string& f, std::string_view v) {
         o.wd = parse_float(f, v);
         if (o.wd < 0) throw UsageError(f + ": the weight decay must be >= 0, got " + num(o.wd));
       },
       nullptr},
      {"--schedule", "NAME",
       "lr schedule: const, onecycle (warm-up then cosine down; momentum cycles too), cos "
       "(cosine from lr to lr/100)",
       [](const Options& o) { return o.schedule; },
       [](Options& o, const std::string& f, std::string_view v) {
         o.schedule = one_of(f, v, {"const", "onecycle", "cos"});
       },
       nullptr},
      {"--seed", "N", "seed of the weights' init and the shuffling, >= 0",
       [](const Options& o) { return std::to_string(o.seed); },
       [](Options& o, const std::string& f, std::string_view v) {
         o.seed = parse_int<uint64_t>(f, v, 0, "a non-negative integer");
       },
       nullptr},
      {"--device", "NAME",
#ifdef TG_WITH_CUDA
       "cpu or cuda (cuda: the data set lives on the GPU, and each training step after "
       "three warm-up steps is one CUDA Graph replay)",
#else
       "cpu or cuda (this build has no CUDA backend: cuda is refused)",
#endif
       [](const Options& o) { return o.device; },
       [](Options& o, const std::string& f, std::string_view v) {
         o.device = one_of(f, v, {"cpu", "cuda"});
       },
       nullptr},
      {"--save", "PATH",
       "write the best epoch's model and optimizer (by valid_accuracy), safetensors",
       [](const Options& o) { return or_none(o.save); },
       [](Options& o, const std::string&, std::string_view v) { o.save = v; }, nullptr},
      {"--export", "PATH",
       "write the final model's state dict alone (PyTorch's names, float32, safetensors), for "
       "model.load_state_dict(safetensors.torch.load_file(PATH)) in PyTorch",
       [](const Options& o) { return or_none(o.export_path); },
       [](Options& o, const std::string&, std::string_view v) { o.export_path = v; }, nullptr},
      {"--resume", "PATH", "load model and optimizer state from a --save checkpoint first",
       [](const Options& o) { return or_none(o.resume); },
       [](Options& o, const std::string&, std::string_view v) { o.resume = v; }, nullptr},
      {"--log-csv", "PATH", "write the per-epoch figures as CSV",
       [](const Options& o) { return or_none(o.log_csv); },
       [](Options& o, const std::string&, std::string_view v) { o.log_csv = v; }, nullptr},
      {"--plot", "PATH",
       "write an SVG of the losses and accuracy (with --lr-find: loss against lr)",
       [](const Options& o) { return or_none(o.plot); },
       [](Options& o, const std::string&, std::string_view v) { o.plot = v; }, nullptr},
      {"--summary", "PATH", "write the final figures and the configuration as JSON",
       [](const Options& o) { return or_none(o.summary); },
       [](Options& o, const std::string&, std::string_view v) { o.summary = v; }, nullptr},
      {"--lr-find", "", "run the learning-rate finder, print its suggestion, and exit",
       [](const Options&) { return std::string("off"); }, nullptr,
       [](Options& o) { o.lr_find = true; }},
      {"--limit", "N", "use only the first N training examples",
       [](const Options& o) { return o.limit ? std::to_string(o.limit) : std::string("all"); },
       [](Options& o, const std::string& f, std::string_view v) { o.limit = positive(f, v); },
       nullptr},
      {"--limit-valid", "N", "use only the first N test examples",
       [](const Options& o) {
         return o.limit_valid ? std::to_string(o.limit_valid) : std::string("all");
       },
       [](Options& o, const std::string& f, std::string_view v) { o.limit_valid = positive(f, v); },
       nullptr},
      {"--threads", "N", "OpenMP threads",
       [](const Options& o) {
         return o.threads ? std::to_string(o.threads) : std::string("OpenMP's default");
       },
       [](Options& o, const std::string& f, std::string_view v) {
         const int64_t n = positive(f, v);
         if (n > 4096) throw UsageError(f + ": at most 4096 threads, got " + std::string(v));
         o.threads = static_cast<int>(n);
       },
       nullptr},
      {"--no-cuda-graph", "", "with --device cuda: run every step op by op (no CUDA Graph)",
       [](const Options&) { return std::string("off"); }, nullptr,
       [](Options& o) { o.no_cuda_graph = true; }},
      {"--quiet", "", "print only the final result (no progress, no header)",
       [](const Options&) { return std::string("off"); }, nullptr,
       [](Options& o) { o.quiet = true; }},
      {"--help", "", "print this help and exit", [](const Options&) { return std::string(""); },
       nullptr, [](Options& o) { o.help = true; }},
  };
  return table;
}

}  // namespace

std::string Options::data_folder() const {
  if (!data_dir.empty()) return data_dir;
  return dataset == "fashion" ? "/usr/share/datasets/fashion-mnist" : "data/mnist";
}

std::string arch_str(const std::vector<int64_t>& arch) {
  std::string s;
  for (int64_t v : arch) {
    if (!s.empty()) s += '-';
    s += std::to_string(v);
  }
  return s;
}

Options parse_options(int argc, const char* const* argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.size() < 3 || arg.compare(0, 2, "--") != 0)
      throw UsageError("unexpected argument '" + arg + "' (flags start with --)");
    std::string name = arg;
    std::string value;
    bool inline_value = false;
    if (const size_t eq = arg.find('='); eq != std::string::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      inline_value = true;
    }
    const Flag* flag = nullptr;
    for (const Flag& f : flags())
      if (f.name == name) flag = &f;
    if (!flag) throw UsageError("unknown flag '" + name + "'");
    if (!flag->set) {
      if (inline_value) throw UsageError(name + " takes no value, got '" + value + "'");
      flag->on(o);
      continue;
    }
    if (!inline_value) {
      if (i + 1 >= argc) throw UsageError(name + " needs a value (" + flag->metavar + ")");
      value = argv[++i];
    }
    if (value.empty()) throw UsageError(name + " needs a non-empty value (" + flag->metavar + ")");
    flag->set(o, name, value);
  }
  return o;
}

std::string usage() {
  const Options defaults;
  std::ostringstream os;
  os << "usage: tapegrad-train [flags]\n"
        "\n"
        "Trains an MLP classifier on an MNIST-like data set (four IDX files) with SGD, then\n"
        "prints the test accuracy. Flags take a value as the next argument or after '='.\n"
        "\n"
        "flags (default in brackets):\n";
  for (const Flag& f : flags()) {
    std::string left = "  " + f.name + (f.metavar.empty() ? "" : " " + f.metavar);
    if (left.size() < 22)
      left.resize(22, ' ');
    else
      left += "\n" + std::string(22, ' ');
    std::string text = f.help;
    const std::string shown = f.shown(defaults);
    if (!shown.empty()) text += " [" + shown + "]";
    os << left << wrap(text, 22, 80) << '\n';
  }
  os << "\n"
        "exit codes: 0 success, 1 runtime error (data, files, training), 2 usage error.\n"
        "example: tapegrad-train --dataset fashion --epochs 5 --plot fashion.svg\n"
        "manual: docs/trainer.md\n";
  return os.str();
}

}  // namespace tg::train
