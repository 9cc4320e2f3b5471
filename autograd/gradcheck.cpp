// gradcheck: the analytic Jacobian (one backward per output element, with a one-hot output
// gradient) against the numeric one (central differences per input element), in float64.
#include "autograd/gradcheck.h"

#include <cmath>
#include <sstream>

#include "autograd/tape.h"
#include "tensor/creation.h"

namespace tg {

GradcheckResult gradcheck(const GradcheckFn& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& opt) {
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    TG_CHECK(x.defined() && x.dtype() == DType::f64 && x.requires_grad() && x.is_leaf() &&
                 x.is_contiguous(),
             "gradcheck", "input ", i, " must be a contiguous float64 leaf that requires grad");
  }
  GradcheckResult r;
  // The output, once, to learn its size; then one backward per output element.
  Tensor y0;
  {
    NoGrad guard;
    y0 = f(inputs).contiguous();
  }
  TG_CHECK(y0.dtype() == DType::f64, "gradcheck", "f must return float64, got ",
           dtype_name(y0.dtype()));
  const int64_t ny = y0.numel();
  std::vector<std::vector<double>> analytic(inputs.size());  // [input][j * n_i + k]
  for (size_t i = 0; i < inputs.size(); ++i) analytic[i].assign(ny * inputs[i].numel(), 0.0);
  for (int64_t j = 0; j < ny; ++j) {
    for (const Tensor& x : inputs) x.impl()->grad = Tensor();
    Tensor y = f(inputs);
    if (!y.requires_grad()) break;  // y does not depend on the inputs: all zeros
    Tensor onehot = zeros(y.shape(), DType::f64);
    onehot.data<double>()[j] = 1.0;  // y is fresh from f: treat its row-major order as given
    backward(y, onehot);
    for (size_t i = 0; i < inputs.size(); ++i) {
      Tensor g = inputs[i].grad();
      if (!g.defined()) continue;
      Tensor gc = g.contiguous();
      for (int64_t k = 0; k < gc.numel(); ++k)
        analytic[i][j * gc.numel() + k] = gc.data<double>()[k];
    }
  }
  for (const Tensor& x : inputs) x.impl()->grad = Tensor();

  NoGrad guard;
  for (size_t i = 0; i < inputs.size(); ++i) {
    double* px = inputs[i].data<double>();
    const int64_t n = inputs[i].numel();
    for (int64_t k = 0; k < n; ++k) {
      const double saved = px[k];
      px[k] = saved + opt.eps;
      Tensor yp = f(inputs).clone();  // a copy: f may return a view of x
      px[k] = saved - opt.eps;
      Tensor ym = f(inputs).clone();
      px[k] = saved;
      for (int64_t j = 0; j < ny; ++j) {
        double num = (yp.data<double>()[j] - ym.data<double>()[j]) / (2 * opt.eps);
        double ana = analytic[i][j * n + k];
        double err = std::abs(num - ana);
        r.max_abs_error = std::max(r.max_abs_error, err);
        if (r.ok && !(err <= opt.atol + opt.rtol * std::abs(num))) {
          r.ok = false;
          std::ostringstream os;
          os << "gradcheck: input " << i << " element " << k << ", output element " << j
             << ": analytic " << ana << " vs numeric " << num << " (error " << err << ")";
          r.message = os.str();
        }
      }
    }
  }
  return r;
}

}  // namespace tg
