// Training on a GPU: DeviceCallback moves the model and every batch to a device.
//
//   tg::DataBunch data = tg::to_device(mnist, tg::Device::cuda());   // optional: data on the GPU
//   learn.step = std::make_shared<tg::CudaGraphStep>();            // optional:
//   learner/graph_step.h learn.fit(5, {std::make_shared<tg::DeviceCallback>(tg::Device::cuda())});
//
// DeviceCallback (order -20, before everything that reads a batch) moves the model's
// parameters in place at before_fit — the optimizer holds the same tensors, so it follows —
// and xb, yb at each before_batch (a no-op when the data already lives on the device).
#pragma once

#include "learner/callback.h"
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

}  // namespace tg
