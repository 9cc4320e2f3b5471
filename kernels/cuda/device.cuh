// Device-side helpers shared by the kernels in kernels/cuda/: grid-stride loops and the
// device error record (runtime.h says how errors reach the host).
#pragma once

#include <cstdint>

#include "kernels/cuda/runtime.h"

namespace tg::kernels::cuda {

// Records the first error of a run of kernels; later ones are dropped so the message names the
// first problem. Called by at most a few threads, so the atomic costs nothing in practice.
__device__ inline void report_device_error(DeviceErrorRecord* rec, int code, long long position,
                                           long long value, long long bound) {
  if (atomicCAS(&rec->code, 0, -1) == 0) {  // -1: being written
    rec->position = position;
    rec->value = value;
    rec->bound = bound;
    __threadfence_system();
    atomicExch(&rec->code, code);
  }
}

// for (i = first thread; i < n; i += all threads): every kernel of a flat loop uses this.
#define TG_GRID_STRIDE(i, n)                                                             \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

}  // namespace tg::kernels::cuda
