// Device memory, copies and CUDA Graph capture for the caching allocator and tg::cuda::Graph
// (tensor/cuda.cpp). They sit here, beside the kernels, so that every call into the CUDA
// runtime is made inside libtg_cuda (cmake/cuda.cmake says why): the static layers above call
// these functions, never the runtime, and so need no CUDA library to link.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>

namespace tg::kernels::cuda {

// Memory on the current device. device_alloc returns nullptr when the device is out of memory
// (and clears that error: it is not sticky), so that the caller can release its cache and
// retry; any other failure throws tg::Error.
void* device_alloc(size_t bytes);
void device_free(void* p);
// Free and total bytes of the current device; zeros when the driver cannot say.
struct MemoryInfo {
  size_t free = 0, total = 0;
};
MemoryInfo memory_info();

// Copies bytes between host and device or within devices, queued on the current stream. A copy
// into host memory waits for the stream and then raises any recorded device error; it is
// refused (tg::Error naming op) during CUDA Graph capture, which cannot wait.
void copy_bytes(const char* op, void* dst, const void* src, size_t bytes);

// Makes index the current device again, when it is not; never throws (for scope guards).
void restore_device(int index) noexcept;

// CUDA Graphs of the work queued on a stream. begin_capture starts a relaxed-mode capture (the
// allocator may still call cudaMalloc); end_capture returns the graph or throws tg::Error
// naming op; abort_capture ends a capture whose code threw and discards what it recorded.
void begin_capture(cudaStream_t s);
cudaGraph_t end_capture(const char* op, cudaStream_t s);
void abort_capture(cudaStream_t s) noexcept;
// An executable graph; nodes receives the graph's node count.
cudaGraphExec_t instantiate_graph(cudaGraph_t graph, size_t* nodes);
void launch_graph(cudaGraphExec_t exec, cudaStream_t s);
// Destroys both (either may be null), then waits for the stream of the latest launch (null:
// none) so that no queued replay outlives the memory it uses. Never throws.
void destroy_graph(cudaGraph_t graph, cudaGraphExec_t exec, cudaStream_t last_launch) noexcept;

}  // namespace tg::kernels::cuda
