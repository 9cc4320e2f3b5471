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

// The one table of events, in the order of a fit. Everything else is generated from it: the
// enum, event_name(), Callback's handlers and its dispatch. Adding an event is one line here
// (and the place in learner.cpp that fires it).
#define TG_EVENTS(X)       \
  X(after_create)          \
  X(before_fit)            \
  X(before_epoch)          \
  X(before_train)          \
  X(before_batch)          \
  X(after_pred)            \
  X(after_loss)            \
  X(before_backward)       \
  X(after_backward)        \
  X(before_step)           \
  X(after_step)            \
  X(after_batch)           \
  X(after_train)           \
  X(before_validate)       \
  X(after_validate)        \
  X(after_epoch)           \
  X(after_fit)             \
  X(after_cancel_backward) \
  X(after_cancel_step)     \
  X(after_cancel_batch)    \
  X(after_cancel_train)    \
  X(after_cancel_validate) \
  X(after_cancel_epoch)    \
  X(after_cancel_fit)

enum class Event {
#define TG_EVENT_ENUM(name) name,
  TG_EVENTS(TG_EVENT_ENUM)
#undef TG_EVENT_ENUM
};
#define TG_EVENT_COUNT(name) +1
inline constexpr int kNumEvents = 0 TG_EVENTS(TG_EVENT_COUNT);
#undef TG_EVENT_COUNT
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
