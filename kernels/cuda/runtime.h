// The CUDA runtime beneath the kernels: checked calls, the current device and stream, the
// cuBLAS handle, and errors that kernels detect on the device (an index out of range).
//
//   TG_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, current_stream()));
//   -> tg::Error: cudaMemsetAsync(p, 0, bytes, current_stream()): cudaErrorInvalidValue
//      (invalid argument) at kernels/cuda/x.cu:12
//
// Every kernel is queued on current_stream() (one non-blocking stream per device, shared by
// all host threads, unless this thread chose another with set_current_stream) and nothing here
// synchronises the host except synchronize(). A kernel cannot throw; it records a problem in a
// DeviceErrorRecord that lives in pinned, device-mapped host memory (report_device_error in
// device.cuh), and the host turns it into tg::Error at its next synchronisation (synchronize(), a
// copy to the CPU, item()). Included only by code built with the CUDA backend (TG_WITH_CUDA).
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <string>

#include "base/error.h"

namespace tg::kernels::cuda {

[[noreturn]] void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line);
[[noreturn]] void throw_cublas_error(cublasStatus_t status, const char* call, const char* file,
                                     int line);

// Device and stream. Devices beyond kMaxDevices are refused (per-device tables are fixed).
inline constexpr int kMaxDevices = 64;
int device_count();  // 0 when there is no driver or no device; never throws
bool is_available();
std::string unavailable_reason();  // why is_available() is false, for error messages
// Throws tg::Error naming op when index is not a usable device.
void require_device(const char* op, int index);
int current_device();
void set_device(int index);
cudaStream_t current_stream();
void set_current_stream(cudaStream_t stream);  // nullptr returns to this thread's own stream
// Waits for everything queued on the current stream, then raises any recorded device error.
void synchronize();
// True while the current stream is being captured into a CUDA Graph.
bool is_capturing();

// cuBLAS: one handle per host thread and device, bound to current_stream() on every call.
cublasHandle_t cublas_handle();
// TF32 tensor-core math for float32 GEMMs (about 10 mantissa bits): off unless asked for.
void set_allow_tf32(bool allow);
bool allow_tf32();

// Errors found by kernels.
// The code names the op and the kind of problem; position, value and bound fill the message.
enum DeviceErrorCode : int {
  kNoDeviceError = 0,
  kIndexSelectOutOfRange = 1,  // position: where in the index; value: the index; bound: rows
  kGatherOutOfRange = 2,       // position: flat position in the index; value; bound: size
  kScatterOutOfRange = 3,      // as gather
  kLabelOutOfRange = 4,        // position: the row; value: the label; bound: the classes
};
struct DeviceErrorRecord {
  int code;
  int reserved;
  long long position, value, bound;
};
// The record as kernels see it (a device pointer into mapped host memory); pass it to the
// kernel as an argument.
DeviceErrorRecord* device_error_record();
// Throws tg::Error for a recorded device error (and clears it); call after a synchronisation.
void raise_device_error();

// A device buffer of at least `bytes` for the current device and stream, for partial results
// that live within one op (reductions' partials, cross-entropy's row losses). It only grows,
// by at least doubling, so a warm training step allocates nothing; growing is stream-ordered
// (cudaMallocAsync), so the host never waits. A buffer it outgrows is never freed: a captured
// CUDA Graph may still use its address (an op that grows it between replays, validation with
// a larger batch, must not free memory a replay will write). Growing during capture throws:
// run the work once before capturing it. op names the caller in that error.
void* scratch(const char* op, size_t bytes);

// Launch geometry for a flat loop of n elements (grid-stride loops cover the rest).
inline unsigned blocks_for(int64_t n, int threads, int64_t max_blocks = 65535) {
  const int64_t b = (n + threads - 1) / threads;
  return static_cast<unsigned>(b < 1 ? 1 : (b > max_blocks ? max_blocks : b));
}

}  // namespace tg::kernels::cuda

#define TG_CUDA_CHECK(call)                                                      \
  do {                                                                           \
    const cudaError_t tg_err_ = (call);                                          \
    if (tg_err_ != cudaSuccess) [[unlikely]]                                     \
      ::tg::kernels::cuda::throw_cuda_error(tg_err_, #call, __FILE__, __LINE__); \
  } while (0)

#define TG_CUBLAS_CHECK(call)                                                     \
  do {                                                                            \
    const cublasStatus_t tg_st_ = (call);                                         \
    if (tg_st_ != CUBLAS_STATUS_SUCCESS) [[unlikely]]                             \
      ::tg::kernels::cuda::throw_cublas_error(tg_st_, #call, __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: a bad configuration (too many threads, too much shared memory)
// surfaces here, named after the kernel.
#define TG_CUDA_CHECK_LAUNCH(kernel_name)                                                \
  do {                                                                                   \
    const cudaError_t tg_err_ = cudaGetLastError();                                      \
    if (tg_err_ != cudaSuccess) [[unlikely]]                                             \
      ::tg::kernels::cuda::throw_cuda_error(tg_err_, "launch of " kernel_name, __FILE__, \
                                            __LINE__);                                   \
  } while (0)
