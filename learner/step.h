// BatchStep: the body of one training batch, the one replaceable seam of Learner::one_batch.
//
//   learn.step = std::make_shared<tg::CudaGraphStep>();   // learner/graph_step.h
//   learn.fit(5);
//
// Between before_batch and after_batch a training batch runs, on every device and with every
// step, these events in this order:
//   after_pred, after_loss, before_backward, after_backward, before_step, after_step
// (then the gradients are dropped: zero_grad(set_to_none)). EagerStep, the default, runs the
// model, the loss, backward and the optimizer op by op between them, with the usual cancel
// rules (learner/events.h). Another step (CudaGraphStep) may run the same work differently but
// fires the same events in the same order, and records each batch in learn.tally the same way.
//
// Validation batches (forward and loss only) are run by the Learner itself, eagerly, whatever
// the step.
#pragma once

#include <string>

namespace tg {

class Learner;

class BatchStep {
 public:
  virtual ~BatchStep() = default;
  virtual std::string name() const = 0;
  // At the start of a fit, after the before_fit event (callbacks have moved the model, set
  // the schedules): a step that cannot run this fit refuses here, naming why.
  virtual void begin_fit(Learner& learn) { (void)learn; }
  // One training batch: learn.xb and learn.yb are set; on return learn.pred and learn.loss
  // hold the batch's outputs.
  virtual void train_batch(Learner& learn) = 0;
  // At the end of a fit, however it ends (also when it fails): release what begin_fit and the
  // batches made.
  virtual void end_fit(Learner& learn) { (void)learn; }
};

// Forward, after_pred, loss, after_loss, backward (its level), step (its level), zero_grad.
class EagerStep : public BatchStep {
 public:
  std::string name() const override { return "EagerStep"; }
  void train_batch(Learner& learn) override;
};

}  // namespace tg
