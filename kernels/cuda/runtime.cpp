// The CUDA runtime beneath the kernels (runtime.h): checked calls, device probing, the
// per-device stream and cuBLAS handle, and the device error record.
#include "kernels/cuda/runtime.h"

#include "kernels/cuda/cublas_api.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <map>
#include <mutex>
#include <sstream>
#include <vector>

namespace tg::kernels::cuda {

namespace {

constexpr size_t kCublasWorkspace = size_t(32) << 20;  // fixed, so captured GEMMs never allocate

struct Probe {
  int count = 0;
  std::string reason;
};

const Probe& probe() {
  static const Probe p = [] {
    Probe r;
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
      r.reason = std::string(cudaGetErrorName(e)) + " (" + cudaGetErrorString(e) + ")";
      (void)cudaGetLastError();  // the probe's error must not leak into the next check
    } else if (n == 0) {
      r.reason = "the driver reports no CUDA device";
    } else {
      r.count = n;
    }
    return r;
  }();
  return p;
}

std::mutex streams_mu;
std::array<cudaStream_t, kMaxDevices> streams{};  // one per device, created on first use
thread_local cudaStream_t stream_override = nullptr;
std::atomic<bool> tf32{false};

const char* cublas_status_name(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS:
      return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED:
      return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED:
      return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE:
      return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH:
      return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR:
      return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED:
      return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR:
      return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED:
      return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR:
      return "CUBLAS_STATUS_LICENSE_ERROR";
    default:
      return "CUBLAS_STATUS_UNKNOWN";
  }
}

const char* cublas_status_text(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_NOT_INITIALIZED:
      return "cuBLAS was not initialised";
    case CUBLAS_STATUS_ALLOC_FAILED:
      return "cuBLAS could not allocate memory";
    case CUBLAS_STATUS_INVALID_VALUE:
      return "an argument is out of range";
    case CUBLAS_STATUS_ARCH_MISMATCH:
      return "the device lacks a required feature";
    case CUBLAS_STATUS_EXECUTION_FAILED:
      return "the kernel failed to run on the GPU";
    case CUBLAS_STATUS_INTERNAL_ERROR:
      return "an internal cuBLAS operation failed";
    case CUBLAS_STATUS_NOT_SUPPORTED:
      return "the requested functionality is not supported";
    default:
      return "see the cuBLAS documentation";
  }
}

DeviceErrorRecord* make_record() {
  void* host = nullptr;
  TG_CUDA_CHECK(
      cudaHostAlloc(&host, sizeof(DeviceErrorRecord), cudaHostAllocMapped | cudaHostAllocPortable));
  auto* rec = static_cast<DeviceErrorRecord*>(host);
  *rec = DeviceErrorRecord{};
  return rec;
}

DeviceErrorRecord* host_record() {
  static DeviceErrorRecord* rec = make_record();
  return rec;
}

}  // namespace

void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line) {
  std::ostringstream os;
  os << call << ": " << cudaGetErrorName(err) << " (" << cudaGetErrorString(err) << ") at " << file
     << ":" << line;
  throw Error(os.str());
}

void throw_cublas_error(cublasStatus_t status, const char* call, const char* file, int line) {
  std::ostringstream os;
  os << call << ": " << cublas_status_name(status) << " (" << cublas_status_text(status) << ") at "
     << file << ":" << line;
  throw Error(os.str());
}

int device_count() {
  return probe().count;
}

bool is_available() {
  return device_count() > 0;
}

std::string unavailable_reason() {
  return is_available() ? std::string() : probe().reason;
}

void require_device(const char* op, int index) {
  TG_CHECK(is_available(), op, "a CUDA device was requested (cuda:", index,
           ") but none is usable: ", probe().reason);
  TG_CHECK(index >= 0 && index < device_count() && index < kMaxDevices, op, "cuda:", index,
           " does not exist: this machine has ", device_count(), " CUDA device(s)");
}

int current_device() {
  int d = 0;
  TG_CUDA_CHECK(cudaGetDevice(&d));
  return d;
}

void set_device(int index) {
  require_device("cuda::set_device", index);
  TG_CUDA_CHECK(cudaSetDevice(index));
}

cudaStream_t current_stream() {
  if (stream_override) return stream_override;
  const int d = current_device();
  std::lock_guard<std::mutex> lock(streams_mu);
  if (!streams[d]) TG_CUDA_CHECK(cudaStreamCreateWithFlags(&streams[d], cudaStreamNonBlocking));
  return streams[d];
}

void set_current_stream(cudaStream_t stream) {
  stream_override = stream;
}

void synchronize() {
  TG_CUDA_CHECK(cudaStreamSynchronize(current_stream()));
  raise_device_error();
}

bool is_capturing() {
  cudaStreamCaptureStatus st = cudaStreamCaptureStatusNone;
  TG_CUDA_CHECK(cudaStreamIsCapturing(current_stream(), &st));
  return st != cudaStreamCaptureStatusNone;
}

cublasHandle_t cublas_handle() {
  struct Handle {
    cublasHandle_t h = nullptr;
    void* workspace = nullptr;
  };
  thread_local std::array<Handle, kMaxDevices> handles{};
  Handle& slot = handles[current_device()];
  if (!slot.h) {
    TG_CUBLAS_CHECK(cublas().create(&slot.h));
    TG_CUDA_CHECK(cudaMalloc(&slot.workspace, kCublasWorkspace));
    TG_CUBLAS_CHECK(cublas().set_workspace(slot.h, slot.workspace, kCublasWorkspace));
  }
  TG_CUBLAS_CHECK(cublas().set_stream(slot.h, current_stream()));
  TG_CUBLAS_CHECK(cublas().set_math_mode(
      slot.h, tf32.load() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  return slot.h;
}

void set_allow_tf32(bool allow) {
  tf32.store(allow);
}

bool allow_tf32() {
  return tf32.load();
}

void* scratch(const char* op, size_t bytes) {
  struct Slot {
    void* p = nullptr;
    size_t bytes = 0;
  };
  static std::mutex mu;
  static std::map<std::pair<int, cudaStream_t>, Slot> slots;
  static std::vector<void*> retired;  // outgrown buffers, never freed, still reachable
  const cudaStream_t s = current_stream();
  const int dev = current_device();
  std::lock_guard<std::mutex> lock(mu);
  Slot& slot = slots[{dev, s}];
  if (slot.bytes < bytes) {
    TG_CHECK(!is_capturing(), op,
             "needs a larger scratch buffer while the stream is being captured: run the "
             "captured work once before capture");
    const size_t grown = std::max(bytes, 2 * slot.bytes);
    void* p = nullptr;
    TG_CUDA_CHECK(cudaMallocAsync(&p, grown, s));
    if (slot.p) retired.push_back(slot.p);  // kept (see runtime.h): a graph may still use it
    slot.p = p;
    slot.bytes = grown;
  }
  return slot.p;
}

DeviceErrorRecord* device_error_record() {
  DeviceErrorRecord* host = host_record();
  void* dev = nullptr;
  TG_CUDA_CHECK(cudaHostGetDevicePointer(&dev, host, 0));
  return static_cast<DeviceErrorRecord*>(dev);
}

void raise_device_error() {
  if (!is_available()) return;
  volatile DeviceErrorRecord* rec = host_record();
  const int code = rec->code;
  if (code == kNoDeviceError) return;
  const long long pos = rec->position, value = rec->value, bound = rec->bound;
  rec->position = 0;
  rec->value = 0;
  rec->bound = 0;
  rec->code = kNoDeviceError;
  std::ostringstream os;
  switch (code) {
    case kIndexSelectOutOfRange:
      os << "index_select: index " << value << " at position " << pos
         << " is out of range for a dimension of size " << bound;
      break;
    case kGatherOutOfRange:
      os << "gather: index " << value << " at flat position " << pos
         << " is out of range for a dimension of size " << bound;
      break;
    case kScatterOutOfRange:
      os << "scatter_add: index " << value << " at flat position " << pos
         << " is out of range for a dimension of size " << bound;
      break;
    case kLabelOutOfRange:
      os << "cross_entropy: label " << value << " of row " << pos << " is out of range [0, "
         << bound << ")";
      break;
    default:
      os << "cuda: a kernel recorded an unknown device error (code " << code << ")";
  }
  os << " (detected on the GPU; the results of the kernels since the last synchronisation are "
        "invalid)";
  throw Error(os.str());
}

}  // namespace tg::kernels::cuda
