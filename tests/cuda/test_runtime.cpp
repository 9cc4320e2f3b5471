// The CUDA runtime layer: device probing, the error messages of checked calls, the device error
// record, tensors moving between devices and the caching allocator's statistics.
#include <doctest/doctest.h>

#include "cuda_test_util.h"
#include "tensor/creation.h"
#include "tensor/cuda.h"
#include "tensor/ops.h"
#include "test_util.h"

using tg::test::error_of;
using tg::test::has;
namespace kc = tg::kernels::cuda;

TEST_CASE("checked CUDA calls name the call, the error and its text") {
  // Runs on every machine: the message is built on the host from the error code alone.
  const std::string msg = error_of([] { TG_CUDA_CHECK(cudaErrorMemoryAllocation); });
  CHECK(has(msg, "cudaErrorMemoryAllocation"));
  CHECK(has(msg, "out of memory"));
  CHECK(has(msg, "test_runtime.cpp"));
  const std::string blas = error_of([] { TG_CUBLAS_CHECK(CUBLAS_STATUS_INVALID_VALUE); });
  CHECK(has(blas, "CUBLAS_STATUS_INVALID_VALUE"));
}

TEST_CASE("without a usable device, CUDA requests fail with the reason") {
  if (kc::is_available()) return;  // the other branch is covered by every other test here
  CHECK(tg::cuda::device_count() == 0);
  CHECK_FALSE(tg::cuda::unavailable_reason().empty());
  const std::string msg = error_of([] { tg::zeros({2}, tg::DType::f32, tg::Device::cuda()); });
  CHECK(has(msg, "cuda:0"));
  CHECK(has(msg, tg::cuda::unavailable_reason()));
  const std::string to = error_of([] { tg::ones({3}).to(tg::Device::cuda()); });
  CHECK(has(to, "cuda:0"));
  tg::cuda::synchronize();  // a no-op, never a crash
  CHECK(tg::cuda::memory_stats().allocated == 0);
}

TEST_CASE("a device that does not exist is named in the error") {
  TG_SKIP_WITHOUT_CUDA();
  const int n = tg::cuda::device_count();
  const std::string msg = error_of([&] { tg::zeros({2}, tg::DType::f32, tg::Device::cuda(n)); });
  CHECK(has(msg, "cuda:" + std::to_string(n) + " does not exist"));
}

TEST_CASE("tensors round-trip between the CPU and the GPU") {
  TG_SKIP_WITHOUT_CUDA();
  for (tg::DType dt : {tg::DType::f32, tg::DType::f64, tg::DType::i32, tg::DType::u8}) {
    const tg::Tensor x = tg::arange(0, 100, 1, dt).reshape({4, 25});
    const tg::Tensor d = x.to(tg::Device::cuda());
    CHECK(d.device() == tg::Device::cuda());
    CHECK(tg::equal(d.to(tg::Device::cpu()), x));
    // A strided view is made contiguous on the device first.
    CHECK(tg::equal(d.t().to(tg::Device::cpu()), x.t().contiguous()));
  }
}

TEST_CASE("the caching allocator reuses freed blocks and keeps statistics") {
  TG_SKIP_WITHOUT_CUDA();
  tg::cuda::synchronize();
  const auto before = tg::cuda::memory_stats();
  {
    tg::Tensor a = tg::empty({1000, 1000}, tg::DType::f32, tg::Device::cuda());
    const auto mid = tg::cuda::memory_stats();
    CHECK(mid.allocated >= before.allocated + 4000000);
    CHECK(mid.peak_allocated >= mid.allocated);
    CHECK(mid.reserved >= mid.allocated);
  }
  const auto freed = tg::cuda::memory_stats();
  CHECK(freed.allocated == before.allocated);
  CHECK(freed.cached >= 4000000);
  const uint64_t driver = freed.driver_allocs;
  {
    tg::Tensor b = tg::empty({1000, 1000}, tg::DType::f32, tg::Device::cuda());
    CHECK(tg::cuda::memory_stats().driver_allocs == driver);  // served from the cache
  }
  tg::cuda::empty_cache();
  CHECK(tg::cuda::memory_stats().cached == 0);
  CHECK(tg::cuda::memory_stats().driver_frees > freed.driver_frees);
}

TEST_CASE("an impossible allocation reports the bytes asked for and the bytes free") {
  TG_SKIP_WITHOUT_CUDA();
  const std::string msg =
      error_of([] { tg::empty({int64_t(1) << 40}, tg::DType::f32, tg::Device::cuda()); });  // 4 TiB
  CHECK(has(msg, "out of memory"));
  CHECK(has(msg, "4398046511104 bytes"));
  CHECK(has(msg, "free of"));
  // The failure is not sticky: the device still works.
  CHECK(tg::equal(tg::ones({3}).to(tg::Device::cuda()).to(tg::Device::cpu()), tg::ones({3})));
}

TEST_CASE("ops refuse tensors on different devices") {
  TG_SKIP_WITHOUT_CUDA();
  const tg::Tensor a = tg::ones({3}), b = tg::ones({3}).to(tg::Device::cuda());
  const std::string msg = error_of([&] { tg::ops::binary(tg::BinaryOp::add, a, b); });
  CHECK(has(msg, "different devices"));
  CHECK(has(msg, "cpu"));
  CHECK(has(msg, "cuda:0"));
}
