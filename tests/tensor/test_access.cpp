// Element access: item, at, data<T> and to_vector, with their checks.
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "tensor/creation.h"
#include "test_util.h"

using namespace tg;

TEST_CASE("item reads a one-element tensor of any shape and converts") {
  CHECK(scalar_tensor(2.5).item<float>() == 2.5f);
  CHECK(full({1, 1}, 7, DType::i32).item<int32_t>() == 7);
  CHECK(full({1}, 3.9, DType::f64).item<int64_t>() == 3);
  Tensor a = arange(5);
  CHECK(a.select(0, 3).item<double>() == 3.0);
  std::string msg = test::error_of([&] { a.item<float>(); });
  CHECK(test::has(msg, "Tensor::item"));
  CHECK(test::has(msg, "[5]"));
}

TEST_CASE("at is bounds-checked and honours strides and offset") {
  Tensor a = arange(12).view({3, 4});
  CHECK(a.at<float>({2, 1}) == 9);
  CHECK(a.at<float>({-1, -1}) == 11);
  Tensor v = a.t().narrow(0, 1, 2);  // (2, 3): v[i][j] = a[j][i + 1]
  CHECK(v.at<float>({1, 2}) == 10);
  std::string msg = test::error_of([&] { a.at<float>({3, 0}); });
  CHECK(test::has(msg, "Tensor::at"));
  CHECK(test::has(msg, "index 3"));
  CHECK(test::has(test::error_of([&] { a.at<float>({1}); }), "1 indices"));
}

TEST_CASE("data<T> checks the dtype and points at the view's first element") {
  Tensor a = arange(6);
  CHECK(a.data<float>()[2] == 2);
  CHECK(a.narrow(0, 2, 3).data<float>()[0] == 2);
  std::string msg = test::error_of([&] { a.data<double>(); });
  CHECK(test::has(msg, "float64"));
  CHECK(test::has(msg, "float32"));
  CHECK_THROWS_AS(a.data<int32_t>(), Error);
}

TEST_CASE("an undefined tensor says so instead of crashing") {
  Tensor u;
  CHECK_FALSE(u.defined());
  CHECK(test::has(test::error_of([&] { u.shape(); }), "undefined"));
  CHECK(test::has(test::error_of([&] { u.numel(); }), "undefined"));
}

TEST_CASE("to_vector reads any layout in row-major order") {
  Tensor a = arange(6).view({2, 3}).t();
  CHECK(a.to_vector<int32_t>() == std::vector<int32_t>{0, 3, 1, 4, 2, 5});
  CHECK(from_vector<float>({2}).expand({3}).to_vector<double>() == std::vector<double>{2, 2, 2});
}
