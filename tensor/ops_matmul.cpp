// matmul: op(a) @ op(b) through the device's GEMM (cuBLAS on CUDA). A 2-d view whose rows or
// columns are evenly spaced is handed to the GEMM as it is (a column-major view, like w.t(),
// becomes the transpose flag); only other layouts are copied first. An n-d a is flattened into
// rows.
#include "kernels/gemm.h"
#include "tensor/dispatch.h"
#include "tensor/ops.h"

namespace tg::ops {

namespace {

// A 2-d tensor as a row-major matrix S the GEMM can read: x = trans ? S^T : S, S's rows ld
// elements apart. `keep` holds a copy alive when one was needed.
struct Operand {
  Tensor keep;
  int64_t ld = 1;
  bool trans = false;
};

Operand as_operand(const Tensor& x) {
  const int64_t r = x.size(0), c = x.size(1), s0 = x.strides()[0], s1 = x.strides()[1];
  // Strides along a size-1 dim never matter.
  if ((c == 1 || s1 == 1) && (r == 1 || s0 >= std::max<int64_t>(c, 1)))
    return {x, r == 1 ? std::max<int64_t>(c, 1) : s0, false};
  if ((r == 1 || s0 == 1) && (c == 1 || s1 >= std::max<int64_t>(r, 1)))
    return {x, c == 1 ? std::max<int64_t>(r, 1) : s1, true};
  return {x.contiguous(), std::max<int64_t>(c, 1), false};
}

}  // namespace

Tensor matmul(const Tensor& a_in, const Tensor& b_in, bool trans_a, bool trans_b) {
  const Device dev = detail::same_device("matmul", a_in, b_in);
  TG_CHECK(a_in.dtype() == b_in.dtype(), "matmul", "dtypes differ: ", dtype_name(a_in.dtype()), " ",
           a_in.shape_str(), " @ ", dtype_name(b_in.dtype()), " ", b_in.shape_str());
  TG_CHECK(b_in.dim() == 2 && (a_in.dim() == 2 || (a_in.dim() > 2 && !trans_a)), "matmul",
           "expects 2-d operands (a may be n-d when not transposed), got ", a_in.shape_str(), " @ ",
           b_in.shape_str(), " (trans_a=", trans_a ? "true" : "false",
           ", trans_b=", trans_b ? "true" : "false", ")");
  Tensor a = a_in.detach(), b = b_in.detach();
  if (a.dim() > 2) a = a.reshape({-1, a.size(-1)});
  const int64_t m = a.size(trans_a ? 1 : 0), k = a.size(trans_a ? 0 : 1);
  const int64_t kb = b.size(trans_b ? 1 : 0), n = b.size(trans_b ? 0 : 1);
  TG_CHECK(k == kb, "matmul", "inner dimensions differ: ", a_in.shape_str(), " @ ",
           b_in.shape_str(), " (trans_a=", trans_a ? "true" : "false",
           ", trans_b=", trans_b ? "true" : "false", ": ", k, " vs ", kb, ")");
  Shape out_shape(a_in.shape().begin(), a_in.shape().end() - 1);
  if (trans_a) out_shape = {m};
  out_shape.push_back(n);
  Tensor out = empty(out_shape, a.dtype(), dev);
  if (m == 0 || n == 0) return out;
  if (k == 0) return out.fill_(0);
  const Operand oa = as_operand(a), ob = as_operand(b);
  TG_DISPATCH_FLOATING(a.dtype(), "matmul", [&] {
    TG_KERNEL(dev, gemm, trans_a != oa.trans, trans_b != ob.trans, m, n, k, scalar_t(1),
              oa.keep.data<scalar_t>(), oa.ld, ob.keep.data<scalar_t>(), ob.ld, scalar_t(0),
              out.data<scalar_t>(), n);
  });
  return out;
}

}  // namespace tg::ops
