// tg::cuda (cuda.h, cuda_graph.h) and the CUDA allocator. With the backend: the caching
// allocator is a BlockPool over cudaMalloc/cudaFree per device, copies go through
// cudaMemcpyAsync on the current stream, and a Graph wraps stream capture, all through
// kernels/cuda/memory.h (this file calls no CUDA runtime function itself, so the static
// tg_tensor needs no CUDA library to link). Without it: the same functions answer "no CUDA" so
// that callers need no #ifdef.
#include "tensor/cuda.h"

#include <array>
#include <mutex>

#include "base/error.h"
#include "tensor/cuda_graph.h"
#include "tensor/storage.h"

#if TG_WITH_CUDA
#include "kernels/cuda/memory.h"
#include "kernels/cuda/runtime.h"
#include "tensor/block_pool.h"
#endif

namespace tg {

#if TG_WITH_CUDA

namespace {

namespace kc = kernels::cuda;

// Switches to a device for the lifetime of the guard.
class DeviceGuard {
 public:
  explicit DeviceGuard(int index) : prev_(kc::current_device()) {
    if (index != prev_) kc::set_device(index);
  }
  ~DeviceGuard() { kc::restore_device(prev_); }

 private:
  int prev_;
};

class CudaDriver final : public BlockPool::Driver {
 public:
  void* alloc(size_t bytes) override { return kc::device_alloc(bytes); }
  void free(void* p) override { kc::device_free(p); }
};

class CudaAllocator final : public Allocator {
 public:
  explicit CudaAllocator(int index) : index_(index), pool_(driver_) {}

  void* allocate(size_t bytes) override {
    DeviceGuard guard(index_);
    const auto stream = reinterpret_cast<BlockPool::Stream>(kc::current_stream());
    void* p = pool_.allocate(bytes, stream);
    if (!p) {
      const kc::MemoryInfo mem = kc::memory_info();
      const PoolStats st = pool_.stats();
      TG_FAIL("cuda_allocator", "out of memory on cuda:", index_, ": tried to allocate ", bytes,
              " bytes (", BlockPool::size_class(bytes), " with rounding); the device has ",
              mem.free, " bytes free of ", mem.total, "; this process holds ", st.reserved,
              " bytes (", st.allocated, " in live tensors)");
    }
    return p;
  }
  void deallocate(void* p, size_t) override { pool_.deallocate(p); }
  Device device() const override { return Device::cuda(index_); }

  // Host to device, device to host or device to device. A copy to the host waits for it (and
  // for the kernels before it), then raises errors those kernels recorded.
  void copy_bytes(void* dst, const void* src, size_t bytes) override {
    if (!bytes) return;
    DeviceGuard guard(index_);
    kc::copy_bytes("Tensor::to", dst, src, bytes);
  }

  BlockPool& pool() { return pool_; }

 private:
  int index_;
  CudaDriver driver_;
  BlockPool pool_;
};

std::mutex allocators_mu;
std::array<CudaAllocator*, kc::kMaxDevices> allocators{};

CudaAllocator& allocator_at(const char* op, int index) {
  kc::require_device(op, index);
  std::lock_guard<std::mutex> lock(allocators_mu);
  // Never destroyed, like the CPU allocator: tensors in static storage may outlive it.
  if (!allocators[index]) allocators[index] = new CudaAllocator(index);
  return *allocators[index];
}

}  // namespace

namespace detail {
Allocator* cuda_allocator(int index) {
  return &allocator_at("allocator_for", index);
}
}  // namespace detail

namespace cuda {

bool is_available() {
  return kc::is_available();
}
int device_count() {
  return kc::device_count();
}
std::string unavailable_reason() {
  return kc::unavailable_reason();
}
void synchronize() {
  if (is_available()) kc::synchronize();
}
void set_allow_tf32(bool allow) {
  kc::set_allow_tf32(allow);
}
bool allow_tf32() {
  return kc::allow_tf32();
}

MemoryStats memory_stats(int device) {
  if (!is_available()) return {};
  const PoolStats p = allocator_at("cuda::memory_stats", device).pool().stats();
  return MemoryStats{p.allocated,     p.reserved,     p.peak_allocated, p.cached,
                     p.driver_allocs, p.driver_frees, p.allocs,         p.reuses};
}
void reset_peak_memory(int device) {
  if (is_available()) allocator_at("cuda::reset_peak_memory", device).pool().reset_peak();
}
void empty_cache(int device) {
  if (is_available()) allocator_at("cuda::empty_cache", device).pool().empty_cache();
}

bool is_capturing() {
  return is_available() && kc::is_capturing();
}

struct Graph::Impl {
  int device = 0;
  int pool_id = 0;
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  cudaStream_t last_stream = nullptr;  // where the latest replay was queued
  size_t nodes = 0;
};

Graph::Graph() : impl_(std::make_unique<Impl>()) {
  kc::require_device("cuda::Graph", 0);
  impl_->device = kc::current_device();
}

Graph::~Graph() {
  kc::destroy_graph(impl_->graph, impl_->exec, impl_->last_stream);  // queued replays first
  release_pool();
}

void Graph::release_pool() {
  if (!impl_->pool_id) return;
  try {
    allocator_at("cuda::Graph", impl_->device).pool().release_private(impl_->pool_id);
  } catch (...) {  // called from the destructor: never throw from there
  }
  impl_->pool_id = 0;
}

void Graph::capture(const std::function<void()>& f) {
  TG_CHECK(!impl_->exec, "cuda::Graph::capture", "this graph was already captured");
  BlockPool& pool = allocator_at("cuda::Graph::capture", impl_->device).pool();
  cudaStream_t s = kc::current_stream();
  impl_->pool_id = pool.begin_private();
  // Relaxed: the allocator may still call cudaMalloc while capturing (its private pool grows).
  try {
    kc::begin_capture(s);
  } catch (...) {
    pool.end_private();
    throw;
  }
  try {
    f();
  } catch (...) {
    kc::abort_capture(s);
    pool.end_private();
    release_pool();  // nothing captured ever ran: its memory is free for anyone
    throw;
  }
  try {
    impl_->graph = kc::end_capture("cuda::Graph::capture", s);
  } catch (...) {
    pool.end_private();
    release_pool();
    throw;
  }
  pool.end_private();
  impl_->exec = kc::instantiate_graph(impl_->graph, &impl_->nodes);
}

void Graph::replay() {
  TG_CHECK(impl_->exec, "cuda::Graph::replay", "nothing was captured yet");
  impl_->last_stream = kc::current_stream();
  kc::launch_graph(impl_->exec, impl_->last_stream);
}

bool Graph::captured() const {
  return impl_->exec != nullptr;
}

size_t Graph::num_nodes() const {
  return impl_->nodes;
}

}  // namespace cuda

#else  // no CUDA backend

namespace {
constexpr const char* kNoBackend =
    "this build has no CUDA backend (configured without nvcc, or with -DTG_CUDA=OFF)";
}

namespace detail {
Allocator* cuda_allocator(int) {
  return nullptr;
}
}  // namespace detail

namespace cuda {
bool is_available() {
  return false;
}
int device_count() {
  return 0;
}
std::string unavailable_reason() {
  return kNoBackend;
}
void synchronize() {}
void set_allow_tf32(bool) {}
bool allow_tf32() {
  return false;
}
MemoryStats memory_stats(int) {
  return {};
}
void reset_peak_memory(int) {}
void empty_cache(int) {}
bool is_capturing() {
  return false;
}

struct Graph::Impl {};
void Graph::release_pool() {}
Graph::Graph() {
  TG_FAIL("cuda::Graph", kNoBackend);
}
Graph::~Graph() = default;
void Graph::capture(const std::function<void()>&) {
  TG_FAIL("cuda::Graph::capture", kNoBackend);
}
void Graph::replay() {
  TG_FAIL("cuda::Graph::replay", kNoBackend);
}
bool Graph::captured() const {
  return false;
}
size_t Graph::num_nodes() const {
  return 0;
}
}  // namespace cuda

#endif

}  // namespace tg
