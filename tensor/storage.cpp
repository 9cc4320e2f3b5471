// Storage and allocators: the 64-byte aligned CPU allocator with a live-bytes counter, and the
// per-device-type registry through which the CUDA backend (when built) plugs in its own.
#include "tensor/storage.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>

#include "kernels/error.h"

namespace tg {

void Allocator::copy_bytes(void* dst, const void* src, size_t bytes) {
  if (bytes) std::memcpy(dst, src, bytes);
}

namespace {

constexpr size_t kAlign = 64;
std::atomic<size_t> cpu_live_bytes{0};
std::atomic<size_t> cpu_allocations{0};

class CpuAllocator final : public Allocator {
 public:
  // aligned_alloc needs a size that is a multiple of the alignment; a zero-byte request still
  // gets a real (one line) block, so data() is never null and free() stays uniform.
  void* allocate(size_t bytes) override {
    const size_t rounded = bytes == 0 ? kAlign : (bytes + kAlign - 1) / kAlign * kAlign;
    void* p = std::aligned_alloc(kAlign, rounded);
    if (!p)
      throw Error("cpu_allocator: out of memory allocating " + std::to_string(bytes) + " bytes");
    cpu_live_bytes.fetch_add(bytes, std::memory_order_relaxed);
    cpu_allocations.fetch_add(1, std::memory_order_relaxed);
    return p;
  }
  void deallocate(void* p, size_t bytes) override {
    if (!p) return;
    std::free(p);
    cpu_live_bytes.fetch_sub(bytes, std::memory_order_relaxed);
  }
  Device device() const override { return Device::cpu(); }
};

// One slot per DeviceType; the CPU slot falls back to the built-in allocator.
std::atomic<Allocator*> registry[2] = {nullptr, nullptr};

}  // namespace

Allocator& cpu_allocator() {
  static CpuAllocator a;
  return a;
}

size_t cpu_bytes_in_use() {
  return cpu_live_bytes.load(std::memory_order_relaxed);
}

size_t cpu_allocation_count() {
  return cpu_allocations.load(std::memory_order_relaxed);
}

void set_allocator(DeviceType type, Allocator* allocator) {
  registry[static_cast<int>(type)].store(allocator);
}

Allocator& allocator_for(Device device) {
  Allocator* a = registry[static_cast<int>(device.type)].load();
  if (device.is_cpu()) return a ? *a : cpu_allocator();
  TG_CHECK(a != nullptr, "allocator_for", "CUDA device requested (", device.str(),
           ") but there is no CUDA backend in this build (no allocator registered for cuda)");
  return *a;
}

Storage::Storage(size_t nbytes, Device device)
    : nbytes_(nbytes), device_(device), allocator_(&allocator_for(device)) {
  data_ = allocator_->allocate(nbytes);
}

Storage::~Storage() {
  allocator_->deallocate(data_, nbytes_);
}

}  // namespace tg
