// sum, mean, max, min and argmax over the middle axis of a contiguous (outer, r, inner) array.
//
// Algorithm. The work is cut into units whose boundaries depend only on the sizes, each unit is
// reduced by one thread with a fixed-order tree (detail::tree_reduce: 16 interleaved
// accumulators in leaves of 256, pairwise above), and the units' partials are combined by the
// same kind of tree in unit order. So the result is bit-identical for any thread count, and a
// float sum of n elements has an error of O(log n) ulps rather than the O(n) of a running sum.
//   inner == 1: each output reduces a contiguous run of r; runs longer than kChunk are cut
//     into chunks of kChunk (parallel over outer * chunks), then each output combines its
//     chunk partials.
//   inner > 1: outputs are tiled kTile columns wide so the inner loop is a unit-stride vector
//     add over a row of the tile; rows are reduced pairwise (kRowLeaf rows sequentially at the
//     bottom); r longer than kRowChunk rows is cut into row chunks like above.
// Cost: outer*r*inner FLOPs, the input read once, outer*inner writes (plus partials, about
// input/256 for long reductions).
#include <algorithm>
#include <cmath>
#include <limits>

#include "base/error.h"
#include "kernels/cpu/common.h"
#include "kernels/reduce.h"

namespace tg::kernels::cpu {

namespace {

using detail::kParallelMin;

constexpr int64_t kChunk = 4096;    // elements per unit when inner == 1
constexpr int64_t kTile = 64;       // output columns per unit when inner > 1
constexpr int64_t kRowChunk = 256;  // rows per unit when inner > 1
constexpr int64_t kRowLeaf = 16;    // rows summed one after another before pairing

int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

// acc[0..w) = f-reduction over rows j < nrows of x[j*ld + 0..w), w <= kTile, nrows >= 1.
template <typename T, typename F>
void tree_reduce_rows(const T* x, int64_t nrows, int64_t ld, int64_t w, F f, T* acc) {
  if (nrows <= kRowLeaf) {
    for (int64_t i = 0; i < w; ++i) acc[i] = x[i];
    for (int64_t j = 1; j < nrows; ++j) {
      const T* row = x + j * ld;
#pragma omp simd
      for (int64_t i = 0; i < w; ++i) acc[i] = f(acc[i], row[i]);
    }
    return;
  }
  const int64_t h = nrows / 2;
  T right[kTile];
  tree_reduce_rows(x, h, ld, w, f, acc);
  tree_reduce_rows(x + h * ld, nrows - h, ld, w, f, right);
  for (int64_t i = 0; i < w; ++i) acc[i] = f(acc[i], right[i]);
}

// out[o*inner + i] = fin(f-reduction over j of x[(o*r + j)*inner + i]), r >= 1.
template <typename T, typename F, typename Fin>
void reduce_axis(const T* x, int64_t outer, int64_t r, int64_t inner, T* out, F f, Fin fin) {
  const bool par = outer * r * inner >= kParallelMin;
  if (inner == 1) {
    const int64_t nchunk = ceil_div(r, kChunk);
    if (nchunk == 1) {
      detail::parallel_for(outer, par,
                           [&](int64_t o) { out[o] = fin(detail::tree_reduce(x + o * r, r, f)); });
      return;
    }
    T* part = detail::scratch<T>(outer * nchunk);
    detail::parallel_for(outer * nchunk, par, [&](int64_t u) {
      const int64_t o = u / nchunk, c = u % nchunk;
      const int64_t len = std::min(kChunk, r - c * kChunk);
      part[u] = detail::tree_reduce(x + o * r + c * kChunk, len, f);
    });
    for (int64_t o = 0; o < outer; ++o)
      out[o] = fin(detail::tree_reduce(part + o * nchunk, nchunk, f));
    return;
  }

  const int64_t ntile = ceil_div(inner, kTile);
  const int64_t nrc = ceil_div(r, kRowChunk);
  // Reduce nrows rows of the (o, tile) column block starting at src into dst (stride ld).
  auto finish = [&](const T* src, int64_t nrows, int64_t ld, int64_t o, int64_t t) {
    const int64_t i0 = t * kTile, w = std::min(kTile, inner - i0);
    T acc[kTile];
    tree_reduce_rows(src + i0, nrows, ld, w, f, acc);
    for (int64_t i = 0; i < w; ++i) out[o * inner + i0 + i] = fin(acc[i]);
  };
  if (nrc == 1) {
    detail::parallel_for(outer * ntile, par, [&](int64_t u) {
      const int64_t o = u / ntile, t = u % ntile;
      finish(x + o * r * inner, r, inner, o, t);
    });
    return;
  }
  // Partials laid out as (outer, nrc, inner): combining them is again a rows reduction.
  T* part = detail::scratch<T>(outer * nrc * inner);
  detail::parallel_for(outer * nrc * ntile, par, [&](int64_t u) {
    const int64_t o = u / (nrc * ntile), c = (u / ntile) % nrc, t = u % ntile;
    const int64_t i0 = t * kTile, w = std::min(kTile, inner - i0);
    const int64_t j0 = c * kRowChunk, nrows = std::min(kRowChunk, r - j0);
    tree_reduce_rows(x + (o * r + j0) * inner + i0, nrows, inner, w, f,
                     part + (o * nrc + c) * inner + i0);
  });
  detail::parallel_for(outer * ntile, outer * nrc * inner >= kParallelMin, [&](int64_t u) {
    const int64_t o = u / ntile, t = u % ntile;
    finish(part + o * nrc * inner, nrc, inner, o, t);
  });
}

// (value, index) of the first maximum of one run, NaN counting as the maximum.
template <typename T>
struct Best {
  T v;
  int64_t i;
};
template <typename T>
inline bool beats(T v, T best) {  // strictly better: later equal values never win
  return v > best || (v != v && best == best);
}
template <typename T>
Best<T> argmax_run(const T* x, int64_t n, int64_t base) {
  Best<T> b{x[0], base};
  for (int64_t j = 1; j < n; ++j) {
    if (b.v != b.v) break;  // the first NaN is final
    if (beats(x[j], b.v)) b = {x[j], base + j};
  }
  return b;
}

}  // namespace

template <typename T>
void reduce(ReduceOp op, const T* x, int64_t outer, int64_t r, int64_t inner, T* out) {
  const char* name = reduce_op_name(op);
  kernels::detail::reduce_check(op, outer, r, inner);
  const int64_t m = outer * inner;
  if (r == 0) {  // sum or mean (reduce_check refused the others)
    const T v = op == ReduceOp::sum ? T(0) : std::numeric_limits<T>::quiet_NaN();
    for (int64_t i = 0; i < m; ++i) out[i] = v;
    return;
  }
  if (m == 0) return;
  auto add = [](T a, T b) { return a + b; };
  auto same = [](T v) { return v; };
  switch (op) {
    case ReduceOp::sum:
      return reduce_axis(x, outer, r, inner, out, add, same);
    case ReduceOp::mean: {
      const T rr = static_cast<T>(r);
      return reduce_axis(x, outer, r, inner, out, add, [rr](T v) { return v / rr; });
    }
    case ReduceOp::max:
      return reduce_axis(
          x, outer, r, inner, out, [](T a, T b) { return detail::nan_max(a, b); }, same);
    case ReduceOp::min:
      return reduce_axis(
          x, outer, r, inner, out, [](T a, T b) { return detail::nan_min(a, b); }, same);
  }
  TG_FAIL(name, "unknown ReduceOp ", static_cast<int>(op));
}

// argmax needs no tree for determinism: "first index of the maximum" is one exact answer, so
// it only has to combine chunks in order, taking a later chunk only when strictly better.
template <typename T>
void argmax(const T* x, int64_t outer, int64_t r, int64_t inner, int32_t* out) {
  kernels::detail::argmax_check(outer, r, inner);
  const bool par = outer * r * inner >= kParallelMin;
  if (inner == 1) {
    const int64_t nchunk = ceil_div(r, kChunk);
    auto* part = detail::scratch<Best<T>>(outer * nchunk);
    detail::parallel_for(outer * nchunk, par, [&](int64_t u) {
      const int64_t o = u / nchunk, c = u % nchunk;
      const int64_t len = std::min(kChunk, r - c * kChunk);
      part[u] = argmax_run(x + o * r + c * kChunk, len, c * kChunk);
    });
    detail::parallel_for(outer, par && outer > 1, [&](int64_t o) {
      Best<T> b = part[o * nchunk];
      for (int64_t c = 1; c < nchunk; ++c)
        if (beats(part[o * nchunk + c].v, b.v)) b = part[o * nchunk + c];
      out[o] = static_cast<int32_t>(b.i);
    });
    return;
  }
  // inner > 1: one pass down the rows per (o, column tile), vectorised across the columns.
  const int64_t ntile = ceil_div(inner, kTile);
  detail::parallel_for(outer * ntile, par, [&](int64_t u) {
    const int64_t o = u / ntile, i0 = (u % ntile) * kTile, w = std::min(kTile, inner - i0);
    const T* base = x + o * r * inner + i0;
    T best[kTile];
    int32_t bi[kTile];
    for (int64_t i = 0; i < w; ++i) best[i] = base[i], bi[i] = 0;
    for (int64_t j = 1; j < r; ++j) {
      const T* row = base + j * inner;
      for (int64_t i = 0; i < w; ++i) {
        const bool take = beats(row[i], best[i]);
        best[i] = take ? row[i] : best[i];
        bi[i] = take ? static_cast<int32_t>(j) : bi[i];
      }
    }
    for (int64_t i = 0; i < w; ++i) out[o * inner + i0 + i] = bi[i];
  });
}

template <typename T>
void argmax_hits(const T* x, int64_t rows, int64_t cols, const int32_t* labels, float* out) {
  kernels::detail::argmax_hits_check(x, rows, cols, labels, out);
  int64_t hits = 0;
  if (rows * cols >= kParallelMin) {
#pragma omp parallel for schedule(static) reduction(+ : hits)
    for (int64_t i = 0; i < rows; ++i) hits += argmax_run(x + i * cols, cols, 0).i == labels[i];
  } else {
    for (int64_t i = 0; i < rows; ++i) hits += argmax_run(x + i * cols, cols, 0).i == labels[i];
  }
  out[0] = static_cast<float>(static_cast<double>(hits) / static_cast<double>(rows));
}

TG_REDUCE_INSTANTIATE()

}  // namespace tg::kernels::cpu
