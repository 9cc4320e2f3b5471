// A callback that records the name of every event it sees, generated from the event table
// (learner/events.h); optionally throws `thrower` the first time `at` fires. Shared by the
// event tests of tests/learner and the device traces of tests/cuda.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "learner/callback.h"
#include "learner/events.h"

namespace tg::test {

struct Tracer : Callback {
  std::vector<std::string> trace;
  Event at = Event::after_create;
  std::function<void()> thrower;
  bool fired = false;
  int order() const override { return 100; }
  void on(Event e, Learner&) {
    trace.push_back(event_name(e));
    if (thrower && !fired && e == at) {
      fired = true;
      thrower();
    }
  }
#define TG_TRACE(ev)             \
  void ev(Learner& l) override { \
    on(Event::ev, l);            \
  }
  TG_EVENTS(TG_TRACE)
#undef TG_TRACE
};

}  // namespace tg::test
