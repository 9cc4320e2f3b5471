// Training on a GPU: DeviceCallback moves the model and every batch to a device, and
// CudaGraphStep replays a captured training step instead of running it op by op.
//
//   tg::DataBunch data = tg::to_device(mnist, tg::Device::cuda());   // optional: data on the GPU
//   learn.fit(5, {std::make_shared<tg::DeviceCallback>(tg::Device::cuda()),
//                 std::make_shared<tg::CudaGraphStep>()});
//
// DeviceCallback (order -20, before everything that reads a batch) moves the model's
// parameters in place at before_fit — the optimizer holds the same tensors, so it follows —
// and xb, yb at each before_batch (a no-op when the data already lives on the device).
//
// CudaGraphStep (order 100: last at before_batch, after ParamScheduler has set this batch's
// hyper-parameters) lets `warmup` training batches run eagerly (they create SGD's momentum
// buffers and fill the allocator's cache), then captures one whole step — forward, loss,
// backward, optimizer step, zero_grad(set_to_none) — into a CUDA Graph. Every later full-size
// training batch is copied into the graph's input tensors, the optimizer's hyper-parameters are
// uploaded (so schedulers still work), and the graph is replayed: one launch instead of a few
// dozen. learn.pred and learn.loss then point at the graph's outputs, after_pred and
// after_loss run as usual (AvgStats, metrics), and the batch ends through CancelBatch, so
// after_cancel_batch and after_batch run but the backward and step events do not: callbacks
// that act between backward and step (gradient clipping, say) do not combine with this one.
// A short last batch, validation and LR finding run eagerly.
#pragma once

#include <cstdint>
#include <memory>

#include "learner/callback.h"
#include "tensor/cuda_graph.h"
#include "tensor/tensor.h"

namespace tg {

class DeviceCallback : public Callback {
 public:
  explicit DeviceCallback(Device device);
  int order() const override { return -20; }
  void before_fit(Learner& l) override;
  void before_batch(Learner& l) override;
  Device device() const { return device_; }

 private:
  Device device_;
};

class CudaGraphStep : public Callback {
 public:
  explicit CudaGraphStep(int64_t warmup = 3);
  ~CudaGraphStep() override;
  int order() const override { return 100; }
  void before_fit(Learner& l) override;
  void before_batch(Learner& l) override;
  void after_fit(Learner& l) override;

  // Figures of the latest fit (kept after it ends; the graph itself is released at after_fit).
  bool captured() const { return nodes_ > 0; }
  int64_t replays() const { return replays_; }
  size_t graph_nodes() const { return nodes_; }
  int64_t warmup() const { return warmup_; }

 private:
  void capture(Learner& l);
  int64_t warmup_, eager_ = 0, replays_ = 0;
  size_t nodes_ = 0;
  std::unique_ptr<cuda::Graph> graph_;
  Tensor x_, y_, pred_, loss_;  // the graph's inputs and outputs
};

}  // namespace tg
