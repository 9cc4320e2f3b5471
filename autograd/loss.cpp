// Differentiable softmax, log_softmax and the losses. cross_entropy is fused: its forward keeps
// the softmax probabilities, so the backward is one pass, (probs - onehot) / n.
#include "autograd/functions.h"
#include "autograd/tape.h"
#include "tensor/ops.h"

namespace tg {

Tensor softmax(const Tensor& x) {
  Tensor out = ops::softmax(x);
  if (!needs_grad({&x})) return out;
  Tensor sy = out.detach();
  return tape().record("softmax", out, {x}, [sy](const Tensor& gy) {
    return std::vector<Tensor>{ops::softmax_backward(sy, gy)};
  });
}

Tensor log_softmax(const Tensor& x) {
  Tensor out = ops::log_softmax(x);
  if (!needs_grad({&x})) return out;
  Tensor sy = out.detach();
  return tape().record("log_softmax", out, {x}, [sy](const Tensor& gy) {
    return std::vector<Tensor>{ops::log_softmax_backward(sy, gy)};
  });
}

Tensor cross_entropy(const Tensor& logits, const Tensor& labels) {
  TG_CHECK(!labels.requires_grad(), "cross_entropy", "labels cannot require grad");
  auto [loss, probs] = ops::cross_entropy(logits, labels);
  if (!needs_grad({&logits})) return loss;
  Tensor sl = labels.detach();
  double n = static_cast<double>(logits.size(0));
  return tape().record("cross_entropy", loss, {logits},
                       [probs = probs, sl, n](const Tensor& gy) -> std::vector<Tensor> {
                         return {ops::cross_entropy_backward(probs, sl, gy.detach(), 1.0 / n)};
                       });
}

Tensor label_smoothing_cross_entropy(const Tensor& logits, const Tensor& labels,
                                     double label_smoothing) {
  TG_CHECK(label_smoothing >= 0 && label_smoothing <= 1, "label_smoothing_cross_entropy",
           "label_smoothing must be in [0, 1], got ", label_smoothing);
  if (label_smoothing == 0) return cross_entropy(logits, labels);
  // torch.nn.functional.cross_entropy(label_smoothing=eps), mean reduction:
  //   (1 - eps) * mean_i(-logp[i, y_i]) + eps * mean_i(mean_c(-logp[i, c]))
  // The second term is the mean of -log_softmax over all n * c elements. Composed of
  // differentiable ops that run on every device, so the backward needs no node of its own.
  Tensor smooth = neg(mean(log_softmax(logits)));
  if (label_smoothing == 1) return smooth;
  return add(mul(cross_entropy(logits, labels), 1 - label_smoothing), mul(smooth, label_smoothing));
}

Tensor nll_loss(const Tensor& logp, const Tensor& labels) {
  TG_CHECK(logp.dim() == 2, "nll_loss", "expects (n, c) log-probabilities, got ", logp.shape_str());
  TG_CHECK(labels.dtype() == DType::i32 && labels.dim() == 1 && labels.size(0) == logp.size(0),
           "nll_loss", "labels must be int32 of shape [", logp.size(0), "], got ",
           labels.shape_str(), " ", dtype_name(labels.dtype()));
  // -mean(logp[i, y_i]) through gather, whose adjoint is a scatter into zeros.
  Tensor idx = labels.reshape({-1, 1});
  Tensor picked;
  {
    NoGrad guard;
    picked = logp.gather(1, idx);
  }
  if (needs_grad({&logp})) {
    Shape s = logp.shape();
    Tensor si = idx.detach();
    picked = tape().record("gather", picked, {logp}, [s, si](const Tensor& gy) {
      Tensor g = ops::scatter_add(gy, s, 1, si);
      return std::vector<Tensor>{g};
    });
  }
  return neg(mean(picked));
}

Tensor mse(const Tensor& pred, const Tensor& target) {
  TG_CHECK(pred.shape() == target.shape(), "mse", "pred of shape ", pred.shape_str(),
           " and target of shape ", target.shape_str(), " differ (no broadcasting in a loss)");
  Tensor d = sub(pred, target);
  return mean(mul(d, d));
}

}  // namespace tg
