// StopOnSignal: a flag set by the signal handler, read by the callback (interrupt.h).
#include "learner/callbacks/interrupt.h"

#include <atomic>
#include <csignal>

#include "learner/learner.h"

namespace tg {

namespace {

volatile std::sig_atomic_t g_signal = 0;
std::atomic<bool> g_installed{false};

extern "C" void on_signal(int sig) {
  if (g_signal != 0) {  // the second: end now, as the default action would
    std::signal(sig, SIG_DFL);
    std::raise(sig);
    return;
  }
  g_signal = sig;
}

// Only a fit (or lr_find's) is cancelled: a validate() or get_preds() after the interrupted
// fit runs to its end, so the caller can report.
void check(const Learner& l) {
  if (g_signal != 0 && (l.context == RunContext::fit || l.context == RunContext::lr_find))
    throw CancelFit();
}

}  // namespace

void StopOnSignal::install() {
  if (g_installed.exchange(true)) return;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // a read or write in progress goes on
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

int StopOnSignal::received() {
  return g_signal;
}

void StopOnSignal::reset() {
  g_signal = 0;
}

void StopOnSignal::before_epoch(Learner& l) {
  check(l);
}

void StopOnSignal::before_batch(Learner& l) {
  check(l);
}

void StopOnSignal::after_batch(Learner& l) {
  check(l);
}

}  // namespace tg
