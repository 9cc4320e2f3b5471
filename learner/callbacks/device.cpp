// DeviceCallback (device.h).
#include "learner/callbacks/device.h"

#include "learner/learner.h"
#include "tensor/cuda.h"

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

}  // namespace tg
