// Device memory, copies and graph capture over the CUDA runtime (memory.h), for tensor/cuda.cpp.
#include "kernels/cuda/memory.h"

#include "kernels/cuda/runtime.h"

namespace tg::kernels::cuda {

void* device_alloc(size_t bytes) {
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, bytes);
  if (e == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();  // out of memory is not sticky: clear it and report nullptr
    return nullptr;
  }
  TG_CUDA_CHECK(e);
  return p;
}

void device_free(void* p) {
  TG_CUDA_CHECK(cudaFree(p));
}

MemoryInfo memory_info() {
  MemoryInfo m;
  if (cudaMemGetInfo(&m.free, &m.total) != cudaSuccess) {
    (void)cudaGetLastError();
    m = {};
  }
  return m;
}

void copy_bytes(const char* op, void* dst, const void* src, size_t bytes) {
  if (!bytes) return;
  cudaPointerAttributes attr{};
  TG_CUDA_CHECK(cudaPointerGetAttributes(&attr, dst));
  const bool to_host = attr.type != cudaMemoryTypeDevice && attr.type != cudaMemoryTypeManaged;
  cudaStream_t s = current_stream();
  if (to_host) {
    TG_CHECK(!is_capturing(), op,
             "a copy to the CPU waits for the GPU and cannot happen during CUDA Graph capture");
  }
  TG_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, s));
  if (to_host) {
    TG_CUDA_CHECK(cudaStreamSynchronize(s));
    raise_device_error();
  }
}

void restore_device(int index) noexcept {
  int now = 0;
  if (cudaGetDevice(&now) == cudaSuccess && now != index) cudaSetDevice(index);
}

void begin_capture(cudaStream_t s) {
  TG_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed));
}

cudaGraph_t end_capture(const char* op, cudaStream_t s) {
  cudaGraph_t graph = nullptr;
  const cudaError_t end = cudaStreamEndCapture(s, &graph);
  if (end != cudaSuccess) {
    (void)cudaGetLastError();
    TG_FAIL(op, "capture failed: ", cudaGetErrorName(end), " (", cudaGetErrorString(end),
            "); the captured code must only queue work on the current stream (no item(), no "
            "copies to the CPU, no synchronisation)");
  }
  return graph;
}

void abort_capture(cudaStream_t s) noexcept {
  cudaGraph_t broken = nullptr;
  cudaStreamEndCapture(s, &broken);
  if (broken) cudaGraphDestroy(broken);
  (void)cudaGetLastError();
}

cudaGraphExec_t instantiate_graph(cudaGraph_t graph, size_t* nodes) {
  TG_CUDA_CHECK(cudaGraphGetNodes(graph, nullptr, nodes));
  cudaGraphExec_t exec = nullptr;
  TG_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  return exec;
}

void launch_graph(cudaGraphExec_t exec, cudaStream_t s) {
  TG_CUDA_CHECK(cudaGraphLaunch(exec, s));
}

void destroy_graph(cudaGraph_t graph, cudaGraphExec_t exec, cudaStream_t last_launch) noexcept {
  if (exec) cudaGraphExecDestroy(exec);
  if (graph) cudaGraphDestroy(graph);
  if (last_launch) cudaStreamSynchronize(last_launch);
}

}  // namespace tg::kernels::cuda
