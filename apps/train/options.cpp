// The trainer's flags as one tg::cli::Flags table (name, value, help, default): the parser and
// the --help text are both read from it, so they cannot drift apart.
#include "apps/train/options.h"

#include <charconv>
#include <limits>
#include <string_view>
#include <system_error>

#include "learner/data/datasets.h"

namespace tg::train {

namespace {

// "784-128-10" (--arch: at least two sizes) or "8-16-32-32" (--channels: at least one), each a
// positive integer.
std::vector<int64_t> parse_sizes(const std::string& flag, std::string_view s, size_t min_count,
                                 const char* example) {
  std::vector<int64_t> sizes;
  size_t start = 0;
  while (true) {
    const size_t dash = s.find('-', start);
    std::string_view part = s.substr(start, dash == std::string_view::npos ? s.npos : dash - start);
    int64_t v = 0;
    auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
    if (part.empty() || ec != std::errc() || end != part.data() + part.size() || v <= 0)
      throw UsageError(flag + ": '" + std::string(s) +
                       "' is not a list of positive layer sizes joined by '-' (e.g. " + example +
                       "): '" + std::string(part) + "' is not a positive integer");
    sizes.push_back(v);
    if (dash == std::string_view::npos) break;
    start = dash + 1;
  }
  if (sizes.size() < min_count)
    throw UsageError(flag + ": '" + std::string(s) +
                     "' needs at least two sizes, input and output (e.g. " + example + ")");
  return sizes;
}

// The training tricks' flags (course steps 10 and 10b).
void declare_tricks(cli::Flags& f, Options& o) {
  f.integer("--pad-crop", o.pad_crop,
            "augment the training images: a random crop of the image padded by N pixels (a "
            "random shift by up to N), smaller than the image side",
            0, 1000, "none")
      .toggle("--flip", o.flip,
              "augment the training images with random left-right flips (not for digits)")
      .real("--mixup", o.mixup,
            "Mixup of the training batches with lambda ~ Beta(ALPHA, ALPHA), > 0; 0: off",
            cli::Range::non_negative, "the mixup alpha")
      .real("--label-smoothing", o.label_smoothing,
            "cross-entropy with label smoothing EPS, in [0, 1); 0: plain cross-entropy",
            cli::Range::unit_interval, "the label smoothing")
      .real("--clip-value", o.clip_value,
            "clamp every gradient to [-V, V] before each step, > 0; 0: off",
            cli::Range::non_negative, "the gradient clip value");
}

// The table, bound to o: what o holds now is the default --help shows.
void declare(cli::Flags& f, Options& o) {
  f.text("--data", "DIR", o.data_dir,
         "folder with the four IDX files (raw or .gz); overrides the --dataset folder",
         o.data_folder())
      .choice("--dataset", o.dataset, {"mnist", "fashion"},
              "built-in data set: mnist (data/mnist) or fashion "
              "(/usr/share/datasets/fashion-mnist)")
      .choice("--model", o.model, {"mlp", "cnn"},
              "mlp: an MLP of --arch; cnn: the course's CNN (convs of --channels, kernel 5 then 3, "
              "stride 2, each ReLU and BatchNorm2d, average pool, Linear")
      .option("--arch", "SIZES",
              "layer sizes joined by '-': the first is the image size (rows*cols), the last >= "
              "the number of classes",
              arch_str(o.arch),
              [&o](const std::string& flag, std::string_view v) {
                o.arch = parse_sizes(flag, v, 2, "784-128-10");
              })
      .option("--channels", "SIZES",
              "with --model cnn: the output channels of its convolutions joined by '-', one "
              "conv each (the course's 8-16-32-32; wider ones learn more, at more cost)",
              arch_str(o.channels),
              [&o](const std::string& flag, std::string_view v) {
                o.channels = parse_sizes(flag, v, 1, "8-16-32-32");
              })
      .integer("--stage-convs", o.stage_convs,
               "with --model cnn: convolutions per --channels entry, 1..8: the stride-2 one, then "
               "N-1 more at its resolution (kernel 3, stride 1, each ReLU and BatchNorm2d)",
               1, 8)
      .integer("--epochs", o.epochs, "training epochs")
      .integer("--bs", o.bs, "training batch size")
      .choice("--opt", o.opt, {"sgd", "adam", "adamw", "rmsprop", "lamb"},
              "optimizer: sgd, adam, adamw (decoupled decay), rmsprop, lamb (the course's); "
              "the defaults of --lr, --momentum, --wd, --beta2 and --eps follow it (see "
              "docs/trainer.md)")
      .real("--lr", o.lr,
            "learning rate, > 0 (the peak of the onecycle schedule; default 3e-3 for adam, "
            "adamw; 1e-2 for lamb; 1e-3 for rmsprop)",
            cli::Range::positive, "the learning rate")
      .real("--momentum", o.momentum,
            "SGD's and RMSprop's momentum (rmsprop default 0), Adam's, AdamW's and LAMB's "
            "beta1, in [0, 1)",
            cli::Range::unit_interval, "the momentum")
      .real("--wd", o.wd,
            "weight decay, >= 0: L2 added to the gradient (sgd, adam, rmsprop), decoupled "
            "(adamw; default 1e-2), added to the step (lamb; default 0); adam and rmsprop "
            "default 0",
            cli::Range::non_negative, "the weight decay")
      .real("--beta2", o.beta2,
            "adam, adamw, lamb: the squared gradients' average factor (lamb default 0.99); "
            "rmsprop: its alpha (default 0.99); in [0, 1)",
            cli::Range::unit_interval, "beta2")
      .real("--eps", o.eps, "adam, adamw, rmsprop, lamb: the denominator's eps (lamb default 1e-6)",
            cli::Range::non_negative, "eps")
      .choice("--schedule", o.schedule, {"const", "onecycle", "cos", "step", "plateau"},
              "lr schedule: const, onecycle (warm-up then cosine down; momentum cycles too), cos "
              "(cosine from lr to lr/100), step (lr/10 at 50% and again at 75% of training), "
              "plateau (lr/10 after 2 epochs without a better valid_loss)")
      .seed("--seed", o.seed, "seed of the weights' init and the shuffling, >= 0")
      .choice("--device", o.device, {"cpu", "cuda"},
#ifdef TG_WITH_CUDA
              "cpu or cuda (cuda: the data set lives on the GPU, and each training step after "
              "three warm-up steps is one CUDA Graph replay)"
#else
              "cpu or cuda (this build has no CUDA backend: cuda is refused)"
#endif
              )
      .text("--save", "PATH", o.save,
            "write the best epoch (by valid_accuracy) as one safetensors file: the model's "
            "architecture, weights and normalisation (tg::load_learner rebuilds it) "
            "and the optimizer's state (--resume)")
      .text("--export", "PATH", o.export_path,
            "write the final model's state dict alone (PyTorch's names, float32, safetensors), "
            "for model.load_state_dict(safetensors.torch.load_file(PATH)) in PyTorch")
      .text("--save-last", "PATH", o.save_last,
            "after every epoch, write the run's whole state (weights, optimizer, epochs done, "
            "schedule position, shuffle, settings), for --resume to continue it exactly")
      .text("--resume", "PATH", o.resume,
            "a --save-last file: continue that run where it stopped, with its settings; a --save "
            "file: start from its weights and optimizer state, with this run's flags")
      .text("--log-csv", "PATH", o.log_csv, "write the per-epoch figures as CSV")
      .text("--plot", "PATH", o.plot,
            "write an SVG of the losses and accuracy (with --lr-find: loss against lr)")
      .text("--summary", "PATH", o.summary, "write the final figures and the configuration as JSON")
      .text("--interpret", "PATH", o.interpret,
            "after training, print the test set's confusion matrix, most confused classes and "
            "top losses, and write the matrix as an SVG to PATH and the top losses' images to "
            "PATH's name with -top-losses.svg")
      .toggle("--model-summary", o.model_summary,
              "print every layer's output shape and parameter count (learn.summary()) before "
              "training")
      .toggle("--lr-find", o.lr_find,
              "run the learning-rate finder, print its suggestion, and exit")
      .integer("--limit", o.limit, "use only the first N training examples", 1,
               std::numeric_limits<int64_t>::max(), "all")
      .integer("--limit-valid", o.limit_valid, "use only the first N test examples", 1,
               std::numeric_limits<int64_t>::max(), "all")
      .integer("--threads", o.threads,
               "OpenMP threads at most; each training step runs on N, N/2, ... or 1 of them, "
               "whichever a periodic timing finds fastest (a busy core makes fewer faster)",
               1, 4096, "OpenMP's default")
      .toggle("--fixed-threads", o.fixed_threads,
              "run every step on exactly --threads threads (no timing, no switching)")
      .toggle("--no-cuda-graph", o.no_cuda_graph,
              "with --device cuda: run every step op by op (no CUDA Graph)")
      .toggle("--quiet", o.quiet, "print only the final result (no progress, no header)");
  declare_tricks(f, o);
}

const char* kAbout =
    "Trains an MLP classifier on an MNIST-like data set (four IDX files) with SGD, then prints "
    "the test accuracy. Flags take a value as the next argument or after '='.";
const char* kFooter =
    "exit codes: 0 success, 1 runtime error (data, files, training), 2 usage error.\n"
    "example: tapegrad-train --dataset fashion --epochs 5 --plot fashion.svg\n"
    "manual: docs/trainer.md\n";

}  // namespace

std::string Options::data_folder() const {
  return data_dir.empty() ? builtin_dataset_dir(dataset) : data_dir;
}

std::string Options::momentum_name() const {
  return opt == "sgd" || opt == "rmsprop" ? "momentum" : "beta1";
}

int Options::optimizer_buffers() const {
  if (opt == "sgd") return momentum > 0 ? 1 : 0;
  if (opt == "rmsprop") return 1 + (momentum > 0 ? 1 : 0);
  return 2;  // exp_avg, exp_avg_sq
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
  cli::Flags flags("tapegrad-train", kAbout, kFooter);
  declare(flags, o);
  o.help = !flags.parse(argc, argv);
  o.given = flags.given();
  // Defaults that follow --opt (the flag table's are SGD's and Adam's).
  auto fallback = [&o](const char* flag, double& v, double value) {
    if (!o.given.count(flag)) v = value;
  };
  if (o.opt != "sgd") {
    fallback("--lr", o.lr, o.opt == "lamb" ? 1e-2 : o.opt == "rmsprop" ? 1e-3 : 3e-3);
    fallback("--wd", o.wd, o.opt == "adamw" ? 1e-2 : 0.0);
    if (o.opt == "rmsprop") fallback("--momentum", o.momentum, 0.0);
    if (o.opt == "rmsprop" || o.opt == "lamb") fallback("--beta2", o.beta2, 0.99);
    if (o.opt == "lamb") fallback("--eps", o.eps, 1e-6);
  }
  if (o.model == "cnn" && o.given.count("--arch"))
    throw UsageError("--arch sets the MLP's layers; --model cnn takes --channels");
  if (o.model != "cnn" && o.given.count("--channels"))
    throw UsageError("--channels sets the CNN's convolutions; it needs --model cnn");
  if (o.model != "cnn" && o.given.count("--stage-convs"))
    throw UsageError("--stage-convs sets the CNN's convolutions; it needs --model cnn");
  return o;
}

std::string usage() {
  Options defaults;
  cli::Flags flags("tapegrad-train", kAbout, kFooter);
  declare(flags, defaults);
  return flags.help();
}

}  // namespace tg::train
