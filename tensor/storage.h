// Storage: a ref-counted block of device memory, allocated through an Allocator.
//
// Tensors share a Storage (views) through std::shared_ptr<Storage>. CPU memory is 64-byte
// aligned (a cache line, and an AVX-512 register), so kernels may use aligned loads on a
// contiguous tensor that starts at offset 0. The CUDA backend adds its own Allocator (a
// caching one) behind the same interface.
#pragma once

#include <cstddef>
#include <memory>

#include "tensor/dtype.h"

namespace tg {

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t bytes) = 0;
  virtual void deallocate(void* p, size_t bytes) = 0;
  virtual Device device() const = 0;
  // Copies bytes between this device and the host, or within this device (Tensor::to uses
  // it; a CUDA allocator implements it with cudaMemcpyDefault). The default is std::memcpy,
  // right for host memory.
  virtual void copy_bytes(void* dst, const void* src, size_t bytes);
};

// The CPU allocator: 64-byte aligned, caching freed blocks by size class (so a warm training
// step reuses its temporaries instead of asking the system); statistics for tests and leak
// hunting.
Allocator& cpu_allocator();
size_t cpu_bytes_in_use();  // live bytes, not counting the cache
size_t cpu_bytes_cached();  // freed blocks kept for reuse
void cpu_empty_cache();     // returns the cached blocks to the system
// How many CPU allocations have been made so far: tests use it to show that an op did not
// copy its inputs, and that a warm training step allocates nothing it does not return.
size_t cpu_allocation_count();

namespace detail {
// The caching CUDA allocator of a device (tensor/cuda.cpp); nullptr in a build without CUDA.
// Throws tg::Error when the device does not exist or no device is usable.
Allocator* cuda_allocator(int index);
}  // namespace detail

// Registers the allocator for a device type (the CUDA backend calls this); nullptr unregisters.
void set_allocator(DeviceType type, Allocator* allocator);
// The allocator for a device: a registered one, else the built-in CPU or CUDA allocator.
// Throws tg::Error when that device has no backend or does not exist.
Allocator& allocator_for(Device device);

class Storage {
 public:
  Storage(size_t nbytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  Allocator* allocator_ = nullptr;
};

}  // namespace tg
