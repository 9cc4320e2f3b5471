// Storage and allocators: alignment, the live-bytes counter, and the device registry (a CUDA
// device with no backend is a clear tg::Error, never a crash).
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "tensor/creation.h"
#include "tensor/cuda.h"
#include "tensor/storage.h"
#include "test_util.h"

using namespace tg;

TEST_CASE("cpu storage is 64-byte aligned, also for odd and zero sizes") {
  for (size_t n : {0, 1, 3, 63, 64, 65, 1000, 4097}) {
    Storage s(n, Device::cpu());
    CHECK(s.data() != nullptr);
    CHECK(reinterpret_cast<uintptr_t>(s.data()) % 64 == 0);
    CHECK(s.nbytes() == n);
  }
  Tensor t = empty({3, 7}, DType::f64);
  CHECK(reinterpret_cast<uintptr_t>(t.raw_data()) % 64 == 0);
}

TEST_CASE("cpu_bytes_in_use rises with live storage and falls back when it is freed") {
  const size_t before = cpu_bytes_in_use();
  {
    Tensor a = zeros({100, 10});  // 4000 bytes
    CHECK(cpu_bytes_in_use() == before + 4000);
    Tensor view = a.t();  // shares storage: nothing more
    CHECK(cpu_bytes_in_use() == before + 4000);
    Tensor b = zeros({10}, DType::f64);
    CHECK(cpu_bytes_in_use() == before + 4080);
  }
  CHECK(cpu_bytes_in_use() == before);
}

// Without a usable GPU (no CUDA backend in the build, or no device on the machine) a CUDA
// request fails with a message that names the device and the reason.
TEST_CASE("allocator_for a CUDA device without a usable GPU throws tg::Error") {
  if (cuda::is_available()) return;  // tests/cuda covers the machine with a GPU
  std::string msg = test::error_of([] { allocator_for(Device::cuda()); });
  CHECK(test::has(msg, "cuda:0"));
  CHECK(test::has(msg, cuda::unavailable_reason()));
  CHECK_THROWS_AS(Storage(16, Device::cuda(1)), Error);
  CHECK_THROWS_AS(zeros({2}, DType::f32, Device::cuda()), Error);
  CHECK(&allocator_for(Device::cpu()) == &cpu_allocator());
}

TEST_CASE("to(Device): CPU to CPU is the same tensor, CUDA without a GPU throws") {
  Tensor a = arange(6).view({2, 3});
  Tensor b = a.to(Device::cpu());
  CHECK(b.impl() == a.impl());
  if (cuda::is_available()) return;
  std::string msg = test::error_of([&] { a.to(Device::cuda()); });
  CHECK(test::has(msg, "cuda:0"));
  CHECK(test::has(msg, cuda::unavailable_reason()));
}

namespace {

// A stand-in "CUDA" backend backed by host memory: checks that to(Device) goes through the
// registry and the allocator's copy_bytes, as the real CUDA allocator will.
struct FakeCuda : Allocator {
  int allocs = 0, copies = 0;
  void* allocate(size_t bytes) override {
    ++allocs;
    return ::operator new(bytes + 1);
  }
  void deallocate(void* p, size_t) override { ::operator delete(p); }
  Device device() const override { return Device::cuda(); }
  void copy_bytes(void* dst, const void* src, size_t n) override {
    ++copies;
    std::memcpy(dst, src, n);
  }
};

}  // namespace

TEST_CASE("a registered allocator serves its device, and to() copies through it") {
  FakeCuda fake;
  set_allocator(DeviceType::cuda, &fake);
  {
    Tensor a = arange(6).view({2, 3}).t();  // non-contiguous: made contiguous first
    Tensor d = a.to(Device::cuda());
    CHECK(d.device() == Device::cuda());
    CHECK(fake.allocs == 1);
    CHECK(fake.copies == 1);
    Tensor back = d.to(Device::cpu());
    CHECK(fake.copies == 2);
    CHECK(back.device().is_cpu());
    CHECK(back.to_vector<float>() == std::vector<float>{0, 3, 1, 4, 2, 5});
  }
  set_allocator(DeviceType::cuda, nullptr);
  CHECK_THROWS_AS(allocator_for(Device::cuda()), Error);
}

TEST_CASE("Device and dtype names") {
  CHECK(Device::cpu().str() == "cpu");
  CHECK(Device::cuda(1).str() == "cuda:1");
  CHECK(std::string(dtype_name(DType::f32)) == "float32");
  CHECK(std::string(dtype_name(DType::u8)) == "uint8");
  CHECK(dtype_size(DType::f64) == 8);
  CHECK(dtype_size(DType::u8) == 1);
  CHECK(is_floating(DType::f64));
  CHECK_FALSE(is_floating(DType::i32));
}

TEST_CASE("the cpu allocator reuses a freed block of the same size class") {
  tg::cpu_empty_cache();
  void* first = nullptr;
  {
    tg::Tensor a = tg::empty({1000, 100});
    first = a.raw_data();
    CHECK(tg::cpu_bytes_cached() == 0);
  }
  CHECK(tg::cpu_bytes_cached() >= 400000);
  tg::Tensor b = tg::empty({1000, 99});  // same class: 396,000 bytes rounds like 400,000
  CHECK(b.raw_data() == first);
  CHECK(reinterpret_cast<uintptr_t>(b.raw_data()) % 64 == 0);
  tg::cpu_empty_cache();
  CHECK(tg::cpu_bytes_cached() == 0);
}
