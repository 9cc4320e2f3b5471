// What the autograd tests share: a gradcheck that reports its message through doctest, and a
// tensor's values as floats for comparing with hand-computed lists.
#pragma once

#include <doctest/doctest.h>

#include <vector>

#include "autograd/gradcheck.h"
#include "tensor/tensor.h"

namespace tg::test {

inline void check_grad(const GradcheckFn& f, const std::vector<Tensor>& in) {
  GradcheckResult r = gradcheck(f, in);
  CHECK_MESSAGE(r.ok, r.message);
}

inline std::vector<float> vals(const Tensor& t) {
  return t.to_vector<float>();
}

}  // namespace tg::test
