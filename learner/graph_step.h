// CudaGraphStep: a training batch as one CUDA Graph replay instead of a few dozen launches.
//
//   learn.step = std::make_shared<tg::CudaGraphStep>();
//   learn.fit(5, {std::make_shared<tg::DeviceCallback>(tg::Device::cuda())});
//
// `warmup` training batches run eagerly (EagerStep: they create the optimizer's state buffers
// and fill the allocator's cache); the next full-size batch is captured — forward, loss,
// backward, optimizer step, zero_grad(set_to_none) — and from then on every full-size training
// batch is copied into the graph's inputs, the optimizer's hyper-parameters are copied to the
// device (Optimizer::before_replay, so schedulers still work) and the graph is replayed.
// A short last batch, validation, an LR find and anything off the GPU run eagerly.
//
// Events: a replayed batch fires the same events in the same order as an eager one —
// before_batch, after_pred, after_loss, before_backward, after_backward, before_step,
// after_step, after_batch — and records the batch in learn.tally the same way. What a callback
// may do in the in-step events (after_pred .. after_step) is its graph_mode() (callback.h):
// host (the default) handlers run after each replay against learn.pred / learn.loss, the
// replay's outputs; record handlers run while the step is captured, their kernels part of the
// graph; a fit with a refuse callback does not start. The optimizer must be capturable()
// (optim/optimizer.h); no optimizer type is named here.
#pragma once

#include <cstdint>
#include <memory>

#include "learner/step.h"
#include "tensor/cuda_graph.h"
#include "tensor/tensor.h"

namespace tg {

class CudaGraphStep : public BatchStep {
 public:
  explicit CudaGraphStep(int64_t warmup = 3);
  ~CudaGraphStep() override;
  std::string name() const override { return "CudaGraphStep"; }
  void begin_fit(Learner& l) override;
  void train_batch(Learner& l) override;
  void end_fit(Learner& l) override;

  // Figures of the latest fit (kept after it ends; the graph itself is released by end_fit).
  bool captured() const { return nodes_ > 0; }
  int64_t replays() const { return replays_; }
  size_t graph_nodes() const { return nodes_; }
  int64_t warmup() const { return warmup_; }

 private:
  void capture(Learner& l);
  void host_events(Learner& l);
  EagerStep eager_;
  int64_t warmup_, eager_done_ = 0, replays_ = 0;
  size_t nodes_ = 0;
  bool loss_in_graph_ = false;  // the graph adds the loss to the tally's sum before its step
  std::unique_ptr<cuda::Graph> graph_;
  Tensor x_, y_, pred_, loss_;  // the graph's inputs and outputs
};

}  // namespace tg
