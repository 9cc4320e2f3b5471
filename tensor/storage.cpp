// Storage and allocators: the 64-byte aligned CPU allocator with a live-bytes counter, and the
// per-device-type registry through which the CUDA backend (when built) plugs in its own.
#include "tensor/storage.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "base/error.h"

namespace tg {

void Allocator::copy_bytes(void* dst, const void* src, size_t bytes) {
  if (bytes) std::memcpy(dst, src, bytes);
}

namespace {

constexpr size_t kAlign = 64;
std::atomic<size_t> cpu_live_bytes{0};
std::atomic<size_t> cpu_allocations{0};

// Rounds a request up to its size class: multiples of 64 bytes up to 4 KiB, then four classes
// per power of two (at most 25% slack), so freed blocks are found again by exact class.
size_t size_class(size_t bytes) {
  if (bytes <= 4096) return bytes == 0 ? kAlign : (bytes + kAlign - 1) / kAlign * kAlign;
  size_t p = size_t(1) << (63 - __builtin_clzll(bytes - 1));  // largest power of 2 < bytes
  size_t step = p / 4;
  return (bytes + step - 1) / step * step;
}

// The CPU allocator caches freed blocks by size class, so a training step that allocates the
// same temporaries every iteration reuses them instead of asking the system (for large
// blocks glibc would mmap and munmap each time, and every page would fault anew). Blocks
// above kMaxCachedBlock go straight back; the cache holds at most kMaxCachedBytes.
class CpuAllocator final : public Allocator {
 public:
  static constexpr size_t kMaxCachedBlock = size_t(64) << 20;
  static constexpr size_t kMaxCachedBytes = size_t(512) << 20;

  void* allocate(size_t bytes) override {
    const size_t cls = size_class(bytes);
    void* p = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.find(cls);
      if (it != free_.end() && !it->second.empty()) {
        p = it->second.back();
        it->second.pop_back();
        cached_bytes_ -= cls;
      }
    }
    if (!p) p = std::aligned_alloc(kAlign, cls);
    if (!p)
      throw Error("cpu_allocator: out of memory allocating " + std::to_string(bytes) + " bytes");
    cpu_live_bytes.fetch_add(bytes, std::memory_order_relaxed);
    cpu_allocations.fetch_add(1, std::memory_order_relaxed);
    return p;
  }
  void deallocate(void* p, size_t bytes) override {
    if (!p) return;
    cpu_live_bytes.fetch_sub(bytes, std::memory_order_relaxed);
    const size_t cls = size_class(bytes);
    if (cls <= kMaxCachedBlock) {
      std::lock_guard<std::mutex> lock(mu_);
      if (cached_bytes_ + cls <= kMaxCachedBytes) {
        free_[cls].push_back(p);
        cached_bytes_ += cls;
        return;
      }
    }
    std::free(p);
  }
  Device device() const override { return Device::cpu(); }

  size_t cached_bytes() {
    std::lock_guard<std::mutex> lock(mu_);
    return cached_bytes_;
  }
  void empty_cache() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [cls, blocks] : free_)
      for (void* b : blocks) std::free(b);
    free_.clear();
    cached_bytes_ = 0;
  }

 private:
  std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  size_t cached_bytes_ = 0;
};

// One slot per DeviceType; the CPU slot falls back to the built-in allocator.
std::atomic<Allocator*> registry[2] = {nullptr, nullptr};

}  // namespace

Allocator& cpu_allocator() {
  // Never destroyed: tensors in static storage may outlive any static allocator object, and
  // the cached blocks stay reachable (leak checkers stay quiet) until the process ends.
  static CpuAllocator* a = new CpuAllocator;
  return *a;
}

size_t cpu_bytes_in_use() {
  return cpu_live_bytes.load(std::memory_order_relaxed);
}

size_t cpu_bytes_cached() {
  return static_cast<CpuAllocator&>(cpu_allocator()).cached_bytes();
}

void cpu_empty_cache() {
  static_cast<CpuAllocator&>(cpu_allocator()).empty_cache();
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
  if (a) return *a;
  a = detail::cuda_allocator(device.index);
  TG_CHECK(a != nullptr, "allocator_for", "CUDA device requested (", device.str(),
           ") but this build has no CUDA backend (configured without nvcc, or with -DTG_CUDA=OFF)");
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
