// Device dispatch for tensor/'s op files (internal): the CPU and CUDA twins of a kernel share a
// name and a signature, so one macro picks the twin by device.
//
//   TG_KERNEL(x.device(), unary, op, x.data<scalar_t>(), x.strided(), out.data<scalar_t>());
//
// calls kernels::cpu::unary(...) or kernels::cuda::unary(...). In a build without the CUDA
// backend the CUDA branch throws (it is unreachable in practice: no CUDA tensor can exist).
#pragma once

#include "tensor/tensor.h"

#if TG_WITH_CUDA
#define TG_CUDA_KERNEL(fn, ...) ::tg::kernels::cuda::fn(__VA_ARGS__)
#else
#define TG_CUDA_KERNEL(fn, ...) ::tg::detail::no_cuda_kernel(#fn)
#endif

#define TG_KERNEL(device, fn, ...)         \
  do {                                     \
    if ((device).is_cuda())                \
      TG_CUDA_KERNEL(fn, __VA_ARGS__);     \
    else                                   \
      ::tg::kernels::cpu::fn(__VA_ARGS__); \
  } while (0)

namespace tg::detail {

[[noreturn]] void no_cuda_kernel(const char* fn);
// Both defined and on the same device (the op's message names both devices); returns it.
Device same_device(const char* op, const Tensor& a, const Tensor& b);

}  // namespace tg::detail
