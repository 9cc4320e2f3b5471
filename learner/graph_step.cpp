// CudaGraphStep (graph_step.h explains it): eager warm-up, one capture, then replays that fire
// the eager step's events for the host callbacks.
#include "learner/graph_step.h"

#include <typeinfo>

#include "autograd/tape.h"
#include "learner/learner.h"
#include "tensor/grad_mode.h"

namespace tg {

CudaGraphStep::CudaGraphStep(int64_t warmup) : warmup_(warmup) {
  TG_CHECK(warmup >= 1, "CudaGraphStep",
           "warmup must be at least 1 (the first step creates the optimizer's state, e.g. SGD's "
           "momentum buffers; a captured first step would replay as a first step every time), "
           "got ",
           warmup);
}

CudaGraphStep::~CudaGraphStep() = default;

void CudaGraphStep::begin_fit(Learner& l) {
  eager_done_ = replays_ = 0;
  nodes_ = 0;
  loss_in_graph_ = false;
  graph_.reset();
  x_ = y_ = pred_ = loss_ = Tensor();
  if (l.context != RunContext::fit) return;  // an LR find runs eagerly: nothing to check
  TG_CHECK(l.model->device().is_cuda(), "CudaGraphStep", "the model is on ",
           l.model->device().str(),
           ": add a DeviceCallback for a CUDA device (it moves the model at before_fit)");
  TG_CHECK(l.opt->capturable(), "CudaGraphStep", "the optimizer ", l.opt->name(),
           " cannot be captured into a CUDA Graph (Optimizer::capturable() is false): use the "
           "eager step");
  for (const auto& cb : l.cbs())
    TG_CHECK(cb->graph_mode() != GraphMode::refuse, "CudaGraphStep", "the callback ", cb->name(),
             " cannot run with a captured step (its graph_mode() is refuse): remove it, or use "
             "the eager step");
}

void CudaGraphStep::end_fit(Learner&) {
  graph_.reset();  // waits for queued replays, then hands the graph's memory back
  x_ = y_ = pred_ = loss_ = Tensor();
}

namespace {

// Fires e for the record-mode callbacks while the step is being captured: their kernels become
// part of the graph. A Cancel cannot be honoured there (a replay has no branches).
void record_event(Learner& l, Event e) {
  try {
    l.event_for(e, GraphMode::record);
  } catch (const CancelException& c) {
    TG_FAIL("CudaGraphStep", c.level(), " was thrown in ", event_name(e),
            " while the step was being captured: a callback whose graph_mode() is record is "
            "part of every replay and cannot cancel it");
  }
}

}  // namespace

void CudaGraphStep::capture(Learner& l) {
  {
    NoGrad off;  // raw copies: the graph's own inputs
    x_ = l.xb.detach().clone();
    y_ = l.yb.detach().clone();
  }
  l.opt->prepare_capture();
  // The tally's running loss sum is added inside the graph, before the optimizer step, so a
  // guarded step (Optimizer::set_nonfinite_guard) sees this batch's loss, as an eager one does.
  loss_in_graph_ = l.tally.device_loss_sum().defined();
  const double bs = static_cast<double>(x_.size(0));
  // During the capture the record callbacks see the graph's own tensors.
  const Tensor xb = l.xb, yb = l.yb;
  l.xb = x_;
  l.yb = y_;
  graph_ = std::make_unique<cuda::Graph>();
  try {
    graph_->capture([&] {
      pred_ = (*l.model)(x_);
      l.pred = pred_;
      record_event(l, Event::after_pred);
      loss_ = l.loss_func(pred_, y_);
      l.loss = loss_;
      if (loss_in_graph_) l.tally.add_to_loss_sum(loss_, bs);
      record_event(l, Event::after_loss);
      record_event(l, Event::before_backward);
      backward(loss_);
      record_event(l, Event::after_backward);
      record_event(l, Event::before_step);
      l.opt->step();
      record_event(l, Event::after_step);
      l.opt->zero_grad(/*set_to_none=*/true);
      pred_ = pred_.detach();
      loss_ = loss_.detach();
    });
  } catch (...) {
    graph_.reset();
    l.xb = xb;
    l.yb = yb;
    throw;
  }
  l.xb = xb;
  l.yb = yb;
  nodes_ = graph_->num_nodes();
}

// After a replay: the in-step events for the host callbacks, in the eager order, and the
// batch's tally entry between after_pred and after_loss as the eager step makes it.
void CudaGraphStep::host_events(Learner& l) {
  l.event_for(Event::after_pred, GraphMode::host);
  l.record_batch(/*loss_summed=*/loss_in_graph_);
  l.event_for(Event::after_loss, GraphMode::host);
  for (Event e :
       {Event::before_backward, Event::after_backward, Event::before_step, Event::after_step}) {
    try {
      l.event_for(e, GraphMode::host);
    } catch (const CancelException& c) {
      // Batch, phase, epoch and fit cancels work as on the eager step; these two cannot.
      if (!dynamic_cast<const CancelBackward*>(&c) && !dynamic_cast<const CancelStep*>(&c)) throw;
      TG_FAIL("CudaGraphStep", c.level(), " was thrown in ", event_name(e),
              " after a replayed step, which has already run backward and the optimizer step; a "
              "callback that cancels them needs the eager step (graph_mode() refuse)");
    }
  }
}

void CudaGraphStep::train_batch(Learner& l) {
  const bool eligible = l.context == RunContext::fit && l.xb.device().is_cuda() &&
                        (!graph_ || l.xb.shape() == x_.shape());  // not a short last batch
  if (!eligible) return eager_.train_batch(l);
  if (!graph_ && eager_done_ < warmup_) {
    ++eager_done_;
    return eager_.train_batch(l);
  }
  if (!graph_) capture(l);
  {
    NoGrad off;
    x_.copy_(l.xb);
    y_.copy_(l.yb);
  }
  l.opt->before_replay();
  graph_->replay();
  ++replays_;
  // Fresh handles on the graph's outputs: callbacks that tell batches apart by the loss
  // tensor's identity see a new loss each batch.
  l.pred = pred_.detach();
  l.loss = loss_.detach();
  host_events(l);
}

}  // namespace tg
