// Creating tensors from constants, ranges and host data. All allocate a new contiguous tensor
// and fill it through fill_ or a plain loop over host values.
#include "tensor/creation.h"

#include <cmath>

namespace tg {

Tensor zeros(const Shape& shape, DType dtype, Device device) {
  return full(shape, 0.0, dtype, device);
}
Tensor ones(const Shape& shape, DType dtype, Device device) {
  return full(shape, 1.0, dtype, device);
}
Tensor full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}
Tensor zeros_like(const Tensor& x) {
  return zeros(x.shape(), x.dtype(), x.device());
}
Tensor ones_like(const Tensor& x) {
  return ones(x.shape(), x.dtype(), x.device());
}
Tensor empty_like(const Tensor& x) {
  return empty(x.shape(), x.dtype(), x.device());
}
Tensor full_like(const Tensor& x, double value) {
  return full(x.shape(), value, x.dtype(), x.device());
}

Tensor arange(double end, DType dtype) {
  return arange(0, end, 1, dtype);
}

Tensor arange(double start, double end, double step, DType dtype) {
  TG_CHECK(step != 0 && std::isfinite(start) && std::isfinite(end) && std::isfinite(step), "arange",
           "invalid range start=", start, " end=", end, " step=", step);
  const int64_t n = std::max<int64_t>(0, static_cast<int64_t>(std::ceil((end - start) / step)));
  Tensor t = empty({n}, dtype);
  TG_DISPATCH_ALL(dtype, "arange", [&] {
    scalar_t* p = t.data<scalar_t>();
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<scalar_t>(start + i * step);
  });
  return t;
}

template <typename T>
Tensor from_blob(const T* data, const Shape& shape) {
  Tensor t = empty(shape, dtype_of<T>());
  T* p = t.data<T>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = data[i];
  return t;
}

template <typename T>
Tensor from_vector(const std::vector<T>& values, Shape shape) {
  const auto n = static_cast<int64_t>(values.size());
  if (shape.empty()) shape = {n};
  TG_CHECK(shape_numel(shape) == n, "from_vector", n, " values do not fill shape ",
           shape_str(shape), " (", shape_numel(shape), " elements)");
  return from_blob(values.data(), shape);
}

template Tensor from_blob<float>(const float*, const Shape&);
template Tensor from_blob<double>(const double*, const Shape&);
template Tensor from_blob<int32_t>(const int32_t*, const Shape&);
template Tensor from_blob<uint8_t>(const uint8_t*, const Shape&);
template Tensor from_vector<float>(const std::vector<float>&, Shape);
template Tensor from_vector<double>(const std::vector<double>&, Shape);
template Tensor from_vector<int32_t>(const std::vector<int32_t>&, Shape);
template Tensor from_vector<uint8_t>(const std::vector<uint8_t>&, Shape);

Tensor tensor(std::initializer_list<double> values, DType dtype) {
  return from_vector(std::vector<double>(values)).to(dtype);
}

Tensor tensor(std::initializer_list<std::initializer_list<double>> rows, DType dtype) {
  const int64_t n = static_cast<int64_t>(rows.size());
  const int64_t m = n ? static_cast<int64_t>(rows.begin()->size()) : 0;
  std::vector<double> flat;
  int64_t r = 0;
  for (const auto& row : rows) {
    TG_CHECK(static_cast<int64_t>(row.size()) == m, "tensor", "ragged rows: row ", r, " has ",
             row.size(), " values but row 0 has ", m);
    flat.insert(flat.end(), row.begin(), row.end());
    ++r;
  }
  return from_vector(flat, {n, m}).to(dtype);
}

Tensor scalar_tensor(double value, DType dtype) {
  return full({}, value, dtype);
}

}  // namespace tg
