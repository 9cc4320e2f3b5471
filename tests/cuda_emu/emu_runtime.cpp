// Host stand-ins for the CUDA runtime C API and the few cuBLAS calls the project makes, so that
// the project's own kernels/cuda/runtime.cpp runs unchanged on top of them. One device, one
// "stream" (everything runs synchronously, in order); stream capture records kernel launches
// and memcpy/memset into a list that cudaGraphLaunch replays. cublasSgemm/Dgemm are a host
// reference (column-major, as cuBLAS), with TF32 operand rounding when that math mode is set.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <vector>

#include "emu_pre.h"

namespace {
cudaError_t last_error = cudaSuccess;
int fake_streams = 0;
bool relaxed_capture = false;  // the mode of the open capture
bool memset_ff = [] {
  const char* e = std::getenv("EMU_MALLOC_FILL");
  return !(e && !std::strcmp(e, "0"));
}();
// Live device allocations (address -> bytes), so cudaPointerGetAttributes can tell device memory
// from host memory, as the real runtime does with unified addressing.
std::map<uintptr_t, size_t>& device_blocks() {
  static std::map<uintptr_t, size_t> m;
  return m;
}
size_t device_bytes = 0;
constexpr size_t kEmuDeviceMemory = size_t(16) << 30;  // what cudaMemGetInfo reports as total
void fresh(void* p, size_t n) {
  if (memset_ff) std::memset(p, 0xFF, n);  // NaN for floats, -1 for ints: uninitialised memory
}
// Capture: host ops (memcpy/memset) recorded in order with the kernels.
void host_op(const char* name, std::function<void()> op) {
  if (emu::capturing) {
    emu::capture_list->push_back(emu::Node{dim3(), dim3(), name, {}, std::move(op)});
    return;
  }
  emu::trace(name);
  op();
}
}  // namespace

extern "C" {
cudaError_t cudaGetDeviceCount(int* n) {
  *n = 1;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* d) {
  *d = 0;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int d) {
  return d == 0 ? cudaSuccess : cudaErrorInvalidDevice;
}
cudaError_t cudaDeviceSynchronize() {
  return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned int) {
  *s = reinterpret_cast<cudaStream_t>(uintptr_t(0x1000 + 16 * ++fake_streams));
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) {
  if (emu::capturing) return cudaErrorStreamCaptureUnsupported;
  return cudaSuccess;
}
cudaError_t cudaStreamIsCapturing(cudaStream_t, cudaStreamCaptureStatus* st) {
  *st = emu::capturing ? cudaStreamCaptureStatusActive : cudaStreamCaptureStatusNone;
  return cudaSuccess;
}
// 256-byte aligned, as cudaMalloc (the float4 paths of gemm_vec depend on alignment); the
// exact size is kept so that AddressSanitizer sees any access past the end.
void* dev_alloc(size_t n) {
  void* p = nullptr;
  if (posix_memalign(&p, 256, n ? n : 1) != 0) std::abort();
  device_blocks()[uintptr_t(p)] = n;
  device_bytes += n;
  return p;
}
void dev_free(void* p) {
  if (!p) return;
  auto it = device_blocks().find(uintptr_t(p));
  if (it == device_blocks().end()) {
    std::fprintf(stderr, "cuda-emu: cudaFree of %p, which cudaMalloc did not return\n", p);
    std::abort();
  }
  device_bytes -= it->second;
  device_blocks().erase(it);
  std::free(p);
}
// cudaMalloc is not recorded by a capture; only a relaxed-mode capture tolerates it.
cudaError_t cudaMalloc(void** p, size_t n) {
  if (emu::capturing && !relaxed_capture) return cudaErrorStreamCaptureUnsupported;
  if (n > kEmuDeviceMemory - device_bytes) {
    *p = nullptr;
    return last_error = cudaErrorMemoryAllocation;  // not sticky: cudaGetLastError clears it
  }
  *p = dev_alloc(n);
  fresh(*p, n);
  return cudaSuccess;
}
cudaError_t cudaFree(void* p) {
  if (emu::capturing) return cudaErrorStreamCaptureUnsupported;
  dev_free(p);
  return cudaSuccess;
}
cudaError_t cudaMallocAsync(void** p, size_t n, cudaStream_t) {
  if (emu::capturing) return cudaErrorStreamCaptureUnsupported;  // not emulated as graph nodes
  *p = dev_alloc(n);
  fresh(*p, n);
  return cudaSuccess;
}
cudaError_t cudaFreeAsync(void* p, cudaStream_t) {
  dev_free(p);
  return cudaSuccess;
}
cudaError_t cudaHostAlloc(void** p, size_t n, unsigned int) {
  *p = std::calloc(1, n ? n : 1);
  return cudaSuccess;
}
cudaError_t cudaFreeHost(void* p) {
  std::free(p);
  return cudaSuccess;
}
cudaError_t cudaHostGetDevicePointer(void** d, void* h, unsigned int) {
  *d = h;
  return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t* free_b, size_t* total_b) {
  *total_b = kEmuDeviceMemory;
  *free_b = device_bytes < kEmuDeviceMemory ? kEmuDeviceMemory - device_bytes : 0;
  return cudaSuccess;
}
cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* attr, const void* ptr) {
  *attr = cudaPointerAttributes{};
  attr->type = cudaMemoryTypeUnregistered;
  const uintptr_t a = uintptr_t(ptr);
  auto it = device_blocks().upper_bound(a);
  if (it != device_blocks().begin()) {
    --it;
    if (a < it->first + std::max<size_t>(it->second, 1)) {
      attr->type = cudaMemoryTypeDevice;
      attr->devicePointer = const_cast<void*>(ptr);
    }
  }
  if (attr->type != cudaMemoryTypeDevice) attr->hostPointer = const_cast<void*>(ptr);
  return cudaSuccess;
}
cudaError_t cudaMemcpy(void* d, const void* s, size_t n, cudaMemcpyKind) {
  if (emu::capturing) return cudaErrorStreamCaptureImplicit;
  if (n) std::memmove(d, s, n);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* d, const void* s, size_t n, cudaMemcpyKind, cudaStream_t) {
  host_op("cudaMemcpyAsync", [=] {
    if (n) std::memmove(d, s, n);
  });
  return cudaSuccess;
}
cudaError_t cudaMemset(void* d, int v, size_t n) {
  if (n) std::memset(d, v, n);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* d, int v, size_t n, cudaStream_t) {
  host_op("cudaMemsetAsync", [=] {
    if (n) std::memset(d, v, n);
  });
  return cudaSuccess;
}
cudaError_t cudaGetLastError() {
  cudaError_t e = last_error;
  last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() {
  return last_error;
}
namespace {
struct ErrorText {
  cudaError_t code;
  const char* name;
  const char* text;
};
constexpr ErrorText kErrors[] = {
    {cudaSuccess, "cudaSuccess", "no error"},
    {cudaErrorMemoryAllocation, "cudaErrorMemoryAllocation", "out of memory"},
    {cudaErrorInvalidDevice, "cudaErrorInvalidDevice", "invalid device ordinal"},
    {cudaErrorIllegalState, "cudaErrorIllegalState", "the resource is in an illegal state"},
    {cudaErrorNotSupported, "cudaErrorNotSupported", "operation not supported (emulator)"},
    {cudaErrorStreamCaptureUnsupported, "cudaErrorStreamCaptureUnsupported",
     "operation not permitted when stream is capturing"},
    {cudaErrorStreamCaptureImplicit, "cudaErrorStreamCaptureImplicit",
     "operation would make the legacy stream depend on a capturing blocking stream"},
};
const ErrorText* find_error(cudaError_t e) {
  for (const ErrorText& t : kErrors)
    if (t.code == e) return &t;
  return nullptr;
}
}  // namespace
const char* cudaGetErrorName(cudaError_t e) {
  const ErrorText* t = find_error(e);
  return t ? t->name : "cudaErrorUnknown(emulated)";
}
const char* cudaGetErrorString(cudaError_t e) {
  const ErrorText* t = find_error(e);
  return t ? t->text : "unknown error (emulated)";
}

cudaError_t cudaStreamBeginCapture(cudaStream_t, cudaStreamCaptureMode mode) {
  if (emu::capturing) return cudaErrorIllegalState;
  emu::capturing = true;
  relaxed_capture = mode == cudaStreamCaptureModeRelaxed;
  emu::capture_list = new std::vector<emu::Node>();
  return cudaSuccess;
}
cudaError_t cudaStreamEndCapture(cudaStream_t, cudaGraph_t* g) {
  if (!emu::capturing) return cudaErrorIllegalState;
  emu::capturing = false;
  *g = reinterpret_cast<cudaGraph_t>(emu::capture_list);
  emu::capture_list = nullptr;
  return cudaSuccess;
}
cudaError_t cudaGraphGetNodes(cudaGraph_t g, cudaGraphNode_t* nodes, size_t* count) {
  auto* list = reinterpret_cast<std::vector<emu::Node>*>(g);
  if (nodes) return cudaErrorNotSupported;  // only the count is emulated
  *count = list->size();
  return cudaSuccess;
}
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t g, unsigned long long) {
  auto* nodes = reinterpret_cast<std::vector<emu::Node>*>(g);
  // EMU_GRAPH_TRACE=1 lists a graph's nodes as it is instantiated: what one replay launches.
  if (const char* t = std::getenv("EMU_GRAPH_TRACE"); t && *t == '1') {
    std::fprintf(stderr, "cuda-emu: graph of %zu nodes:", nodes->size());
    for (const emu::Node& n : *nodes)
      std::fprintf(stderr, " %s<<<%u,%u>>>", n.name, n.grid.x * n.grid.y * n.grid.z,
                   n.block.x * n.block.y * n.block.z);
    std::fprintf(stderr, "\n");
  }
  *exec = reinterpret_cast<cudaGraphExec_t>(new std::vector<emu::Node>(*nodes));
  return cudaSuccess;
}
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t) {
  emu::trace("cudaGraphLaunch");
  for (const emu::Node& n : *reinterpret_cast<std::vector<emu::Node>*>(exec)) {
    if (n.host_op)
      n.host_op();
    else
      emu::run_kernel(n.grid, n.block, n.name, n.f);
  }
  return cudaSuccess;
}
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  delete reinterpret_cast<std::vector<emu::Node>*>(exec);
  return cudaSuccess;
}
cudaError_t cudaGraphDestroy(cudaGraph_t g) {
  delete reinterpret_cast<std::vector<emu::Node>*>(g);
  return cudaSuccess;
}
}  // extern "C"

// cuBLAS.
struct cublasContext {
  cublasMath_t math = CUBLAS_DEFAULT_MATH;
};
namespace {
// Round a float to TF32 (10 explicit mantissa bits), to nearest even.
float tf32(float x) {
  if (!std::isfinite(x)) return x;
  uint32_t u;
  std::memcpy(&u, &x, 4);
  u += 0xfffu + ((u >> 13) & 1u);
  u &= ~0x1fffu;
  std::memcpy(&x, &u, 4);
  return x;
}
template <typename T>
cublasStatus_t ref_gemm(cublasContext* h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                        int k, const T* alpha, const T* a, int lda, const T* b, int ldb,
                        const T* beta, T* c, int ldc) {
  if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
  const bool tra = ta != CUBLAS_OP_N, trb = tb != CUBLAS_OP_N;
  // cuBLAS's own argument checks (column-major).
  if (m < 0 || n < 0 || k < 0 || lda < std::max(1, tra ? k : m) || ldb < std::max(1, trb ? n : k) ||
      ldc < std::max(1, m))
    return CUBLAS_STATUS_INVALID_VALUE;
  const bool round = sizeof(T) == 4 && h->math == CUBLAS_TF32_TENSOR_OP_MATH;
  auto A = [&](int i, int p) -> T {
    const T v = tra ? a[p + int64_t(i) * lda] : a[i + int64_t(p) * lda];
    return round ? T(tf32(float(v))) : v;
  };
  auto B = [&](int p, int j) -> T {
    const T v = trb ? b[j + int64_t(p) * ldb] : b[p + int64_t(j) * ldb];
    return round ? T(tf32(float(v))) : v;
  };
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i) {
      T s = 0;
      if (*alpha != T(0))
        for (int p = 0; p < k; ++p) s = std::fma(A(i, p), B(p, j), s);
      T* ce = c + i + int64_t(j) * ldc;
      *ce = *beta == T(0) ? *alpha * s : std::fma(*beta, *ce, *alpha * s);
    }
  return CUBLAS_STATUS_SUCCESS;
}
}  // namespace
extern "C" {
cublasStatus_t cublasCreate_v2(cublasHandle_t* h) {
  *h = new cublasContext;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy_v2(cublasHandle_t h) {
  delete h;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t, void*, size_t) {
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream_v2(cublasHandle_t, cudaStream_t) {
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t m) {
  h->math = m;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSgemm_v2(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                              int n, int k, const float* alpha, const float* a, int lda,
                              const float* b, int ldb, const float* beta, float* c, int ldc) {
  if (emu::capturing) {
    const float al = *alpha, be = *beta;
    emu::capture_list->push_back(emu::Node{dim3(), dim3(), "sgemm", {}, [=] {
                                             ref_gemm<float>(h, ta, tb, m, n, k, &al, a, lda, b,
                                                             ldb, &be, c, ldc);
                                           }});
    return CUBLAS_STATUS_SUCCESS;
  }
  emu::trace("cublasSgemm");
  return ref_gemm<float>(h, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
cublasStatus_t cublasDgemm_v2(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                              int n, int k, const double* alpha, const double* a, int lda,
                              const double* b, int ldb, const double* beta, double* c, int ldc) {
  return ref_gemm<double>(h, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
}
