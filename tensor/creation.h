// Creating tensors: constants, ranges, random values, and copies of host data.
//
//   auto a = tg::zeros({2, 3});                        // float32 on the CPU
//   auto b = tg::tensor({{1, 2, 3}, {4, 5, 6}});       // 2-d from nested braces
//   auto y = tg::from_vector<int32_t>({3, 1, 4}, {3}); // labels
//   tg::Generator gen(42);
//   auto w = tg::randn({784, 50}, gen);               // reproducible
#pragma once

#include <initializer_list>
#include <vector>

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace tg {

Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
Tensor ones(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
Tensor full(const Shape& shape, double value, DType dtype = DType::f32,
            Device device = Device::cpu());
Tensor zeros_like(const Tensor& x);
Tensor ones_like(const Tensor& x);
Tensor empty_like(const Tensor& x);
Tensor full_like(const Tensor& x, double value);

// [start, end) in steps of step; the count is ceil((end - start) / step).
Tensor arange(double end, DType dtype = DType::f32);
Tensor arange(double start, double end, double step, DType dtype = DType::f32);

// Uniform in [low, high), standard normal, integers in [low, high), a permutation of [0, n).
// Without a generator they draw from default_generator().
Tensor rand(const Shape& shape, Generator& gen, DType dtype = DType::f32);
Tensor rand(const Shape& shape, DType dtype = DType::f32);
Tensor uniform(const Shape& shape, double low, double high, Generator& gen,
               DType dtype = DType::f32);
Tensor randn(const Shape& shape, Generator& gen, DType dtype = DType::f32);
Tensor randn(const Shape& shape, DType dtype = DType::f32);
Tensor randint(int64_t low, int64_t high, const Shape& shape, Generator& gen);  // int32
Tensor randperm(int64_t n, Generator& gen);                                     // int32

// Copies of host data. The shape defaults to 1-d; its numel must match the data's size.
template <typename T>
Tensor from_vector(const std::vector<T>& values, Shape shape = {});
template <typename T>
Tensor from_blob(const T* data, const Shape& shape);  // copies shape_numel(shape) elements
Tensor tensor(std::initializer_list<double> values, DType dtype = DType::f32);
Tensor tensor(std::initializer_list<std::initializer_list<double>> rows, DType dtype = DType::f32);
Tensor scalar_tensor(double value, DType dtype = DType::f32);  // shape []

}  // namespace tg
