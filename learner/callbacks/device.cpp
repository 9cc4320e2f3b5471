// DeviceCallback and CudaGraphStep (device.h explains both).
#include "learner/callbacks/device.h"

#include "autograd/tape.h"
#include "learner/events.h"
#include "learner/learner.h"
#include "optim/optimizer.h"
#include "tensor/cuda.h"
#include "tensor/grad_mode.h"

namespace tg {

DeviceCallback::DeviceCallback(Device device) : device_(device) {
  if (device.is_cuda()) {
    TG_CHECK(cuda::is_available(), "DeviceCallback", "a CUDA device was requested (", device.str(),
             ") but none is usable: ", cuda::unavailable_reason());
    TG_CHECK(device.index < cuda::device_count(), "DeviceCallback", device.str(),
             " does not exist: this machine has ", cuda::device_count(), " CUDA device(s)");
  }
}

void DeviceCallback::before_fit(Learner& l) {
  l.model->to(device_);
}

void DeviceCallback::before_batch(Learner& l) {
  if (l.xb.defined()) l.xb = l.xb.to(device_);
  if (l.yb.defined()) l.yb = l.yb.to(device_);
}

CudaGraphStep::CudaGraphStep(int64_t warmup) : warmup_(warmup) {
  TG_CHECK(warmup >= 1, "CudaGraphStep",
           "warmup must be at least 1 (the first step creates SGD's momentum buffers; a captured "
           "first step would replay as a first step every time), got ",
           warmup);
}

CudaGraphStep::~CudaGraphStep() = default;

void CudaGraphStep::before_fit(Learner& l) {
  TG_CHECK(l.model->device().is_cuda(), "CudaGraphStep", "the model is on ",
           l.model->device().str(),
           ": add a DeviceCallback for a CUDA device (it moves the model at before_fit, and runs "
           "first)");
  TG_CHECK(dynamic_cast<optim::SGD*>(l.opt.get()) != nullptr, "CudaGraphStep",
           "the optimizer must be SGD (its CUDA update reads the learning rate from device "
           "memory, so a replayed step follows the scheduler)");
  eager_ = replays_ = 0;
  nodes_ = 0;
  graph_.reset();
  x_ = y_ = pred_ = loss_ = Tensor();
}

void CudaGraphStep::capture(Learner& l) {
  {
    NoGrad off;  // raw copies: the graph's own inputs
    x_ = l.xb.detach().clone();
    y_ = l.yb.detach().clone();
  }
  auto* sgd = static_cast<optim::SGD*>(l.opt.get());
  sgd->upload_hyper();
  graph_ = std::make_unique<cuda::Graph>();
  graph_->capture([&] {
    pred_ = (*l.model)(x_);
    loss_ = l.loss_func(pred_, y_);
    backward(loss_);
    l.opt->step();
    l.opt->zero_grad(/*set_to_none=*/true);
    pred_ = pred_.detach();
    loss_ = loss_.detach();
  });
  nodes_ = graph_->num_nodes();
}

void CudaGraphStep::before_batch(Learner& l) {
  if (!l.training || l.context != RunContext::fit || !l.xb.device().is_cuda()) return;
  if (graph_ && l.xb.shape() != x_.shape()) return;  // a short last batch: eager
  if (!graph_ && eager_ < warmup_) {
    ++eager_;
    return;
  }
  if (!graph_) capture(l);
  {
    NoGrad off;
    x_.copy_(l.xb);
    y_.copy_(l.yb);
  }
  static_cast<optim::SGD*>(l.opt.get())->upload_hyper();
  graph_->replay();
  ++replays_;
  // Fresh handles on the graph's outputs: callbacks that tell batches apart by the loss
  // tensor's identity (Recorder) see a new loss each batch.
  l.pred = pred_.detach();
  l.loss = loss_.detach();
  l.event(Event::after_pred);
  l.event(Event::after_loss);
  throw CancelBatch();
}

void CudaGraphStep::after_fit(Learner&) {
  graph_.reset();  // waits for queued replays, then hands the graph's memory back
  x_ = y_ = pred_ = loss_ = Tensor();
}

}  // namespace tg
