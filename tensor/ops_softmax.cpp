// Softmax, log-softmax, their backward passes and the fused cross-entropy, all along the last
// dim: the input is viewed as (rows, cols) with cols the last dim, made contiguous if needed.
#include "kernels/softmax.h"
#include "tensor/ops.h"

namespace tg::ops {

namespace {

struct Rows {
  Tensor x;  // contiguous
  int64_t rows = 0, cols = 0;
};

Rows as_rows(const char* op, const Tensor& x) {
  detail::require_cpu(op, x);
  TG_CHECK(x.dim() >= 1, op, "expects at least 1 dim, got shape ", x.shape_str());
  TG_CHECK(is_floating(x.dtype()), op, "expects a floating tensor, got ", dtype_name(x.dtype()));
  Rows r{x.detach().contiguous(), 0, x.size(-1)};
  r.rows = r.cols ? x.numel() / r.cols : 0;
  return r;
}

// y (the forward output) and gy must agree in shape and dtype.
void check_pair(const char* op, const Tensor& y, const Tensor& gy) {
  TG_CHECK(y.shape() == gy.shape() && y.dtype() == gy.dtype(), op, "y ", dtype_name(y.dtype()), " ",
           y.shape_str(), " and gy ", dtype_name(gy.dtype()), " ", gy.shape_str(),
           " must have the same shape and dtype");
}

template <typename Kernel>
Tensor rowwise(const char* op, const Tensor& x, Kernel kernel) {
  const Rows r = as_rows(op, x);
  Tensor out = empty(x.shape(), x.dtype());
  TG_DISPATCH_FLOATING(x.dtype(), op,
                       [&] { kernel(r.x.data<scalar_t>(), r.rows, r.cols, out.data<scalar_t>()); });
  return out;
}

template <typename Kernel>
Tensor rowwise2(const char* op, const Tensor& y, const Tensor& gy, Kernel kernel) {
  check_pair(op, y, gy);
  const Rows ry = as_rows(op, y), rg = as_rows(op, gy);
  Tensor out = empty(y.shape(), y.dtype());
  TG_DISPATCH_FLOATING(y.dtype(), op, [&] {
    kernel(ry.x.data<scalar_t>(), rg.x.data<scalar_t>(), ry.rows, ry.cols, out.data<scalar_t>());
  });
  return out;
}

void check_labels(const char* op, const Tensor& logits, const Tensor& labels) {
  detail::require_cpu(op, labels);
  TG_CHECK(logits.dim() == 2 && is_floating(logits.dtype()), op,
           "logits must be a 2-d floating tensor (n, c), got ", dtype_name(logits.dtype()), " ",
           logits.shape_str());
  TG_CHECK(labels.dtype() == DType::i32 && labels.dim() == 1 && labels.size(0) == logits.size(0),
           op, "labels must be int32 of shape [", logits.size(0), "], got ",
           dtype_name(labels.dtype()), " ", labels.shape_str());
}

}  // namespace

#define TG_ROW_KERNEL(fn) \
  [](const auto* x, int64_t r, int64_t c, auto* y) { kernels::cpu::fn(x, r, c, y); }
#define TG_ROW_KERNEL2(fn)                                            \
  [](const auto* y, const auto* gy, int64_t r, int64_t c, auto* gx) { \
    kernels::cpu::fn(y, gy, r, c, gx);                                \
  }

Tensor softmax(const Tensor& x) {
  return rowwise("softmax", x, TG_ROW_KERNEL(softmax));
}
Tensor log_softmax(const Tensor& x) {
  return rowwise("log_softmax", x, TG_ROW_KERNEL(log_softmax));
}
Tensor softmax_backward(const Tensor& y, const Tensor& gy) {
  return rowwise2("softmax_backward", y, gy, TG_ROW_KERNEL2(softmax_backward));
}
Tensor log_softmax_backward(const Tensor& y, const Tensor& gy) {
  return rowwise2("log_softmax_backward", y, gy, TG_ROW_KERNEL2(log_softmax_backward));
}

std::pair<Tensor, Tensor> cross_entropy(const Tensor& logits, const Tensor& labels) {
  check_labels("cross_entropy", logits, labels);
  const Rows r = as_rows("cross_entropy", logits);
  const Tensor lab = labels.detach().contiguous();
  Tensor loss = empty({}, logits.dtype()), probs = empty(logits.shape(), logits.dtype());
  TG_DISPATCH_FLOATING(logits.dtype(), "cross_entropy", [&] {
    *loss.data<scalar_t>() = kernels::cpu::cross_entropy(r.x.data<scalar_t>(), lab.data<int32_t>(),
                                                         r.rows, r.cols, probs.data<scalar_t>());
  });
  return {loss, probs};
}

Tensor cross_entropy_backward(const Tensor& probs, const Tensor& labels, double scale) {
  check_labels("cross_entropy_backward", probs, labels);
  const Rows r = as_rows("cross_entropy_backward", probs);
  const Tensor lab = labels.detach().contiguous();
  Tensor g = empty(probs.shape(), probs.dtype());
  TG_DISPATCH_FLOATING(probs.dtype(), "cross_entropy_backward", [&] {
    kernels::cpu::cross_entropy_backward(r.x.data<scalar_t>(), lab.data<int32_t>(), r.rows, r.cols,
                                         static_cast<scalar_t>(scale), g.data<scalar_t>());
  });
  return g;
}

}  // namespace tg::ops
