// tg::cuda: the GPU as the rest of the library and its users see it. Every function exists in
// every build: without the CUDA backend (no nvcc at configure time) is_available() is false,
// device_count() is 0 and the rest are no-ops or zeros, so user code needs no #ifdef.
//
//   if (tg::cuda::is_available()) {
//     tg::Tensor x = tg::randn({64, 784}).to(tg::Device::cuda());
//     tg::Tensor y = tg::relu(x);            // queued on the GPU; the host goes on
//     float s = tg::sum(y).item<float>();    // item() waits for the GPU
//     auto st = tg::cuda::memory_stats();    // allocated, reserved, peak, driver calls
//   }
//
// Memory: CUDA tensors are allocated through a caching allocator (tensor/block_pool.h), so a
// training step that has run once allocates nothing from the driver afterwards.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace tg::cuda {

bool is_available();
int device_count();
// Why is_available() is false ("this build has no CUDA backend", the driver's error, ...).
std::string unavailable_reason();
// Waits for all work queued on the current device's stream; raises errors kernels recorded
// (an index out of range, a label out of range) as tg::Error.
void synchronize();

// TF32 tensor cores for float32 matmuls: faster, about 3 decimal digits. Off by default.
void set_allow_tf32(bool allow);
bool allow_tf32();

struct MemoryStats {
  size_t allocated = 0;        // bytes in live tensors
  size_t reserved = 0;         // bytes held from the driver (allocated + cached)
  size_t peak_allocated = 0;   // since the start or reset_peak_memory()
  size_t cached = 0;           // freed blocks kept for reuse
  uint64_t driver_allocs = 0;  // cudaMalloc calls so far
  uint64_t driver_frees = 0;   // cudaFree calls so far
  uint64_t allocs = 0;         // allocations served
  uint64_t reuses = 0;         // ... from the cache
};
MemoryStats memory_stats(int device = 0);
void reset_peak_memory(int device = 0);
// Returns cached blocks to the driver (blocks held by a captured graph stay).
void empty_cache(int device = 0);

}  // namespace tg::cuda
