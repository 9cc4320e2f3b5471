// SIGINT and SIGTERM as a cancel: the first one asks the fit (or lr_find) to stop after the
// batch it is in (CancelFit, so after_cancel_fit and after_fit run and the caller can write what
// it has; a validate() afterwards runs whole); a second one ends the process at once, as if no
// handler were installed.
//
//   tg::StopOnSignal::install();          // early in main: a ^C while loading counts too
//   learn.fit(8, {std::make_shared<tg::StopOnSignal>()});
//   if (int sig = tg::StopOnSignal::received()) { /* write results */ return 128 + sig; }
//
// The handler only records the signal (async-signal-safe); the callback checks it before and
// after every batch, on the host (in a replayed CUDA Graph step too: graph_mode host).
#pragma once

#include "learner/callback.h"

namespace tg {

class StopOnSignal : public Callback {
 public:
  // Installs the handlers for SIGINT and SIGTERM (once; later calls do nothing).
  static void install();
  // The first signal received since install (SIGINT, SIGTERM), or 0.
  static int received();
  // Forgets a received signal (tests).
  static void reset();

  int order() const override { return -15; }  // before the others see the batch
  void before_batch(Learner& l) override;
  void after_batch(Learner& l) override;
  void before_epoch(Learner& l) override;
};

}  // namespace tg
