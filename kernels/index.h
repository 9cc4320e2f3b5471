// Indexing on the CPU: index_select of rows (how a DataLoader gathers a batch) and gather
// along an axis. Indices are int32; every index is checked before anything is written and an
// out-of-range one throws tg::Error naming its position and value. Cost: bytes of the output
// read and written once.
#pragma once

#include <cstdint>

#include "base/error.h"

// The size checks shared by the CPU and CUDA twins (same messages on every device).
namespace tg::kernels::detail {
inline void index_select_check(int64_t rows, int64_t row_size, int64_t n) {
  TG_CHECK(rows >= 0 && row_size >= 0 && n >= 0, "index_select", "negative size in (rows ", rows,
           ", row_size ", row_size, ", n ", n, ")");
}
// gather's and scatter_add's.
inline void gather_check(const char* op, int64_t outer, int64_t r, int64_t inner, int64_t q) {
  TG_CHECK(outer >= 0 && r >= 0 && inner >= 0 && q >= 0, op,
           "negative size in (outer, r, inner, q) = (", outer, ", ", r, ", ", inner, ", ", q, ")");
}
}  // namespace tg::kernels::detail

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

// The explicit instantiations, one list for both twins: kernels/cpu/index.cpp and
// kernels/cuda/index.cu each expand TG_INDEX_INSTANTIATE() once, after their definitions,
// inside their own namespace. index_select_rows, gather: float, double, int32_t, uint8_t;
// scatter_add: float, double.
#define TG_INDEX_INSTANTIATE_SELECT(T)                                                         \
  template void index_select_rows<T>(const T*, int64_t, int64_t, const int32_t*, int64_t, T*); \
  template void gather<T>(const T*, int64_t, int64_t, int64_t, const int32_t*, int64_t, T*);
#define TG_INDEX_INSTANTIATE_ADD(T) \
  template void scatter_add<T>(const T*, int64_t, int64_t, int64_t, const int32_t*, int64_t, T*);
#define TG_INDEX_INSTANTIATE()         \
  TG_INDEX_INSTANTIATE_SELECT(float)   \
  TG_INDEX_INSTANTIATE_SELECT(double)  \
  TG_INDEX_INSTANTIATE_SELECT(int32_t) \
  TG_INDEX_INSTANTIATE_SELECT(uint8_t) \
  TG_INDEX_INSTANTIATE_ADD(float)      \
  TG_INDEX_INSTANTIATE_ADD(double)
