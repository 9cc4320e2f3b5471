// cuBLAS, loaded on first use (dlopen) instead of linked.
//
// Why: libcublas and libcublasLt are large enough that merely loading them costs about 0.6 s
// of CPU per process start. Every test program, example and the trainer links the kernels
// library, so linking cuBLAS made each of the hundreds of CTest processes pay that even when
// no GEMM runs on a GPU (and on machines without one, none ever does). Loaded here, only a
// process that calls cublas() pays, once.
#pragma once

#include <cublas_v2.h>

namespace tg::kernels::cuda {

struct CublasApi {
  decltype(&cublasCreate_v2) create = nullptr;
  decltype(&cublasSetStream_v2) set_stream = nullptr;
  decltype(&cublasSetMathMode) set_math_mode = nullptr;
  decltype(&cublasSetWorkspace_v2) set_workspace = nullptr;
  decltype(&cublasSgemm_v2) sgemm = nullptr;
  decltype(&cublasDgemm_v2) dgemm = nullptr;
};

// Loads libcublas on the first call (thread-safe); throws tg::Error naming the library and
// dlerror() when it or a symbol is missing.
const CublasApi& cublas();

}  // namespace tg::kernels::cuda
