// Copies: clone, to(dtype), index_select, gather, fill_ and copy_ (broadcast, conversion,
// strided destinations, overlap).
#include <doctest/doctest.h>

#include <vector>

#include "tensor/creation.h"
#include "tensor/ops.h"
#include "test_util.h"

using namespace tg;
using F = std::vector<float>;

TEST_CASE("clone copies, contiguous of a contiguous tensor does not") {
  Tensor a = arange(4);
  Tensor c = a.clone();
  CHECK_FALSE(c.shares_storage(a));
  c.fill_(0);
  CHECK(a.to_vector<float>() == F{0, 1, 2, 3});
  Tensor s = arange(10).slice(0, 2, 6);  // contiguous with an offset
  CHECK(s.contiguous().impl() == s.impl());
}

TEST_CASE("to(dtype) converts and round-trips") {
  Tensor a = from_vector<float>({1.5f, -2.75f, 3.f});
  Tensor d = a.to(DType::f64);
  CHECK(d.dtype() == DType::f64);
  CHECK(d.to_vector<double>() == std::vector<double>{1.5, -2.75, 3});
  CHECK(equal(d.to(DType::f32), a));
  CHECK(a.to(DType::f32).impl() == a.impl());
  Tensor i = a.to(DType::i32);  // truncates toward zero
  CHECK(i.to_vector<int32_t>() == std::vector<int32_t>{1, -2, 3});
  Tensor u = from_vector<uint8_t>({0, 128, 255});
  CHECK(equal(u.to(DType::f32).to(DType::u8), u));
  Tensor t = arange(6).view({2, 3}).t().to(DType::f64);  // strided source
  CHECK(t.to_vector<double>() == std::vector<double>{0, 3, 1, 4, 2, 5});
}

TEST_CASE("index_select picks rows (dim 0) and columns (dim 1)") {
  Tensor a = arange(12).view({3, 4});
  Tensor idx = from_vector<int32_t>({2, 0, 2});
  Tensor r = a.index_select(0, idx);
  CHECK(r.shape() == Shape{3, 4});
  CHECK(r.to_vector<float>() == F{8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11});
  Tensor c = a.index_select(1, from_vector<int32_t>({3, 1}));
  CHECK(c.shape() == Shape{3, 2});
  CHECK(c.to_vector<float>() == F{3, 1, 7, 5, 11, 9});
  Tensor labels = from_vector<int32_t>({5, 6, 7});
  CHECK(labels.index_select(0, idx).to_vector<int32_t>() == std::vector<int32_t>{7, 5, 7});
}

TEST_CASE("index_select and gather report bad indices") {
  Tensor a = arange(12).view({3, 4});
  std::string msg = test::error_of([&] { a.index_select(0, from_vector<int32_t>({1, 3})); });
  CHECK(test::has(msg, "3"));
  CHECK(test::has(test::error_of([&] { a.index_select(0, from_vector<float>({1})); }), "int32"));
  msg = test::error_of([&] { a.gather(1, from_vector<int32_t>({0, 4, 1}, {3, 1})); });
  CHECK(test::has(msg, "4"));
  CHECK(test::has(test::error_of([&] {
                    a.gather(1, from_vector<int32_t>({0, 1}));
                  }),
                  "Tensor::gather"));
  CHECK(test::has(test::error_of([&] { a.index_select(2, from_vector<int32_t>({0})); }),
                  "Tensor::index_select"));
}

TEST_CASE("gather picks one element per row like torch.gather") {
  Tensor a = arange(12).view({3, 4});
  Tensor g = a.gather(1, from_vector<int32_t>({3, 0, 1, 2, 2, 2}, {3, 2}));
  CHECK(g.shape() == Shape{3, 2});
  CHECK(g.to_vector<float>() == F{3, 0, 5, 6, 10, 10});
  Tensor g0 = a.gather(0, from_vector<int32_t>({2, 1, 0, 0}, {1, 4}));
  CHECK(g0.to_vector<float>() == F{8, 5, 2, 3});
}

TEST_CASE("copy_ broadcasts, converts, writes through strided views and handles overlap") {
  Tensor dst = zeros({2, 3});
  dst.copy_(from_vector<double>({1, 2, 3}));  // broadcast over rows, f64 -> f32
  CHECK(dst.to_vector<float>() == F{1, 2, 3, 1, 2, 3});
  Tensor big = zeros({3, 3});
  big.t().copy_(arange(9).view({3, 3}));  // strided destination
  CHECK(big.to_vector<float>() == F{0, 3, 6, 1, 4, 7, 2, 5, 8});
  Tensor sq = arange(4).view({2, 2});
  sq.copy_(sq.t());  // overlapping source: reads the old values
  CHECK(sq.to_vector<float>() == F{0, 2, 1, 3});
  std::string msg = test::error_of([&] { dst.copy_(zeros({4})); });
  CHECK(test::has(msg, "Tensor::copy_"));
  CHECK(test::has(msg, "[4]"));
  CHECK(test::has(msg, "[2, 3]"));
}

TEST_CASE("fill_ converts the value and refuses one an integer dtype cannot hold") {
  Tensor i = zeros({3}, DType::i32);
  i.fill_(-4);
  CHECK(i.to_vector<int32_t>() == std::vector<int32_t>{-4, -4, -4});
  Tensor u = zeros({2}, DType::u8);
  CHECK(test::has(test::error_of([&] { u.fill_(300); }), "does not fit uint8"));
  Tensor f = zeros({2, 2});
  f.zero_().fill_(0.5);
  CHECK(f.to_vector<float>() == F{0.5, 0.5, 0.5, 0.5});
}
