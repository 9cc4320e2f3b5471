// index_select of rows, gather along an axis and its adjoint scatter_add on the GPU: the CUDA
// twins of kernels/cpu/index.cpp.
//
// Algorithm: one thread per output element in grid-stride loops; the element's (row, column) or
// (outer, j, i) position comes from one division of the flat index, in 32 bits when the output
// has fewer than 2^31 elements. The device cannot throw, and checking every index on the host
// first would need a synchronisation, so each kernel checks the index it uses: an out-of-range
// one is recorded with report_device_error (raised as tg::Error at the host's next
// synchronisation) and its destination element gets zero instead of a read out of bounds. When
// several indices are bad, the one reported is the first to reach the record (not necessarily
// the lowest position, which the CPU reports).
//
// scatter_add is deterministic without atomics: one thread per gx element (o, r, i) walks
// j = 0..q-1 in order and adds gy[o, j, i] wherever idx[o, j, i] == r, starting from gx's
// value, so the sum order is the CPU's. The price is that each thread reads q indices:
// outer * r * q * inner index reads instead of outer * q * inner, fine for the class axis of a
// loss (q = 1) but quadratic for an embedding-sized axis. The threads with r == 0 also check the
// indices they read, so each bad index is reported once.
// Cost: no FLOPs except scatter_add's adds; the output's bytes read from the source and written
// once, plus the indices read once (scatter_add: r times).
#include <cstdint>
#include <limits>

#include "base/error.h"
#include "kernels/cuda/device.cuh"
#include "kernels/cuda/runtime.h"
#include "kernels/index.h"

namespace tg::kernels::cuda {

namespace {

constexpr int kThreads = 256;

bool fits_32(int64_t n) {
  return n <= std::numeric_limits<int32_t>::max();
}

// Idx: the type of the position division (uint32_t when the output has < 2^31 elements).
template <typename T, typename Idx>
__global__ void index_select_kernel(const T* src, int64_t rows, int64_t row_size,
                                    const int32_t* idx, int64_t total, T* dst,
                                    DeviceErrorRecord* rec) {
  const Idx cols = static_cast<Idx>(row_size);
  TG_GRID_STRIDE(e, total) {
    const Idx i = static_cast<Idx>(e) / cols, c = static_cast<Idx>(e) - i * cols;
    const int64_t r = idx[i];
    if (r < 0 || r >= rows) [[unlikely]] {
      if (c == 0) report_device_error(rec, kIndexSelectOutOfRange, i, r, rows);  // once per row
      dst[e] = T(0);
    } else {
      dst[e] = src[r * row_size + c];
    }
  }
}

// Only the bounds check, for index arrays whose elements have no data to move (index_select with
// empty rows, scatter_add into an axis of size 0): the CPU rejects those indices too.
__global__ void check_indices_kernel(const int32_t* idx, int64_t n, int64_t bound, int code,
                                     DeviceErrorRecord* rec) {
  TG_GRID_STRIDE(p, n) {
    const int64_t v = idx[p];
    if (v < 0 || v >= bound) [[unlikely]]
      report_device_error(rec, code, p, v, bound);
  }
}

// out[o, j, i] = x[o, idx[o, j, i], i]; e = (o * q + j) * inner + i.
template <typename T, typename Idx>
__global__ void gather_kernel(const T* x, int64_t r, int64_t inner, const int32_t* idx, int64_t q,
                              int64_t total, T* out, DeviceErrorRecord* rec) {
  const Idx in = static_cast<Idx>(inner), qin = static_cast<Idx>(q * inner);
  TG_GRID_STRIDE(e, total) {
    const Idx o = static_cast<Idx>(e) / qin, i = static_cast<Idx>(e) % in;
    const int64_t v = idx[e];
    if (v < 0 || v >= r) [[unlikely]] {
      report_device_error(rec, kGatherOutOfRange, e, v, r);
      out[e] = T(0);
    } else {
      out[e] = x[(static_cast<int64_t>(o) * r + v) * inner + i];
    }
  }
}

// gx[o, k, i] += sum over j (in order) of gy[o, j, i] where idx[o, j, i] == k;
// e = (o * r + k) * inner + i.
template <typename T, typename Idx>
__global__ void scatter_add_kernel(const T* gy, int64_t r, int64_t inner, const int32_t* idx,
                                   int64_t q, int64_t total, T* gx, DeviceErrorRecord* rec) {
  const Idx in = static_cast<Idx>(inner), rin = static_cast<Idx>(r * inner);
  TG_GRID_STRIDE(e, total) {
    const Idx o = static_cast<Idx>(e) / rin, rest = static_cast<Idx>(e) - o * rin;
    const Idx k = rest / in, i = rest - k * in;
    // gy and idx share the layout (outer, q, inner); consecutive threads read consecutive i.
    const int64_t base = static_cast<int64_t>(o) * q * inner + i;
    T acc = gx[e];
    for (int64_t j = 0; j < q; ++j) {
      const int64_t p = base + j * inner;
      const int64_t v = idx[p];
      if (v == static_cast<int64_t>(k)) acc += gy[p];
      if (k == 0 && (v < 0 || v >= r)) [[unlikely]]
        report_device_error(rec, kScatterOutOfRange, p, v, r);
    }
    gx[e] = acc;
  }
}

void launch_check_indices(const int32_t* idx, int64_t n, int64_t bound, int code) {
  check_indices_kernel<<<blocks_for(n, kThreads), kThreads, 0, current_stream()>>>(
      idx, n, bound, code, device_error_record());
  TG_CUDA_CHECK_LAUNCH("check_indices_kernel");
}

}  // namespace

template <typename T>
void index_select_rows(const T* src, int64_t rows, int64_t row_size, const int32_t* idx, int64_t n,
                       T* dst) {
  kernels::detail::index_select_check(rows, row_size, n);
  if (n == 0) return;
  if (row_size == 0) return launch_check_indices(idx, n, rows, kIndexSelectOutOfRange);
  const int64_t total = n * row_size;
  const unsigned blocks = blocks_for(total, kThreads);
  DeviceErrorRecord* rec = device_error_record();
  if (fits_32(total))
    index_select_kernel<T, uint32_t>
        <<<blocks, kThreads, 0, current_stream()>>>(src, rows, row_size, idx, total, dst, rec);
  else
    index_select_kernel<T, int64_t>
        <<<blocks, kThreads, 0, current_stream()>>>(src, rows, row_size, idx, total, dst, rec);
  TG_CUDA_CHECK_LAUNCH("index_select_kernel");
}

template <typename T>
void gather(const T* x, int64_t outer, int64_t r, int64_t inner, const int32_t* idx, int64_t q,
            T* out) {
  kernels::detail::gather_check("gather", outer, r, inner, q);
  const int64_t total = outer * q * inner;
  if (total == 0) return;
  const unsigned blocks = blocks_for(total, kThreads);
  DeviceErrorRecord* rec = device_error_record();
  if (fits_32(total))
    gather_kernel<T, uint32_t>
        <<<blocks, kThreads, 0, current_stream()>>>(x, r, inner, idx, q, total, out, rec);
  else
    gather_kernel<T, int64_t>
        <<<blocks, kThreads, 0, current_stream()>>>(x, r, inner, idx, q, total, out, rec);
  TG_CUDA_CHECK_LAUNCH("gather_kernel");
}

template <typename T>
void scatter_add(const T* gy, int64_t outer, int64_t r, int64_t inner, const int32_t* idx,
                 int64_t q, T* gx) {
  kernels::detail::gather_check("scatter_add", outer, r, inner, q);
  const int64_t nidx = outer * q * inner;
  if (nidx == 0) return;  // nothing to add (gx keeps its values, as on the CPU)
  if (r == 0) return launch_check_indices(idx, nidx, r, kScatterOutOfRange);  // all out of range
  const int64_t total = outer * r * inner;
  const unsigned blocks = blocks_for(total, kThreads);
  DeviceErrorRecord* rec = device_error_record();
  if (fits_32(total))
    scatter_add_kernel<T, uint32_t>
        <<<blocks, kThreads, 0, current_stream()>>>(gy, r, inner, idx, q, total, gx, rec);
  else
    scatter_add_kernel<T, int64_t>
        <<<blocks, kThreads, 0, current_stream()>>>(gy, r, inner, idx, q, total, gx, rec);
  TG_CUDA_CHECK_LAUNCH("scatter_add_kernel");
}

TG_INDEX_INSTANTIATE()

}  // namespace tg::kernels::cuda
