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
#include <vector>

#include "emu_pre.h"

namespace {
cudaError_t last_error = cudaSuccess;
int fake_streams = 0;
bool memset_ff = [] {
  const char* e = std::getenv("EMU_MALLOC_FILL");
  return !(e && !std::strcmp(e, "0"));
}();
void fresh(void* p, size_t n) {
  if (memset_ff) std::memset(p, 0xFF, n);  // NaN for floats, -1 for ints: uninitialised memory
}
// Capture: host ops (memcpy/memset) recorded in order with the kernels.
void host_op(std::function<void()> op) {
  if (emu::capturing) {
    emu::capture_list->push_back(emu::Node{dim3(), dim3(), "host op", {}, std::move(op)});
    return;
  }
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
  return p;
}
cudaError_t cudaMalloc(void** p, size_t n) {
  if (emu::capturing) return cudaErrorStreamCaptureUnsupported;
  *p = dev_alloc(n);
  fresh(*p, n);
  return cudaSuccess;
}
cudaError_t cudaFree(void* p) {
  std::free(p);
  return cudaSuccess;
}
cudaError_t cudaMallocAsync(void** p, size_t n, cudaStream_t) {
  if (emu::capturing) return cudaErrorStreamCaptureUnsupported;  // not emulated as graph nodes
  *p = dev_alloc(n);
  fresh(*p, n);
  return cudaSuccess;
}
cudaError_t cudaFreeAsync(void* p, cudaStream_t) {
  std::free(p);
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
cudaError_t cudaMemcpy(void* d, const void* s, size_t n, cudaMemcpyKind) {
  if (emu::capturing) return cudaErrorStreamCaptureImplicit;
  if (n) std::memmove(d, s, n);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* d, const void* s, size_t n, cudaMemcpyKind, cudaStream_t) {
  host_op([=] {
    if (n) std::memmove(d, s, n);
  });
  return cudaSuccess;
}
cudaError_t cudaMemset(void* d, int v, size_t n) {
  if (n) std::memset(d, v, n);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* d, int v, size_t n, cudaStream_t) {
  host_op([=] {
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
const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess:
      return "cudaSuccess";
    case cudaErrorStreamCaptureUnsupported:
      return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureImplicit:
      return "cudaErrorStreamCaptureImplicit";
    default:
      return "cudaError(emu)";
  }
}
const char* cudaGetErrorString(cudaError_t) {
  return "emulated error";
}

cudaError_t cudaStreamBeginCapture(cudaStream_t, cudaStreamCaptureMode) {
  if (emu::capturing) return cudaErrorIllegalState;
  emu::capturing = true;
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
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t g, unsigned long long) {
  auto* nodes = reinterpret_cast<std::vector<emu::Node>*>(g);
  *exec = reinterpret_cast<cudaGraphExec_t>(new std::vector<emu::Node>(*nodes));
  return cudaSuccess;
}
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t) {
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
  return ref_gemm<float>(h, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
cublasStatus_t cublasDgemm_v2(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                              int n, int k, const double* alpha, const double* a, int lda,
                              const double* b, int ldb, const double* beta, double* c, int ldc) {
  return ref_gemm<double>(h, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
}
