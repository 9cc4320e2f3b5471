// The metric of the functional forms: accuracy (the others are inline in functional.h).
#include "nn/functional.h"

#include "tensor/ops.h"

namespace tg::nn::functional {

// mean(argmax(logits, 1) == labels): a metric, never differentiated.
Tensor accuracy(const Tensor& logits, const Tensor& labels) {
  return ops::accuracy(logits, labels);  // checks the shapes and dtypes, on any device
}

}  // namespace tg::nn::functional
