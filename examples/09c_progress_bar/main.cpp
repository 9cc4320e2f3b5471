// Course step 09c, "progress bar" (fastai notebook 09c_add_progress_bar): AvgStats keeps
// computing the figures but stops printing them (print = false); a ProgressBar callback shows
// them instead — on a terminal, a bar redrawn in place while the epoch trains (batches done,
// loss, time left), and one aligned table row per epoch; in a log (not a terminal, or the CI
// variable set, or --plain) only the table rows, so the log holds no '\r' redraws.
//
//   build/bin/09c_progress_bar [--limit N] [--data DIR] [--epochs E] [--plain]
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "autograd/functions.h"
#include "examples/common/course.h"
#include "learner/callbacks/callbacks.h"
#include "learner/learner.h"

int main(int argc, char** argv) {
  course::Options o;
  o.epochs = 3;
  bool plain = false;
  course::Flags flags("09c_progress_bar",
                      "tg::ProgressBar with AvgStats(print = false): a live bar with loss and "
                      "ETA on a terminal, one plain line per epoch otherwise.");
  flags.data(o).training(o).toggle("--plain", plain, "never draw the bar (as in CI)");
  if (auto rc = flags.parse_or_exit(argc, argv)) return *rc;

  return course::run([&] {
    const course::Data data = course::load_data(o);
    auto [model, opt] = course::get_model(data.d, o.nh, o.lr, o.seed);
    auto bar = std::make_shared<tg::ProgressBar>(/*out=*/nullptr, /*force_plain=*/plain);
    tg::Learner learn(model, opt, tg::cross_entropy, tg::make_databunch(data.d, o.bs, o.seed),
                      {.metrics = {tg::accuracy_metric()}},
                      {std::make_shared<tg::AvgStats>(/*print=*/false), bar});

    // The same three questions the ProgressBar asks when it is built.
    const bool tty = isatty(fileno(stdout)) == 1;
    const char* ci = std::getenv("CI");
    const bool in_ci = ci != nullptr && ci[0] != '\0';
    std::printf("stdout is a terminal: %s; CI is %s; --plain: %s -> %s\n", tty ? "yes" : "no",
                in_ci ? "set" : "unset", plain ? "yes" : "no",
                bar->interactive() ? "a live bar, then a table row per epoch"
                                   : "plain: a table row per epoch");
    std::fflush(stdout);  // the bar writes through std::cout: keep the two in order

    learn.fit(o.epochs);
    std::printf("done: valid_loss %.4f, valid_accuracy %.4f\n", learn.values.at("valid_loss"),
                learn.values.at("valid_accuracy"));
    return 0;
  });
}
