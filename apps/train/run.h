// One run of the trainer: load the data, build the model, then either train and report, or
// (with --lr-find) sweep the learning rate and report that.
//
//   tg::train::Options o = tg::train::parse_options(argc, argv);
//   return tg::train::run(o, std::cout);
//
// Problems surface as exceptions: UsageError for what the command line got wrong (including
// what can only be checked against the data, such as the first --arch size, and --device cuda
// in a build without CUDA), anything else for runtime failures (data, files, training).
#pragma once

#include <iosfwd>

#include "apps/train/options.h"

namespace tg::train {

// Returns the exit code (0); writes progress and results to out.
int run(const Options& o, std::ostream& out);

}  // namespace tg::train
