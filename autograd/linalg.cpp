// Differentiable matmul and linear. For C = A @ B: dA = dC @ B^T and dB = A^T @ dC, each one
// GEMM with a transpose flag (no transposed copies are made).
#include "autograd/functions.h"
#include "autograd/tape.h"
#include "tensor/ops.h"

namespace tg {

namespace {

// x as a 2-d matrix of rows (its leading dims flattened).
Tensor as_rows(const Tensor& x) {
  return x.dim() == 2 ? x : x.reshape({-1, x.size(-1)});
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  TG_CHECK(a.dim() >= 1 && b.dim() == 2, "matmul", "expects a (..., k) @ (k, n), got ",
           a.shape_str(), " @ ", b.shape_str());
  Tensor out = ops::matmul(a, b);
  if (!needs_grad({&a, &b})) return out;
  Tensor sa = a.detach(), sb = b.detach();
  bool need_a = a.requires_grad(), need_b = b.requires_grad();
  return tape().record("matmul", out, {a, b}, [=](const Tensor& gy) -> std::vector<Tensor> {
    Tensor ga, gb;
    if (need_a) ga = ops::matmul(gy, sb, false, true).reshape(sa.shape());
    if (need_b) gb = ops::matmul(as_rows(sa), as_rows(gy), true, false);
    return {ga, gb};
  });
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  TG_CHECK(w.dim() == 2, "linear", "weight must be 2-d (out, in), got ", w.shape_str());
  TG_CHECK(x.dim() >= 1 && x.size(-1) == w.size(1), "linear", "input of shape ", x.shape_str(),
           " does not match weight of shape ", w.shape_str(), " (in_features=", w.size(1), ")");
  if (b.defined())
    TG_CHECK(b.dim() == 1 && b.size(0) == w.size(0), "linear", "bias of shape ", b.shape_str(),
             " does not match weight of shape ", w.shape_str());
  Tensor out = ops::matmul(x, w, false, true);
  if (b.defined()) out = ops::binary(BinaryOp::add, out, b);
  if (!needs_grad({&x, &w, &b})) return out;
  Tensor sx = x.detach(), sw = w.detach();
  bool need_x = x.requires_grad(), need_w = w.requires_grad();
  bool need_b = b.defined() && b.requires_grad();
  return tape().record("linear", out, {x, w, b}, [=](const Tensor& gy) -> std::vector<Tensor> {
    Tensor gx, gw, gb;
    Tensor g2 = as_rows(gy);
    if (need_x) gx = ops::matmul(gy, sw).reshape(sx.shape());    // (.., out) @ (out, in)
    if (need_w) gw = ops::matmul(g2, as_rows(sx), true, false);  // (out, rows) @ (rows, in)
    if (need_b) gb = ops::reduce(ReduceOp::sum, g2, {0}, false);
    return {gx, gw, gb};
  });
}

}  // namespace tg
