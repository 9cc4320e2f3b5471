// Comparing tensors, for tests and checks: allclose, equal and max_abs_diff. Values are read
// as doubles (exact for every dtype here), so these work across layouts and on any dtype.
#include <cmath>

#include "tensor/ops.h"

namespace tg {

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  const auto va = a.to_vector<double>(), vb = b.to_vector<double>();
  for (size_t i = 0; i < va.size(); ++i) {
    if (va[i] == vb[i]) continue;  // also equal infinities
    if (!(std::abs(va[i] - vb[i]) <= atol + rtol * std::abs(vb[i]))) return false;  // NaN: false
  }
  return true;
}

bool equal(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  return a.to_vector<double>() == b.to_vector<double>();
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  const Shape s = broadcast_shapes("max_abs_diff", a.shape(), b.shape());
  const auto va = a.detach().expand(s).to_vector<double>();
  const auto vb = b.detach().expand(s).to_vector<double>();
  double m = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    const double d = std::abs(va[i] - vb[i]);
    if (std::isnan(d)) return d;
    m = std::max(m, d);
  }
  return m;
}

}  // namespace tg
