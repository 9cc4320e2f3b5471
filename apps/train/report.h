// What a run leaves behind: the --plot SVGs (training curves, LR finder sweep), the --summary
// JSON, and the printed LR-finder summary. Files are written with write_file_atomic, so a
// reader never sees half a file.
#pragma once

#include <iosfwd>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "apps/train/options.h"
#include "learner/callbacks/callbacks.h"

namespace tg::train {

// The figures of a finished fit, as the summary and the final lines need them.
struct Outcome {
  std::vector<std::map<std::string, double>> epochs;  // AvgStats history, one map per epoch
  double test_accuracy = 0, test_loss = 0;
  double total_seconds = 0;
  int64_t train_examples = 0, test_examples = 0, classes = 0;
  int threads = 0;
  // AdaptiveThreads' choices, (training batch, threads); empty with --fixed-threads.
  std::vector<std::pair<int64_t, int>> thread_choices;
  int64_t best_epoch = -1;    // SaveModel's best epoch (from 0), -1 without --save
  int64_t resumed_after = 0;  // epochs done by the run this one continues (--resume of --save-last)
  std::string interrupted;    // "SIGINT" or "SIGTERM" when a signal stopped the fit, else ""
};

// Three panels: loss per training batch; train and valid loss per epoch; accuracy per epoch.
void write_training_plot(const std::string& path, const Recorder& rec,
                         const std::vector<std::map<std::string, double>>& epochs);
// Loss (raw and smoothed) against the learning rate, log x, with the suggestion marked.
void write_lr_plot(const std::string& path, const LRFindResult& r);
// Prints a short table of the sweep and the suggestions (just "suggested_lr X" when quiet).
void print_lr_find(std::ostream& out, const LRFindResult& r, bool quiet);
// The --summary document: configuration, final figures, per-epoch lists.
void write_summary(const std::string& path, const Options& o, const Outcome& out);

}  // namespace tg::train
