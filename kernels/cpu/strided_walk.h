// The n-d index walk behind every elementwise kernel with non-contiguous inputs (internal).
//
// The output is contiguous in a shape; each of N inputs has its own strides in that shape (0 on
// a broadcast axis, possibly negative). make_walk first simplifies the problem: it drops size-1
// axes and merges neighbouring axes that every input walks as one (outer stride == inner
// stride * inner size), so a contiguous tensor plus a broadcast scalar becomes one flat axis
// and a transposed matrix stays two. walk_range then hands the body runs along the last axis,
// where the inner loop is a plain strided loop. Cost: one div/mod per axis per range start
// plus one odometer step per run; the element work is in the body.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>

#include "kernels/cpu/common.h"
#include "kernels/error.h"
#include "kernels/strided.h"

namespace tg::kernels::cpu::detail {

template <int N>
struct Walk {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t st[N][kMaxDims] = {};
  int64_t len() const { return shape[ndim - 1]; }     // elements per run
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
    for (int k = 0; k < N && merge; ++k)
      merge = w.st[k][w.ndim - 1] == in[k]->strides[d] * n;
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

// The whole walk; above kParallelMin elements each thread takes one equal slice of the output
// (slices cut across runs, so even one long reversed axis is shared).
template <int N, typename Body>
void walk(const Walk<N>& w, int64_t numel, Body body) {
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

inline void check_strided(const char* op, const Strided& s) {
  TG_CHECK(s.ndim >= 0 && s.ndim <= kMaxDims, op, "ndim ", s.ndim, " is outside [0, ", kMaxDims,
           "]");
  for (int d = 0; d < s.ndim; ++d)
    TG_CHECK(s.shape[d] >= 0, op, "negative size ", s.shape[d], " at dim ", d);
}

}  // namespace tg::kernels::cpu::detail
