// Creation: constants, ranges, host data and nested braces, against hand-written values.
#include <doctest/doctest.h>

#include <vector>

#include "tensor/creation.h"
#include "test_util.h"

using namespace tg;

TEST_CASE("zeros, ones and full have the shape, dtype and values asked for") {
  Tensor z = zeros({2, 3});
  CHECK(z.shape() == Shape{2, 3});
  CHECK(z.dtype() == DType::f32);
  CHECK(z.is_contiguous());
  CHECK(z.strides() == std::vector<int64_t>{3, 1});
  CHECK(z.to_vector<float>() == std::vector<float>(6, 0.0f));
  CHECK(ones({4}, DType::i32).to_vector<int32_t>() == std::vector<int32_t>{1, 1, 1, 1});
  Tensor f = full({2, 2}, 2.5, DType::f64);
  CHECK(f.dtype() == DType::f64);
  CHECK(f.to_vector<double>() == std::vector<double>{2.5, 2.5, 2.5, 2.5});
  CHECK(full({3}, 7, DType::u8).to_vector<int32_t>() == std::vector<int32_t>{7, 7, 7});
  CHECK(zeros({0, 5}).numel() == 0);
}

TEST_CASE("the _like functions copy shape and dtype") {
  Tensor x = zeros({3, 1}, DType::f64);
  CHECK(ones_like(x).shape() == Shape{3, 1});
  CHECK(ones_like(x).dtype() == DType::f64);
  CHECK(full_like(x, 4).to_vector<double>() == std::vector<double>{4, 4, 4});
  CHECK(zeros_like(x).to_vector<double>() == std::vector<double>{0, 0, 0});
  CHECK(empty_like(x).shape() == x.shape());
}

TEST_CASE("arange counts ceil((end - start) / step) values") {
  CHECK(arange(5).to_vector<float>() == std::vector<float>{0, 1, 2, 3, 4});
  CHECK(arange(1, 2, 0.25, DType::f64).to_vector<double>() ==
        std::vector<double>{1, 1.25, 1.5, 1.75});
  CHECK(arange(0, 10, 3, DType::i32).to_vector<int32_t>() == std::vector<int32_t>{0, 3, 6, 9});
  CHECK(arange(5, 0, -2, DType::i32).to_vector<int32_t>() == std::vector<int32_t>{5, 3, 1});
  CHECK(arange(3, 1, 1).numel() == 0);
  CHECK(test::has(test::error_of([] { arange(0, 1, 0); }), "arange"));
}

TEST_CASE("from_vector fills the shape in row-major order and checks the count") {
  Tensor t = from_vector<int32_t>({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(t.dtype() == DType::i32);
  CHECK(t.at<int32_t>({1, 0}) == 4);
  CHECK(from_vector<float>({1, 2, 3}).shape() == Shape{3});  // 1-d by default
  std::string msg = test::error_of([] { from_vector<float>({1, 2, 3, 4, 5}, {2, 3}); });
  CHECK(test::has(msg, "from_vector"));
  CHECK(test::has(msg, "5 values"));
  CHECK(test::has(msg, "[2, 3]"));
  const uint8_t raw[4] = {9, 8, 7, 6};
  CHECK(from_blob(raw, {2, 2}).to_vector<int32_t>() == std::vector<int32_t>{9, 8, 7, 6});
}

TEST_CASE("tensor() from nested braces, and ragged rows are refused") {
  Tensor a = tensor({{1, 2, 3}, {4, 5, 6}});
  CHECK(a.shape() == Shape{2, 3});
  CHECK(a.dtype() == DType::f32);
  CHECK(a.at<float>({0, 2}) == 3);
  CHECK(a.at<float>({1, 1}) == 5);
  Tensor b = tensor({1.5, -2}, DType::f64);
  CHECK(b.shape() == Shape{2});
  CHECK(b.to_vector<double>() == std::vector<double>{1.5, -2});
  std::string msg = test::error_of([] { tensor({{1, 2, 3}, {4, 5}}); });
  CHECK(test::has(msg, "tensor"));
  CHECK(test::has(msg, "row 1 has 2"));
  Tensor s = scalar_tensor(3.5);
  CHECK(s.dim() == 0);
  CHECK(s.numel() == 1);
  CHECK(s.item<float>() == 3.5f);
}

TEST_CASE("negative sizes and too many dims are refused") {
  CHECK(test::has(test::error_of([] { empty({2, -1}); }), "negative size -1"));
  std::string msg = test::error_of([] { zeros(Shape(9, 1)); });
  CHECK(test::has(msg, "9 dims"));
  CHECK(test::has(msg, "at most 8"));
  CHECK_NOTHROW(zeros(Shape(8, 1)));
}
