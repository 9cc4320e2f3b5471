// cublas(): dlopen of libcublas and dlsym of the few functions the library calls.
#include "kernels/cuda/cublas_api.h"

#include <dlfcn.h>

#include <string>

#include "base/error.h"

namespace tg::kernels::cuda {

namespace {

void* open_cublas() {
  std::string tried;
  // The soname first (found through the program's RUNPATH, which CMake points at the CUDA
  // libraries, or the system's paths), then the toolkit folder found at configure time.
  for (const char* name : {"libcublas.so." TG_CUBLAS_SOVERSION, "libcublas.so",
                           TG_CUDA_LIBRARY_DIR "/libcublas.so." TG_CUBLAS_SOVERSION}) {
    if (void* h = dlopen(name, RTLD_NOW | RTLD_LOCAL)) return h;
    const char* why = dlerror();
    tried += std::string("\n  ") + name + ": " + (why ? why : "unknown error");
  }
  TG_FAIL("cuBLAS", "cannot load the cuBLAS library; tried:", tried);
}

template <typename F>
F symbol(void* lib, const char* name) {
  void* p = dlsym(lib, name);
  TG_CHECK(p != nullptr, "cuBLAS", "the loaded libcublas lacks ", name, " (", dlerror(), ")");
  return reinterpret_cast<F>(p);
}

}  // namespace

const CublasApi& cublas() {
  static const CublasApi api = [] {
    void* lib = open_cublas();  // never closed: handles may live until exit
    CublasApi a;
    a.create = symbol<decltype(a.create)>(lib, "cublasCreate_v2");
    a.set_stream = symbol<decltype(a.set_stream)>(lib, "cublasSetStream_v2");
    a.set_math_mode = symbol<decltype(a.set_math_mode)>(lib, "cublasSetMathMode");
    a.set_workspace = symbol<decltype(a.set_workspace)>(lib, "cublasSetWorkspace_v2");
    a.sgemm = symbol<decltype(a.sgemm)>(lib, "cublasSgemm_v2");
    a.dgemm = symbol<decltype(a.dgemm)>(lib, "cublasDgemm_v2");
    return a;
  }();
  return api;
}

}  // namespace tg::kernels::cuda
