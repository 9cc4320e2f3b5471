# The optional CUDA backend. TG_CUDA=AUTO (the default) builds it when nvcc is found, ON
# requires it, OFF never builds it. Sets TG_WITH_CUDA for the layer CMakeLists.
#
# nvcc is looked for on PATH and in /usr/local/cuda/bin (where NVIDIA's packages put it and
# where it is not on PATH by default). Architectures: real sm_90 code for Hopper, plus PTX for
# compute_75 (the oldest target nvcc 13 accepts) that the driver JIT-compiles on other cards.
set(TG_CUDA AUTO CACHE STRING "Build the CUDA backend: AUTO (when nvcc is found), ON or OFF")
set_property(CACHE TG_CUDA PROPERTY STRINGS AUTO ON OFF)
string(TOUPPER "${TG_CUDA}" TG_CUDA_MODE)
if(NOT TG_CUDA_MODE MATCHES "^(AUTO|ON|OFF)$")
  message(FATAL_ERROR "TG_CUDA must be AUTO, ON or OFF, got '${TG_CUDA}'")
endif()

set(TG_WITH_CUDA OFF)
if(NOT TG_CUDA_MODE STREQUAL "OFF")
  if(NOT DEFINED CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX}
     AND EXISTS /usr/local/cuda/bin/nvcc)
    set(ENV{PATH} "$ENV{PATH}:/usr/local/cuda/bin")
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 90-real 75-virtual)
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    # CMake 3.25 (Debian 12) predates nvcc's C++20 support: teach it the flag, so that the
    # cxx_std_20 requirement of our targets also holds for their .cu files. Newer CMakes know.
    if(NOT CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
      set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
      set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
      list(APPEND CMAKE_CUDA_COMPILE_FEATURES cuda_std_20)
      set(CMAKE_CUDA20_COMPILE_FEATURES cuda_std_20)
    endif()
    set(CMAKE_CUDA_STANDARD 20)
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    set(CMAKE_CUDA_EXTENSIONS OFF)
    set(TG_WITH_CUDA ON)
  elseif(TG_CUDA_MODE STREQUAL "ON")
    message(FATAL_ERROR "TG_CUDA=ON but no CUDA compiler was found: put nvcc on PATH, set "
                        "CUDACXX, or configure with -DTG_CUDA=AUTO or OFF")
  endif()
endif()
if(TG_WITH_CUDA)
  message(STATUS "tapegrad: CUDA backend ON (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, "
                 "architectures ${CMAKE_CUDA_ARCHITECTURES})")
else()
  message(STATUS "tapegrad: CUDA backend OFF (TG_CUDA=${TG_CUDA})")
endif()

# How the backend is packaged, and why. Everything that calls the CUDA runtime (kernels/cuda:
# the kernels, runtime.cpp, memory.cpp) is one shared library, libtg_cuda.so, which links the
# runtime statically (CUDA::cudart_static) and dlopens cuBLAS (kernels/cuda/cublas_api.h); the
# layers stay static and call it through plain C++ functions. So a program built against an
# installed tapegrad links only our libraries: it needs neither the CUDA toolkit nor its headers
# (no find_dependency(CUDAToolkit), no CUDA include path in the installed headers), and runs on a
# machine with no driver (tg::cuda::is_available() is false), while on a GPU it gets the backend.
# Chosen over dlopen'ing libcudart (kernel launches and fat-binary registration go through the
# runtime's private entry points, which a shim would have to mirror per CUDA release) and over
# shipping static archives that need cudart at the consumer's link; it is what NCCL does. The
# library exports only tg:: symbols (tg_cuda.map), so its copy of the runtime never interposes
# on a CUDA consumer's own libcudart; device pointers and streams still pass between the two
# (both use the device's primary context).
#
# Flags for our own CUDA sources: warnings from the host compiler, line info for
# compute-sanitizer and profilers (no effect on the generated code's speed).
function(tg_cuda_flags target)
  if(TG_WITH_CUDA)
    target_compile_options(${target} PRIVATE
      $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall -lineinfo --expt-relaxed-constexpr>)
  endif()
endfunction()

# tg_cuda_headers(target): the CUDA headers for a target of ours that includes kernels/cuda/*.h
# (for their types) without linking the runtime. Private and build-tree only: never exported.
function(tg_cuda_headers target)
  target_include_directories(${target} SYSTEM PRIVATE ${CUDAToolkit_INCLUDE_DIRS})
endfunction()
