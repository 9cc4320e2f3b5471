// Softmax, log-softmax, their backward passes and the fused cross-entropy, all along the last
// dim: the input is viewed as (rows, cols) with cols the last dim, made contiguous if needed.
#include "kernels/softmax.h"
#include "tensor/dispatch.h"
#include "tensor/ops.h"

namespace tg::ops {

namespace {

struct Rows {
  Tensor x;  // contiguous
  int64_t rows = 0, cols = 0;
};

Rows as_rows(const char* op, const Tensor& x) {
  detail::require_defined(op, x);
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
  Tensor out = empty(x.shape(), x.dtype(), x.device());
  TG_DISPATCH_FLOATING(x.dtype(), op, [&] {
    kernel(x.device(), r.x.data<scalar_t>(), r.rows, r.cols, out.data<scalar_t>());
  });
  return out;
}

template <typename Kernel>
Tensor rowwise2(const char* op, const Tensor& y, const Tensor& gy, Kernel kernel) {
  check_pair(op, y, gy);
  detail::same_device(op, y, gy);
  const Rows ry = as_rows(op, y), rg = as_rows(op, gy);
  Tensor out = empty(y.shape(), y.dtype(), y.device());
  TG_DISPATCH_FLOATING(y.dtype(), op, [&] {
    kernel(y.device(), ry.x.data<scalar_t>(), rg.x.data<scalar_t>(), ry.rows, ry.cols,
           out.data<scalar_t>());
  });
  return out;
}

void check_labels(const char* op, const Tensor& logits, const Tensor& labels) {
  detail::same_device(op, logits, labels);
  TG_CHECK(logits.dim() == 2 && is_floating(logits.dtype()), op,
           "logits must be a 2-d floating tensor (n, c), got ", dtype_name(logits.dtype()), " ",
           logits.shape_str());
  TG_CHECK(labels.dtype() == DType::i32 && labels.dim() == 1 && labels.size(0) == logits.size(0),
           op, "labels must be int32 of shape [", logits.size(0), "], got ",
           dtype_name(labels.dtype()), " ", labels.shape_str());
}

}  // namespace

#define TG_ROW_KERNEL(fn) \
  [](Device d, const auto* x, int64_t r, int64_t c, auto* y) { TG_KERNEL(d, fn, x, r, c, y); }
#define TG_ROW_KERNEL2(fn)                                                      \
  [](Device d, const auto* y, const auto* gy, int64_t r, int64_t c, auto* gx) { \
    TG_KERNEL(d, fn, y, gy, r, c, gx);                                          \
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
  const Device dev = logits.device();
  Tensor loss = empty({}, logits.dtype(), dev), probs = empty(logits.shape(), logits.dtype(), dev);
  TG_DISPATCH_FLOATING(logits.dtype(), "cross_entropy", [&] {
    if (dev.is_cuda()) {  // the loss stays on the device: reading it would synchronise
      TG_CUDA_KERNEL(cross_entropy, r.x.data<scalar_t>(), lab.data<int32_t>(), r.rows, r.cols,
                     probs.data<scalar_t>(), loss.data<scalar_t>());
    } else {
      *loss.data<scalar_t>() = kernels::cpu::cross_entropy(
          r.x.data<scalar_t>(), lab.data<int32_t>(), r.rows, r.cols, probs.data<scalar_t>());
    }
  });
  return {loss, probs};
}

Tensor cross_entropy_backward(const Tensor& probs, const Tensor& labels, const Tensor& gloss,
                              double scale) {
  check_labels("cross_entropy_backward", probs, labels);
  const Rows r = as_rows("cross_entropy_backward", probs);
  const Tensor lab = labels.detach().contiguous();
  const Device dev = probs.device();
  if (gloss.defined()) {
    detail::same_device("cross_entropy_backward", probs, gloss);
    TG_CHECK(gloss.numel() == 1 && gloss.dtype() == probs.dtype(), "cross_entropy_backward",
             "the loss gradient must be one ", dtype_name(probs.dtype()), " value, got ",
             dtype_name(gloss.dtype()), " ", gloss.shape_str());
  }
  Tensor g = empty(probs.shape(), probs.dtype(), dev);
  TG_DISPATCH_FLOATING(probs.dtype(), "cross_entropy_backward", [&] {
    if (dev.is_cuda()) {  // the upstream gradient is read on the device, never on the host
      TG_CUDA_KERNEL(cross_entropy_backward, r.x.data<scalar_t>(), lab.data<int32_t>(), r.rows,
                     r.cols, gloss.defined() ? gloss.data<scalar_t>() : nullptr,
                     static_cast<scalar_t>(scale), g.data<scalar_t>());
    } else {
      const double s = gloss.defined() ? scale * gloss.item<double>() : scale;
      kernels::cpu::cross_entropy_backward(r.x.data<scalar_t>(), lab.data<int32_t>(), r.rows,
                                           r.cols, static_cast<scalar_t>(s), g.data<scalar_t>());
    }
  });
  return g;
}

Tensor cross_entropy_backward(const Tensor& probs, const Tensor& labels, double scale) {
  return cross_entropy_backward(probs, labels, Tensor(), scale);
}

}  // namespace tg::ops
