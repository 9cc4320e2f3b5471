// gradcheck: compares the tape's gradients with central finite differences, over the full
// Jacobian, in double precision.
//
//   auto a = tg::randn({3, 4}, gen, tg::DType::f64).requires_grad_();
//   auto r = tg::gradcheck([](auto& in) { return tg::exp(in[0]); }, {a});
//   CHECK_MESSAGE(r.ok, r.message);
//
// For each output element j it runs backward with a one-hot output gradient (row j of the
// analytic Jacobian), and for each input element i it evaluates f at x_i +- eps (column i of
// the numeric one). Inputs must be float64 leaves that require grad. Near a kink (relu at 0)
// finite differences are wrong by construction: keep test inputs at least 10*eps away.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace tg {

struct GradcheckResult {
  bool ok = true;
  double max_abs_error = 0;
  std::string message;  // the first mismatch: input, element, analytic and numeric values
};

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-6;
  double rtol = 1e-4;
};

using GradcheckFn = std::function<Tensor(const std::vector<Tensor>&)>;

GradcheckResult gradcheck(const GradcheckFn& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& opt = {});

}  // namespace tg
