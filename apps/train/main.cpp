// tapegrad-train: the command-line trainer (docs/trainer.md is its manual).
//
//   tapegrad-train --dataset fashion --epochs 5 --save best.safetensors --plot curves.svg
//
// main() only maps outcomes to exit codes: 0 success, 2 a usage error (bad flag or value,
// including what only the data can reveal, such as an --arch that does not fit the images),
// 1 anything that went wrong at run time (data, files, training). Every error is one line,
// "tapegrad-train: error: <what>" on stderr (plus the causes of a nested exception); nothing
// escapes as an uncaught exception.
#include <exception>
#include <iostream>
#include <new>
#include <string>

#include "apps/train/options.h"
#include "apps/train/run.h"

namespace {

constexpr int kRuntimeError = 1;
constexpr int kUsageError = 2;

// Appends each nested cause whose text the message does not already repeat (the Learner's
// wrapper repeats its cause's message; other nestings may not).
void append_causes(const std::exception& e, std::string& msg, int depth = 0) {
  if (depth >= 8) return;
  try {
    std::rethrow_if_nested(e);
  } catch (const std::exception& inner) {
    const std::string text = inner.what();
    if (msg.find(text) == std::string::npos) msg += "\n  caused by: " + text;
    append_causes(inner, msg, depth + 1);
  } catch (...) {
  }
}

int error(const std::string& msg, int code) {
  std::cout.flush();
  std::cerr << "tapegrad-train: error: " << msg << std::endl;
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const tg::train::Options o = tg::train::parse_options(argc, argv);
    if (o.help) {
      std::cout << tg::train::usage();
      return 0;
    }
    return tg::train::run(o, std::cout);
  } catch (const tg::train::UsageError& e) {
    return error(std::string(e.what()) + " (see --help)", kUsageError);
  } catch (const std::bad_alloc&) {
    return error("out of memory (try a smaller --bs, --arch or --limit)", kRuntimeError);
  } catch (const std::exception& e) {
    std::string msg = e.what();
    append_causes(e, msg);
    return error(msg, kRuntimeError);
  } catch (...) {
    return error("unknown error", kRuntimeError);
  }
}
