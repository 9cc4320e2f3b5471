// The trainer's command line: every flag, its default, and a strict parser.
//
//   tg::train::Options o = tg::train::parse_options(argc, argv);   // throws UsageError
//   if (o.help) std::cout << tg::train::usage();
//
// The flags are a tg::cli::Flags table (apps/cli/flags.h, the parser every example uses too):
// numbers must be the whole argument (std::from_chars), every value is range-checked here, and
// anything wrong is a UsageError whose message names the flag and the value; main() prints it
// as "tapegrad-train: error: <message> (see --help)" and exits 2. Checks that need the data
// (the first --arch size against the image size) happen later, in run().
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "apps/cli/flags.h"

namespace tg::train {

// A mistake on the command line (exit code 2), as opposed to a runtime failure (exit code 1).
using UsageError = tg::cli::UsageError;

struct Options {
  std::string data_dir;                        // --data; empty: the --dataset's built-in folder
  std::string dataset = "mnist";               // --dataset mnist|fashion
  std::string model = "mlp";                   // --model mlp|cnn
  std::vector<int64_t> arch = {784, 256, 10};  // --arch, layer sizes (--model mlp)
  std::vector<int64_t> channels = {8, 16, 32, 32};  // --channels, conv outputs (--model cnn)
  int64_t stage_convs = 1;                          // --stage-convs, convs per --channels entry
  int64_t epochs = 8;                               // --epochs
  int64_t bs = 64;                                  // --bs
  double lr = 0.05;                                 // --lr (the peak lr with --schedule onecycle)
  double momentum = 0.9;                            // --momentum (Adam, AdamW, LAMB: beta1)
  double wd = 5e-4;                                 // --wd
  std::string opt = "sgd";                          // --opt sgd|adam|adamw|rmsprop|lamb
  double beta2 = 0.999;                             // --beta2 (RMSprop: alpha)
  double eps = 1e-8;                                // --eps
  std::string schedule = "onecycle";                // --schedule const|onecycle|cos
  uint64_t seed = 42;                               // --seed
  std::string device = "cpu";                       // --device cpu|cuda
  std::string save;                                 // --save PATH
  std::string resume;                               // --resume PATH
  std::string log_csv;                              // --log-csv PATH
  std::string plot;                                 // --plot PATH.svg
  std::string export_path;                          // --export PATH.safetensors
  std::string summary;                              // --summary PATH.json
  std::string interpret;                            // --interpret PATH.svg
  bool model_summary = false;                       // --model-summary
  bool lr_find = false;                             // --lr-find
  int64_t limit = 0;                                // --limit N; 0: all training examples
  int64_t limit_valid = 0;                          // --limit-valid N; 0: the whole test set
  int threads = 0;                                  // --threads N; 0: OpenMP's default
  bool fixed_threads = false;                       // --fixed-threads: no AdaptiveThreads
  bool quiet = false;                               // --quiet
  bool no_cuda_graph = false;                       // --no-cuda-graph
  bool help = false;                                // -h, --help
  std::string save_last;                            // --save-last PATH
  // The training tricks (docs/trainer.md "Training tricks"); 0 / false: off.
  int64_t pad_crop = 0;         // --pad-crop N: random crops of the image padded by N pixels
  bool flip = false;            // --flip: random horizontal flips
  double mixup = 0;             // --mixup ALPHA: Mixup with lambda ~ Beta(ALPHA, ALPHA)
  double label_smoothing = 0;   // --label-smoothing EPS, in [0, 1)
  double clip_value = 0;        // --clip-value V: gradients clamped to [-V, V]
  std::set<std::string> given;  // the flags on the command line ("--bs", ...)

  // The folder to read: --data when given, else the --dataset's built-in folder.
  std::string data_folder() const;
  // The name of the hyper-parameter --momentum sets: "momentum" (SGD, RMSprop) or "beta1".
  std::string momentum_name() const;
  // How many buffers of the parameters' size the optimizer keeps.
  int optimizer_buffers() const;
};

// Parses argv[1..argc). Flags take their value as the next argument or after '='
// (--epochs 3, --epochs=3); a flag given twice keeps the last value; -h or --help sets help.
Options parse_options(int argc, const char* const* argv);

// The --help text: every flag with its default.
std::string usage();

// "784-128-10".
std::string arch_str(const std::vector<int64_t>& arch);

}  // namespace tg::train
