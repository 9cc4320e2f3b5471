// Callback: a set of optional event handlers with an order.
//
//   struct StopAfter : tg::Callback {
//     int64_t n;
//     explicit StopAfter(int64_t n) : n(n) {}
//     void after_batch(tg::Learner& l) override { if (l.train_iter >= n) throw tg::CancelFit(); }
//   };
//   learn.fit(1, {std::make_shared<StopAfter>(10)});
//
// Handlers are virtual and marked override, so a misspelt handler does not compile. They take
// the Learner and read and write its plain public state (learn.model, learn.opt, learn.xb,
// learn.pred, learn.loss, learn.epoch, ...). Callbacks run sorted by order(), ties in the order
// they were added; a Learner holds at most one callback of each type.
#pragma once

#include <string>

#include "learner/events.h"

namespace tg {

class Learner;

class Callback {
 public:
  virtual ~Callback() = default;
  // Lower runs first. The standard callbacks' orders are in learner/callbacks/callbacks.h.
  virtual int order() const { return 0; }
  // The callback's name in messages; defaults to its C++ type name, demangled.
  virtual std::string name() const;

  virtual void after_create(Learner&) {}
  virtual void before_fit(Learner&) {}
  virtual void before_epoch(Learner&) {}
  virtual void before_train(Learner&) {}
  virtual void before_batch(Learner&) {}
  virtual void after_pred(Learner&) {}
  virtual void after_loss(Learner&) {}
  virtual void before_backward(Learner&) {}
  virtual void after_backward(Learner&) {}
  virtual void before_step(Learner&) {}
  virtual void after_step(Learner&) {}
  virtual void after_batch(Learner&) {}
  virtual void after_train(Learner&) {}
  virtual void before_validate(Learner&) {}
  virtual void after_validate(Learner&) {}
  virtual void after_epoch(Learner&) {}
  virtual void after_fit(Learner&) {}
  virtual void after_cancel_backward(Learner&) {}
  virtual void after_cancel_step(Learner&) {}
  virtual void after_cancel_batch(Learner&) {}
  virtual void after_cancel_train(Learner&) {}
  virtual void after_cancel_validate(Learner&) {}
  virtual void after_cancel_epoch(Learner&) {}
  virtual void after_cancel_fit(Learner&) {}

  // Calls the handler of event e.
  void handle(Event e, Learner& learn);
};

}  // namespace tg
