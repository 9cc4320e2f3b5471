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

// How a callback's in-step handlers — after_pred, after_loss, before_backward, after_backward,
// before_step, after_step of a training batch — run when the step is a CUDA Graph replay
// (CudaGraphStep, learner/graph_step.h). Every other event runs as usual.
enum class GraphMode {
  // The default: host work only (counters, logs, reading learn.pred and learn.loss). Not called
  // while the step is being captured; called after every replay, in the usual order, with
  // learn.pred and learn.loss holding the replay's outputs. The backward and the optimizer
  // step have run by then: such a handler must not change gradients or weights (they would
  // act after the step), nor throw CancelBackward or CancelStep (a tg::Error then).
  host,
  // Tensor work that belongs to the step (gradient clipping, a loss scale): called while the
  // step is being captured, so its kernels are recorded into the graph and replayed with it,
  // and not called again on replays. It must not read device values on the host, and what it
  // does may not depend on host state that changes between batches.
  record,
  // Cannot run with a captured step: a fit with CudaGraphStep refuses to start, naming it.
  refuse,
};

class Callback {
 public:
  virtual ~Callback() = default;
  // Lower runs first. The standard callbacks' orders are in learner/callbacks/callbacks.h.
  virtual int order() const { return 0; }
  // The callback's name in messages; defaults to its C++ type name, demangled.
  virtual std::string name() const;
  // How its in-step handlers run with a captured step (GraphMode above).
  virtual GraphMode graph_mode() const { return GraphMode::host; }

  // One virtual handler per event of the table in events.h, each doing nothing by default:
  //   virtual void before_fit(Learner&) {}  ...  virtual void after_cancel_fit(Learner&) {}
#define TG_EVENT_HANDLER(name) \
  virtual void name(Learner&) {}
  TG_EVENTS(TG_EVENT_HANDLER)
#undef TG_EVENT_HANDLER

  // Calls the handler of event e.
  void handle(Event e, Learner& learn);
};

}  // namespace tg
