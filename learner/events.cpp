// Names of events and contexts, and Callback's dispatch of an event to its handler.
#include <typeinfo>

#include "base/type_name.h"
#include "learner/callback.h"

namespace tg {

const char* event_name(Event e) {
  switch (e) {
#define TG_EVENT_NAME(name) \
  case Event::name:         \
    return #name;
    TG_EVENTS(TG_EVENT_NAME)
#undef TG_EVENT_NAME
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
  return type_name(typeid(*this));
}

void Callback::handle(Event e, Learner& l) {
  switch (e) {
#define TG_EVENT_CALL(name) \
  case Event::name:         \
    return name(l);
    TG_EVENTS(TG_EVENT_CALL)
#undef TG_EVENT_CALL
  }
}

}  // namespace tg
