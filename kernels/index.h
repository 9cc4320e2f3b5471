// Indexing on the CPU: index_select of rows (how a DataLoader gathers a batch) and gather
// along an axis. Indices are int32; every index is checked before anything is written and an
// out-of-range one throws tg::Error naming its position and value. Cost: bytes of the output
// read and written once.
#pragma once

#include <cstdint>

namespace tg::kernels::cpu {

// dst[i, :] = src[idx[i], :] for i < n; src has `rows` rows of `row_size` elements.
template <typename T>
void index_select_rows(const T* src, int64_t rows, int64_t row_size, const int32_t* idx, int64_t n,
                       T* dst);
// x contiguous (outer, r, inner), idx contiguous (outer, q, inner) with values in [0, r):
// out[o, j, i] = x[o, idx[o, j, i], i].
template <typename T>
void gather(const T* x, int64_t outer, int64_t r, int64_t inner, const int32_t* idx, int64_t q,
            T* out);
// The adjoint of gather: gx[o, idx[o, j, i], i] += gy[o, j, i] (gx must be zeroed by the caller).
template <typename T>
void scatter_add(const T* gy, int64_t outer, int64_t r, int64_t inner, const int32_t* idx,
                 int64_t q, T* gx);

}  // namespace tg::kernels::cpu

// The CUDA twins (kernels/cuda/index.cu), queued on the current stream. An index out of range
// is recorded on the device (report_device_error in kernels/cuda/runtime.h; the destination
// element gets zero) and raised as tg::Error naming position and value at the host's next
// synchronisation. scatter_add is deterministic: each gx element is summed by one thread over
// j in order (no atomics).
namespace tg::kernels::cuda {

template <typename T>
void index_select_rows(const T* src, int64_t rows, int64_t row_size, const int32_t* idx, int64_t n,
                       T* dst);
template <typename T>
void gather(const T* x, int64_t outer, int64_t r, int64_t inner, const int32_t* idx, int64_t q,
            T* out);
template <typename T>
void scatter_add(const T* gy, int64_t outer, int64_t r, int64_t inner, const int32_t* idx,
                 int64_t q, T* gx);

}  // namespace tg::kernels::cuda
