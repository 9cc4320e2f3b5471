// Grad mode: one thread-local flag, so a NoGrad scope on one thread (say, a validation loop)
// never turns recording off for another.
#include "tensor/grad_mode.h"

namespace tg {

namespace {
thread_local bool grad_enabled = true;
}

bool GradMode::enabled() {
  return grad_enabled;
}
void GradMode::set_enabled(bool on) {
  grad_enabled = on;
}

}  // namespace tg
