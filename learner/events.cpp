// Names of events and contexts, and Callback's dispatch of an event to its handler.
#include <cxxabi.h>

#include <cstdlib>
#include <memory>
#include <typeinfo>

#include "learner/callback.h"

namespace tg {

const char* event_name(Event e) {
  switch (e) {
    case Event::after_create:
      return "after_create";
    case Event::before_fit:
      return "before_fit";
    case Event::before_epoch:
      return "before_epoch";
    case Event::before_train:
      return "before_train";
    case Event::before_batch:
      return "before_batch";
    case Event::after_pred:
      return "after_pred";
    case Event::after_loss:
      return "after_loss";
    case Event::before_backward:
      return "before_backward";
    case Event::after_backward:
      return "after_backward";
    case Event::before_step:
      return "before_step";
    case Event::after_step:
      return "after_step";
    case Event::after_batch:
      return "after_batch";
    case Event::after_train:
      return "after_train";
    case Event::before_validate:
      return "before_validate";
    case Event::after_validate:
      return "after_validate";
    case Event::after_epoch:
      return "after_epoch";
    case Event::after_fit:
      return "after_fit";
    case Event::after_cancel_backward:
      return "after_cancel_backward";
    case Event::after_cancel_step:
      return "after_cancel_step";
    case Event::after_cancel_batch:
      return "after_cancel_batch";
    case Event::after_cancel_train:
      return "after_cancel_train";
    case Event::after_cancel_validate:
      return "after_cancel_validate";
    case Event::after_cancel_epoch:
      return "after_cancel_epoch";
    case Event::after_cancel_fit:
      return "after_cancel_fit";
  }
  return "unknown_event";
}

const char* context_name(RunContext c) {
  switch (c) {
    case RunContext::none:
      return "none";
    case RunContext::fit:
      return "fit";
    case RunContext::lr_find:
      return "lr_find";
    case RunContext::validate:
      return "validate";
    case RunContext::get_preds:
      return "get_preds";
  }
  return "unknown";
}

std::string Callback::name() const {
  const char* mangled = typeid(*this).name();
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> d(abi::__cxa_demangle(mangled, nullptr, nullptr, &status),
                                           std::free);
  std::string n = (status == 0 && d) ? d.get() : mangled;
  // Drop the namespaces a reader does not need: "tg::", "(anonymous namespace)::".
  for (const std::string prefix : {"tg::", "(anonymous namespace)::"})
    if (n.rfind(prefix, 0) == 0) n = n.substr(prefix.size());
  return n;
}

void Callback::handle(Event e, Learner& l) {
  switch (e) {
    case Event::after_create:
      return after_create(l);
    case Event::before_fit:
      return before_fit(l);
    case Event::before_epoch:
      return before_epoch(l);
    case Event::before_train:
      return before_train(l);
    case Event::before_batch:
      return before_batch(l);
    case Event::after_pred:
      return after_pred(l);
    case Event::after_loss:
      return after_loss(l);
    case Event::before_backward:
      return before_backward(l);
    case Event::after_backward:
      return after_backward(l);
    case Event::before_step:
      return before_step(l);
    case Event::after_step:
      return after_step(l);
    case Event::after_batch:
      return after_batch(l);
    case Event::after_train:
      return after_train(l);
    case Event::before_validate:
      return before_validate(l);
    case Event::after_validate:
      return after_validate(l);
    case Event::after_epoch:
      return after_epoch(l);
    case Event::after_fit:
      return after_fit(l);
    case Event::after_cancel_backward:
      return after_cancel_backward(l);
    case Event::after_cancel_step:
      return after_cancel_step(l);
    case Event::after_cancel_batch:
      return after_cancel_batch(l);
    case Event::after_cancel_train:
      return after_cancel_train(l);
    case Event::after_cancel_validate:
      return after_cancel_validate(l);
    case Event::after_cancel_epoch:
      return after_cancel_epoch(l);
    case Event::after_cancel_fit:
      return after_cancel_fit(l);
  }
}

}  // namespace tg
