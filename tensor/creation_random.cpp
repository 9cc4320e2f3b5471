// Random tensors. Every element is drawn from the generator one after another in row-major
// order, on the calling thread, so a seed fixes the whole tensor on every machine and for any
// number of OpenMP threads.
#include <utility>

#include "tensor/creation.h"

namespace tg {

namespace {

// Fills a new floating tensor with f() per element, drawn in double then rounded.
template <typename F>
Tensor fill_with(const char* op, const Shape& shape, DType dtype, F f) {
  Tensor t = empty(shape, dtype);
  TG_DISPATCH_FLOATING(dtype, op, [&] {
    scalar_t* p = t.data<scalar_t>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<scalar_t>(f());
  });
  return t;
}

}  // namespace

Tensor uniform(const Shape& shape, double low, double high, Generator& gen, DType dtype) {
  TG_CHECK(low <= high, "uniform", "low ", low, " is greater than high ", high);
  return fill_with("uniform", shape, dtype, [&] { return low + (high - low) * gen.uniform(); });
}
Tensor rand(const Shape& shape, Generator& gen, DType dtype) {
  return fill_with("rand", shape, dtype, [&] { return gen.uniform(); });
}
Tensor rand(const Shape& shape, DType dtype) {
  return rand(shape, default_generator(), dtype);
}
Tensor randn(const Shape& shape, Generator& gen, DType dtype) {
  return fill_with("randn", shape, dtype, [&] { return gen.normal(); });
}
Tensor randn(const Shape& shape, DType dtype) {
  return randn(shape, default_generator(), dtype);
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, Generator& gen) {
  TG_CHECK(low < high && low >= INT32_MIN && high - 1 <= INT32_MAX, "randint", "invalid range [",
           low, ", ", high, ") for int32");
  Tensor t = empty(shape, DType::i32);
  int32_t* p = t.data<int32_t>();
  for (int64_t i = 0; i < t.numel(); ++i)
    p[i] = static_cast<int32_t>(low + gen.randint(high - low));
  return t;
}

// Fisher-Yates, from the back: position i takes a uniformly chosen element of [0, i].
Tensor randperm(int64_t n, Generator& gen) {
  TG_CHECK(n >= 0 && n <= INT32_MAX, "randperm", "n = ", n, " is out of range for int32");
  Tensor t = empty({n}, DType::i32);
  int32_t* p = t.data<int32_t>();
  for (int64_t i = 0; i < n; ++i) p[i] = static_cast<int32_t>(i);
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[i], p[gen.randint(i + 1)]);
  return t;
}

}  // namespace tg
