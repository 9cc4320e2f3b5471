// The n-d index walk behind every elementwise kernel with non-contiguous inputs (internal).
//
// The output is contiguous in a shape; each of N inputs has its own strides in that shape (0 on
// a broadcast axis, possibly negative). make_walk first simplifies the problem: it drops size-1
// axes and merges neighbouring axes that every input walks as one (outer stride == inner
// stride * inner size), so a contiguous tensor plus a broadcast scalar becomes one flat axis
// and a transposed matrix stays two. walk_range then hands the body runs along the last axis,
// where the inner loop is a plain strided loop; a transposing layout is walked in square tiles
// instead (walk_tiles), so that each input cache line serves many output rows. Cost: a div/mod
// per axis per range start or tile, an odometer step per run; the element work is the body's.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "kernels/cpu/common.h"
#include "kernels/strided.h"

namespace tg::kernels::cpu::detail {

template <int N>
struct Walk {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t st[N][kMaxDims] = {};
  int64_t len() const { return shape[ndim - 1]; }        // elements per run
  int64_t step(int k) const { return st[k][ndim - 1]; }  // input k's stride along a run
};

// shape: the output shape (its strides are ignored); in[k]: input k's strides in that shape.
template <int N>
Walk<N> make_walk(const Strided& shape, const Strided* const (&in)[N]) {
  Walk<N> w;
  for (int d = 0; d < shape.ndim; ++d) {
    const int64_t n = shape.shape[d];
    if (n == 1) continue;
    bool merge = w.ndim > 0;
    for (int k = 0; k < N && merge; ++k) merge = w.st[k][w.ndim - 1] == in[k]->strides[d] * n;
    if (merge) {
      w.shape[w.ndim - 1] *= n;
      for (int k = 0; k < N; ++k) w.st[k][w.ndim - 1] = in[k]->strides[d];
    } else {
      w.shape[w.ndim] = n;
      for (int k = 0; k < N; ++k) w.st[k][w.ndim] = in[k]->strides[d];
      ++w.ndim;
    }
  }
  if (w.ndim == 0) {  // every axis had size 1: one element
    w.ndim = 1;
    w.shape[0] = 1;
  }
  return w;
}

// body(out_pos, off, count) for the runs covering output elements [e0, e1): the run's first
// output index, each input's offset of its first element (off[k]) and its length.
template <int N, typename Body>
void walk_range(const Walk<N>& w, int64_t e0, int64_t e1, Body& body) {
  if (e0 >= e1) return;
  const int last = w.ndim - 1;
  int64_t idx[kMaxDims] = {};
  int64_t off[N] = {};
  int64_t rem = e0;
  for (int d = last; d >= 0; --d) {
    idx[d] = rem % w.shape[d];
    rem /= w.shape[d];
    for (int k = 0; k < N; ++k) off[k] += idx[d] * w.st[k][d];
  }
  int64_t e = e0;
  while (true) {
    const int64_t cnt = std::min(w.shape[last] - idx[last], e1 - e);
    body(e, static_cast<const int64_t*>(off), cnt);
    e += cnt;
    if (e >= e1) return;
    // The run ended at the end of the last axis (else e would be e1): carry into the outer axes.
    for (int k = 0; k < N; ++k) off[k] -= idx[last] * w.st[k][last];
    idx[last] = 0;
    for (int d = last - 1; d >= 0; --d) {
      if (++idx[d] < w.shape[d]) {
        for (int k = 0; k < N; ++k) off[k] += w.st[k][d];
        break;
      }
      for (int k = 0; k < N; ++k) off[k] -= (w.shape[d] - 1) * w.st[k][d];
      idx[d] = 0;
    }
  }
}

// Edge of the square tiles of walk_tiles: a 64 x 64 tile reads 64 columns of input whose cache
// lines stay in L1 while the tile's 64 output row pieces are written.
inline constexpr int64_t kTileEdge = 64;

// True when an input walks the last axis with a stride > 1 but the axis before it with a smaller
// one, as a transpose does: row by row, every element would then come from a new cache line
// that is evicted before the next row needs it again (about 10x slower than a tiled walk).
template <int N>
bool wants_tiles(const Walk<N>& w) {
  if (w.ndim < 2) return false;
  for (int k = 0; k < N; ++k) {
    const int64_t along = std::abs(w.st[k][w.ndim - 1]), across = std::abs(w.st[k][w.ndim - 2]);
    if (along > 1 && across < along) return true;
  }
  return false;
}

// The walk in square tiles of the last two axes (the axes before them in order): the body gets
// runs of at most kTileEdge elements, a tile's rows one after another. Work units are whole
// tiles, spread over the threads in equal slices above kParallelMin elements.
template <int N, typename Body>
void walk_tiles(const Walk<N>& w, int64_t numel, Body& body) {
  const int last = w.ndim - 1, row = w.ndim - 2;
  const int64_t R = w.shape[row], C = w.shape[last];
  const int64_t tr = (R + kTileEdge - 1) / kTileEdge, tc = (C + kTileEdge - 1) / kTileEdge;
  const int64_t units = numel / (R * C) * tr * tc;
  auto run = [&](int64_t u0, int64_t u1) {
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t o = u / (tr * tc), i0 = (u / tc) % tr * kTileEdge, j0 = u % tc * kTileEdge;
      const int64_t i1 = std::min(R, i0 + kTileEdge), cnt = std::min(kTileEdge, C - j0);
      int64_t off[N] = {};
      int64_t rem = o;
      for (int d = row - 1; d >= 0; --d) {
        const int64_t id = rem % w.shape[d];
        rem /= w.shape[d];
        for (int k = 0; k < N; ++k) off[k] += id * w.st[k][d];
      }
      for (int k = 0; k < N; ++k) off[k] += i0 * w.st[k][row] + j0 * w.st[k][last];
      for (int64_t i = i0; i < i1; ++i) {
        body((o * R + i) * C + j0, static_cast<const int64_t*>(off), cnt);
        for (int k = 0; k < N; ++k) off[k] += w.st[k][row];
      }
    }
  };
  if (numel < kParallelMin) {
    run(0, units);
    return;
  }
#pragma omp parallel
  {
    const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
    run(units * t / nt, units * (t + 1) / nt);
  }
}

// The whole walk; above kParallelMin elements each thread takes one equal slice of the output
// (slices cut across runs, so even one long reversed axis is shared). Transposing layouts go
// through walk_tiles instead.
template <int N, typename Body>
void walk(const Walk<N>& w, int64_t numel, Body body) {
  if (wants_tiles(w)) {
    walk_tiles(w, numel, body);
    return;
  }
  if (numel < kParallelMin) {
    walk_range(w, 0, numel, body);
    return;
  }
#pragma omp parallel
  {
    const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
    walk_range(w, numel * t / nt, numel * (t + 1) / nt, body);
  }
}

}  // namespace tg::kernels::cpu::detail
