// Replaces kernels/cuda/cublas_api.cpp (dlopen of libcublas): the emulator's host cuBLAS stubs
// (emu_runtime.cpp) stand in for the library's functions.
#include "kernels/cuda/cublas_api.h"

namespace tg::kernels::cuda {
const CublasApi& cublas() {
  static const CublasApi api = [] {
    CublasApi a;
    a.create = &cublasCreate_v2;
    a.set_stream = &cublasSetStream_v2;
    a.set_math_mode = &cublasSetMathMode;
    a.set_workspace = &cublasSetWorkspace_v2;
    a.sgemm = &cublasSgemm_v2;
    a.dgemm = &cublasDgemm_v2;
    return a;
  }();
  return api;
}
}  // namespace tg::kernels::cuda
