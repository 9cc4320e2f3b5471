// cat and stack: the output is allocated once and each input copied into its slice
// (Tensor::copy_ through the copy kernel; on the GPU through a dim-first layout, see join);
// the backward hands each input its slice of the
// output's gradient (a view, no copy).
#include <string>

#include "autograd/functions.h"
#include "autograd/tape.h"

namespace tg {

namespace {

std::string shapes_str(const std::vector<Tensor>& ts) {
  std::string s;
  for (size_t i = 0; i < ts.size(); ++i)
    s += (i ? ", " : "") + (ts[i].defined() ? ts[i].shape_str() : std::string("undefined"));
  return s;
}

// Joins along dim of the (already equally ranked) inputs; `stacked`: each input is one slice
// of a new dim (select), else a run of slices (narrow).
Tensor join(const char* op, const std::vector<Tensor>& ts, int64_t dim, bool stacked) {
  TG_CHECK(!ts.empty(), op, "expects at least one tensor");
  for (size_t i = 0; i < ts.size(); ++i)
    TG_CHECK(ts[i].defined(), op, "tensor ", i, " is undefined");
  const Tensor& t0 = ts[0];
  const int64_t rank = t0.dim() + (stacked ? 1 : 0);
  TG_CHECK(rank >= 1, op, "cannot join 0-d tensors along a dim (shapes ", shapes_str(ts),
           "); use stack");
  TG_CHECK(dim >= -rank && dim < rank, op, "dim ", dim, " is out of range for ", rank,
           "-d output (shapes ", shapes_str(ts), ")");
  if (dim < 0) dim += rank;
  Shape shape = t0.shape();
  int64_t joined = 0;
  for (size_t i = 0; i < ts.size(); ++i) {
    const Tensor& t = ts[i];
    TG_CHECK(t.dtype() == t0.dtype() && t.device() == t0.device(), op, "tensor ", i, " is ",
             dtype_name(t.dtype()), " on ", t.device().str(), ", tensor 0 ", dtype_name(t0.dtype()),
             " on ", t0.device().str());
    bool same = t.dim() == t0.dim();
    for (int64_t d = 0; same && d < t.dim(); ++d)
      same = t.size(d) == t0.size(d) || (!stacked && d == dim);
    TG_CHECK(same, op, "shapes must match", stacked ? "" : " except in dim ",
             stacked ? std::string() : std::to_string(dim), ": ", shapes_str(ts));
    joined += stacked ? 1 : t.size(dim);
  }
  if (stacked)
    shape.insert(shape.begin() + dim, joined);
  else
    shape[dim] = joined;

  std::vector<int64_t> starts;
  Tensor out;
  {
    NoGrad guard;  // the raw view and copy methods refuse grad tensors otherwise
    // On the GPU a copy writes only contiguous destinations, and a slot along an inner dim is
    // strided. So there the joined dim goes first: `front` is the output with dim moved to the
    // front, contiguous, where every slot is one contiguous run; each input (viewed the same
    // way, a strided source the copy kernel reads) is copied into its run, and one more copy
    // puts the dims back in order. On the CPU (or when dim is 0) the slots are written directly.
    const bool via_front = t0.device().is_cuda() && dim > 0;
    std::vector<int64_t> to_front(static_cast<size_t>(rank)), back(static_cast<size_t>(rank));
    to_front[0] = dim;
    for (int64_t d = 0, k = 1; d < rank; ++d)
      if (d != dim) to_front[static_cast<size_t>(k++)] = d;
    for (int64_t d = 0; d < rank; ++d) back[static_cast<size_t>(to_front[size_t(d)])] = d;
    Shape front_shape;
    for (int64_t d : to_front) front_shape.push_back(shape[static_cast<size_t>(d)]);
    Tensor dst = empty(via_front ? front_shape : shape, t0.dtype(), t0.device());
    const int64_t at_dim = via_front ? 0 : dim;
    int64_t at = 0;
    for (const Tensor& t : ts) {
      starts.push_back(at);
      Tensor slot = stacked ? dst.select(at_dim, at) : dst.narrow(at_dim, at, t.size(dim));
      // A stacked input already has the slot's shape (the other dims, in order).
      slot.copy_(via_front && !stacked ? t.detach().permute(to_front) : t);
      at += stacked ? 1 : t.size(dim);
    }
    out = via_front ? dst.permute(back).contiguous() : dst;
  }
  bool any = false;
  for (const Tensor& t : ts) any = any || needs_grad({&t});
  if (!any) return out;
  std::vector<int64_t> lengths;
  for (const Tensor& t : ts) lengths.push_back(stacked ? 1 : t.size(dim));
  return tape().record(op, out, ts, [dim, stacked, starts, lengths](const Tensor& gy) {
    std::vector<Tensor> g;
    NoGrad guard;
    for (size_t i = 0; i < starts.size(); ++i)
      g.push_back(stacked ? gy.select(dim, starts[i]) : gy.narrow(dim, starts[i], lengths[i]));
    return g;
  });
}

}  // namespace

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  return join("cat", tensors, dim, false);
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  return join("stack", tensors, dim, true);
}

}  // namespace tg
