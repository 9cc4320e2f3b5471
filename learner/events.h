// The events of a fit, the cancel exceptions, and the run context.
//
// The order of events (pinned by tests/learner/test_events.cpp):
//   after_create                          once, when the Learner is built
//   before_fit
//     for each epoch: before_epoch
//       before_train
//         for each batch: before_batch, after_pred, after_loss,
//           [training only: before_backward, after_backward, before_step, after_step]
//           (then the Learner zeroes the gradients), after_batch
//       after_train
//       before_validate                   (under NoGrad)
//         for each batch: before_batch, after_pred, after_loss, after_batch
//       after_validate
//     after_epoch
//   after_fit
//
// Cancelling: a callback throws one of the Cancel exceptions below. Each is caught at its own
// level, which then runs after_cancel_<level> and its normal after_<level>, and the loop goes
// on (a cancelled train phase still validates; a cancelled epoch moves to the next one). The
// "before_" event of a level runs inside that level's try, so cancelling from it skips the
// level's body but still runs after_cancel_ and after_.
#pragma once

#include <exception>
#include <string>

namespace tg {

enum class Event {
  after_create,
  before_fit,
  before_epoch,
  before_train,
  before_batch,
  after_pred,
  after_loss,
  before_backward,
  after_backward,
  before_step,
  after_step,
  after_batch,
  after_train,
  before_validate,
  after_validate,
  after_epoch,
  after_fit,
  after_cancel_backward,
  after_cancel_step,
  after_cancel_batch,
  after_cancel_train,
  after_cancel_validate,
  after_cancel_epoch,
  after_cancel_fit,
};
const char* event_name(Event e);

// Control flow from callbacks. Not tg::Error: they are not errors.
struct CancelException : std::exception {
  const char* what() const noexcept override { return level(); }
  virtual const char* level() const noexcept = 0;
};
#define TG_CANCEL(Name, lvl)                                    \
  struct Name : CancelException {                               \
    const char* level() const noexcept override { return lvl; } \
  }
TG_CANCEL(CancelFit, "CancelFit");
TG_CANCEL(CancelEpoch, "CancelEpoch");
TG_CANCEL(CancelTrain, "CancelTrain");
TG_CANCEL(CancelValidate, "CancelValidate");
TG_CANCEL(CancelBatch, "CancelBatch");
TG_CANCEL(CancelStep, "CancelStep");
TG_CANCEL(CancelBackward, "CancelBackward");
#undef TG_CANCEL

// What a Learner is doing: a callback can ask instead of guessing from other callbacks.
enum class RunContext { none, fit, lr_find, validate, get_preds };
const char* context_name(RunContext c);

}  // namespace tg
