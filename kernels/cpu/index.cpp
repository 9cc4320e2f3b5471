// index_select of rows, gather along an axis and its adjoint scatter_add, on the CPU.
//
// Algorithm: first every index is checked (the first out-of-range position is found with a
// min-reduction, so the check is parallel for large index arrays yet always reports the same,
// first, offender, and the throw happens outside any OpenMP region); only then is anything
// written. index_select copies whole rows with memcpy; gather walks the output; scatter_add
// gives each thread whole (outer, column-tile) blocks, within which it adds in j order, so no
// two threads touch the same gx element and the sum order is fixed.
// Cost: no FLOPs except scatter_add's one add per element; the output's bytes read from the
// source and written once, plus the indices read twice (check, then use).
#include <algorithm>
#include <cstring>
#include <limits>

#include "base/error.h"
#include "kernels/cpu/common.h"
#include "kernels/index.h"

namespace tg::kernels::cpu {

namespace {

using detail::kParallelMin;

constexpr int64_t kTile = 64;  // columns per scatter_add work unit

// The first position p < n with idx[p] outside [0, limit), or -1.
int64_t first_out_of_range(const int32_t* idx, int64_t n, int64_t limit) {
  int64_t first = std::numeric_limits<int64_t>::max();
  // (The body is written out twice: a lambda would capture the shared `first`, not the
  // reduction's private copy.)
  if (n >= kParallelMin) {
#pragma omp parallel for simd reduction(min : first)
    for (int64_t p = 0; p < n; ++p) {
      const bool bad = idx[p] < 0 || idx[p] >= limit;
      first = bad && p < first ? p : first;
    }
  } else {
#pragma omp simd reduction(min : first)
    for (int64_t p = 0; p < n; ++p) {
      const bool bad = idx[p] < 0 || idx[p] >= limit;
      first = bad && p < first ? p : first;
    }
  }
  return first == std::numeric_limits<int64_t>::max() ? -1 : first;
}

void check_gather_indices(const char* op, const int32_t* idx, int64_t n, int64_t r) {
  const int64_t bad = first_out_of_range(idx, n, r);
  TG_CHECK(bad < 0, op, "index ", bad < 0 ? 0 : idx[bad], " at position ", bad,
           " is out of range for an axis of size ", r);
}

}  // namespace

template <typename T>
void index_select_rows(const T* src, int64_t rows, int64_t row_size, const int32_t* idx, int64_t n,
                       T* dst) {
  kernels::detail::index_select_check(rows, row_size, n);
  const int64_t bad = first_out_of_range(idx, n, rows);
  TG_CHECK(bad < 0, "index_select", "index ", bad < 0 ? 0 : idx[bad], " at position ", bad,
           " is out of range for ", rows, " rows");
  const size_t bytes = static_cast<size_t>(row_size) * sizeof(T);
  detail::parallel_for(n, n * row_size >= kParallelMin, [&](int64_t i) {
    std::memcpy(dst + i * row_size, src + idx[i] * row_size, bytes);
  });
}

template <typename T>
void gather(const T* x, int64_t outer, int64_t r, int64_t inner, const int32_t* idx, int64_t q,
            T* out) {
  kernels::detail::gather_check("gather", outer, r, inner, q);
  check_gather_indices("gather", idx, outer * q * inner, r);
  detail::parallel_for(outer * q, outer * q * inner >= kParallelMin, [&](int64_t oj) {
    const int64_t o = oj / q;
    const int32_t* ir = idx + oj * inner;
    const T* xo = x + o * r * inner;
    T* yr = out + oj * inner;
    for (int64_t i = 0; i < inner; ++i) yr[i] = xo[ir[i] * inner + i];
  });
}

template <typename T>
void scatter_add(const T* gy, int64_t outer, int64_t r, int64_t inner, const int32_t* idx,
                 int64_t q, T* gx) {
  kernels::detail::gather_check("scatter_add", outer, r, inner, q);
  check_gather_indices("scatter_add", idx, outer * q * inner, r);
  const int64_t ntile = (inner + kTile - 1) / kTile;
  detail::parallel_for(outer * ntile, outer * q * inner >= kParallelMin, [&](int64_t u) {
    const int64_t o = u / ntile, i0 = (u % ntile) * kTile, i1 = std::min(inner, i0 + kTile);
    T* go = gx + o * r * inner;
    for (int64_t j = 0; j < q; ++j) {
      const int64_t row = (o * q + j) * inner;
      for (int64_t i = i0; i < i1; ++i) go[idx[row + i] * inner + i] += gy[row + i];
    }
  });
}

TG_INDEX_INSTANTIATE()

}  // namespace tg::kernels::cpu
