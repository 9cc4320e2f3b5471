// Helpers for the CUDA suites (tests/cuda, label `cuda`): a skip that CTest shows as
// "Skipped" when there is no usable device, device buffers that copy to and from std::vector,
// and seeded inputs.
//
//   TEST_CASE("unary exp matches the CPU") {
//     TG_SKIP_WITHOUT_CUDA();
//     DeviceBuffer<float> x(host_x), y(host_x.size());
//     tg::kernels::cuda::unary(UnaryOp::exp, x.data(), s, y.data());
//     CHECK(close_to(y.download(), expected));   // download() synchronises
//   }
//
// The skip prints "SKIPPED: no CUDA device" and returns from the test case; tests/CMakeLists
// gives these tests SKIP_REGULAR_EXPRESSION on that text, so ctest reports them as skipped
// rather than passed.
#pragma once

#include <cuda_runtime.h>  // the typed cudaMalloc(T**) overload
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "kernels/cuda/runtime.h"

#define TG_SKIP_WITHOUT_CUDA()                                                                     \
  do {                                                                                             \
    if (!::tg::kernels::cuda::is_available()) {                                                    \
      std::cout << "SKIPPED: no CUDA device (" << ::tg::kernels::cuda::unavailable_reason() << ")" \
                << std::endl;                                                                      \
      return;                                                                                      \
    }                                                                                              \
  } while (0)

namespace tg::test {

// True when these tests run on the CPU emulator of tests/cuda_emu (its build defines
// TG_CUDA_EMULATED). The emulator runs every CUDA thread as a fiber on one core, so the largest
// sweeps (over 20,000 elements) are left to a real GPU there.
#ifdef TG_CUDA_EMULATED
inline constexpr bool kEmulated = true;
#else
inline constexpr bool kEmulated = false;
#endif
inline bool too_big_for_emulator(int64_t elements) {
  return kEmulated && elements > 20000;
}

// A device array of n T, freed on destruction. Uploads and downloads synchronise.
template <typename T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t n) : n_(n) { TG_CUDA_CHECK(cudaMalloc(&p_, n ? n * sizeof(T) : 1)); }
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) { upload(host); }
  ~DeviceBuffer() { cudaFree(p_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* data() const { return p_; }
  size_t size() const { return n_; }
  void upload(const std::vector<T>& host) {
    REQUIRE(host.size() == n_);
    // On the kernels' stream: a plain cudaMemcpy runs on the legacy stream, which our
    // non-blocking stream does not wait for, and from pageable memory it may return before
    // the data has arrived.
    TG_CUDA_CHECK(cudaMemcpyAsync(p_, host.data(), n_ * sizeof(T), cudaMemcpyHostToDevice,
                                  kernels::cuda::current_stream()));
    TG_CUDA_CHECK(cudaStreamSynchronize(kernels::cuda::current_stream()));
  }
  // Waits for the current stream (where the kernels run), raises device errors, then copies.
  std::vector<T> download() const {
    kernels::cuda::synchronize();
    std::vector<T> host(n_);
    TG_CUDA_CHECK(cudaMemcpy(host.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost));
    return host;
  }

 private:
  T* p_ = nullptr;
  size_t n_ = 0;
};

// Seeded values in [lo, hi) (an LCG, so no dependence on the library's generator).
template <typename T = float>
std::vector<T> uniform(size_t n, uint32_t seed, double lo = -1, double hi = 1) {
  std::vector<T> v(n);
  for (auto& x : v) {
    seed = seed * 1664525u + 1013904223u;
    x = static_cast<T>(lo + (hi - lo) * (double(seed >> 8) / double(1 << 24)));
  }
  return v;
}

// Seeded indices (or class labels) in [0, bound), bound > 0: the same LCG as uniform.
inline std::vector<int32_t> uniform_indices(int64_t n, int64_t bound, uint32_t seed) {
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (auto& x : v) {
    seed = seed * 1664525u + 1013904223u;
    x = static_cast<int32_t>((seed >> 8) % static_cast<uint32_t>(bound));
  }
  return v;
}

// A whole-device synchronisation, which some suites call after their uploads before a launch
// (DeviceBuffer's upload itself already waits for its copy on the kernels' stream).
inline void wait_uploads() {
  TG_CUDA_CHECK(cudaDeviceSynchronize());
}

// Largest |a - b| / (atol/rtol scaled): true when every element satisfies
// |a - b| <= atol + rtol * |b|. Reports the first bad element.
template <typename T>
bool close_to(const std::vector<T>& a, const std::vector<T>& b, double rtol = 1e-5,
              double atol = 1e-6) {
  if (a.size() != b.size()) {
    std::cout << "size " << a.size() << " vs " << b.size() << std::endl;
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    const double x = double(a[i]), y = double(b[i]);
    if (std::isnan(x) && std::isnan(y)) continue;
    if (!(std::fabs(x - y) <= atol + rtol * std::fabs(y))) {
      std::cout << "element " << i << ": " << x << " vs " << y << std::endl;
      return false;
    }
  }
  return true;
}

}  // namespace tg::test
