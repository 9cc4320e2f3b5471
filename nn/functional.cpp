// The metric of the functional forms: accuracy (the others are inline in functional.h).
#include "nn/functional.h"

#include <vector>

#include "tensor/creation.h"
#include "tensor/grad_mode.h"
#include "tensor/ops.h"

namespace tg::nn::functional {

// mean(argmax(logits, 1) == labels), computed on the host: a metric, never differentiated.
Tensor accuracy(const Tensor& logits, const Tensor& labels) {
  const char* op = "accuracy";
  TG_CHECK(logits.defined() && labels.defined(), op, "undefined input");
  TG_CHECK(logits.dim() == 2 && logits.size(1) > 0, op,
           "logits must be (n, classes) with classes > 0, got shape ", logits.shape_str());
  TG_CHECK(labels.dtype() == DType::i32, op, "labels must be int32, got ",
           dtype_name(labels.dtype()));
  TG_CHECK(labels.dim() == 1 && labels.size(0) == logits.size(0), op, "labels of shape ",
           labels.shape_str(), " do not match logits of shape ", logits.shape_str());
  TG_CHECK(logits.size(0) > 0, op, "empty batch: logits of shape ", logits.shape_str());
  NoGrad guard;
  std::vector<int32_t> pred = argmax(logits.detach(), 1).to_vector<int32_t>();
  std::vector<int32_t> want = labels.detach().to_vector<int32_t>();
  int64_t hits = 0;
  for (size_t i = 0; i < pred.size(); ++i) hits += pred[i] == want[i];
  return scalar_tensor(static_cast<double>(hits) / static_cast<double>(pred.size()), DType::f32);
}

}  // namespace tg::nn::functional
