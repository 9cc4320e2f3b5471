// Views: each op's shape, strides and offset against hand values, shared storage, and the
// view/reshape split on layouts a view cannot express.
#include <doctest/doctest.h>

#include <vector>

#include "tensor/creation.h"
#include "test_util.h"

using namespace tg;
using I = std::vector<int64_t>;
using F = std::vector<float>;

TEST_CASE("a view shares storage: writes through it are seen by the base") {
  Tensor a = zeros({3, 4});
  Tensor row = a.select(0, 1);
  CHECK(row.shares_storage(a));
  row.fill_(7);
  CHECK(a.at<float>({1, 0}) == 7);
  CHECK(a.at<float>({1, 3}) == 7);
  CHECK(a.at<float>({0, 0}) == 0);
  Tensor col = a.t().select(0, 2);  // column 2
  col.fill_(-1);
  CHECK(a.to_vector<float>() == F{0, 0, -1, 0, 7, 7, -1, 7, 0, 0, -1, 0});
}

TEST_CASE("transpose, t and permute swap strides") {
  Tensor a = arange(24).view({2, 3, 4});
  CHECK(a.strides() == I{12, 4, 1});
  Tensor t = a.transpose(0, 2);
  CHECK(t.shape() == Shape{4, 3, 2});
  CHECK(t.strides() == I{1, 4, 12});
  CHECK(t.at<float>({3, 1, 1}) == 12 + 4 + 3);
  Tensor p = a.permute({1, 2, 0});
  CHECK(p.shape() == Shape{3, 4, 2});
  CHECK(p.strides() == I{4, 1, 12});
  CHECK(a.transpose(-1, -2).shape() == Shape{2, 4, 3});
  Tensor m = arange(6).view({2, 3}).t();
  CHECK(m.shape() == Shape{3, 2});
  CHECK(m.strides() == I{1, 3});
  CHECK_FALSE(m.is_contiguous());
  CHECK(test::has(test::error_of([&] { a.permute({0, 0, 1}); }), "repeats"));
  CHECK(test::has(test::error_of([&] { a.permute({0, 1}); }), "Tensor::permute"));
  CHECK(test::has(test::error_of([&] { a.t(); }), "Tensor::t"));
}

TEST_CASE("narrow, slice and select move the offset") {
  Tensor a = arange(20).view({4, 5});
  Tensor n = a.narrow(1, 1, 3);
  CHECK(n.shape() == Shape{4, 3});
  CHECK(n.strides() == I{5, 1});
  CHECK(n.offset() == 1);
  CHECK(n.select(0, 2).to_vector<float>() == F{11, 12, 13});
  Tensor s = a.slice(1, 0, 5, 2);  // columns 0, 2, 4
  CHECK(s.shape() == Shape{4, 3});
  CHECK(s.strides() == I{5, 2});
  CHECK(s.select(0, 1).to_vector<float>() == F{5, 7, 9});
  Tensor r = a.slice(0, 1, 4, 2);  // rows 1, 3
  CHECK(r.offset() == 5);
  CHECK(r.strides() == I{10, 1});
  CHECK(r.shape() == Shape{2, 5});
  Tensor sel = a.select(1, -1);  // last column
  CHECK(sel.shape() == Shape{4});
  CHECK(sel.offset() == 4);
  CHECK(sel.strides() == I{5});
  CHECK(sel.to_vector<float>() == F{4, 9, 14, 19});
}

TEST_CASE("slice takes Python-like negative and out-of-range bounds") {
  Tensor v = arange(10);
  CHECK(v.slice(0, -3, 10).to_vector<float>() == F{7, 8, 9});
  CHECK(v.slice(0, 2, -5).to_vector<float>() == F{2, 3, 4});
  CHECK(v.slice(0, -100, 2).to_vector<float>() == F{0, 1});
  CHECK(v.slice(0, 8, 100).to_vector<float>() == F{8, 9});
  CHECK(v.slice(0, 6, 3).numel() == 0);
  CHECK(v.slice(0, 1, 10, 3).to_vector<float>() == F{1, 4, 7});
  CHECK(v.slice(0, 1, 8, 3).to_vector<float>() == F{1, 4, 7});
  CHECK(test::has(test::error_of([&] { v.slice(0, 0, 5, 0); }), "step"));
}

TEST_CASE("out-of-range dims and indices name the op and the values") {
  Tensor a = zeros({2, 3});
  std::string msg = test::error_of([&] { a.select(1, 3); });
  CHECK(test::has(msg, "Tensor::select"));
  CHECK(test::has(msg, "index 3"));
  CHECK(test::has(msg, "[2, 3]"));
  msg = test::error_of([&] { a.transpose(0, 2); });
  CHECK(test::has(msg, "Tensor::transpose"));
  CHECK(test::has(msg, "dim 2"));
  CHECK(test::has(test::error_of([&] { a.narrow(1, 2, 2); }), "Tensor::narrow"));
  CHECK(test::has(test::error_of([&] { a.size(5); }), "Tensor::size"));
  CHECK(a.size(-1) == 3);
}

TEST_CASE("squeeze and unsqueeze add and drop size-1 dims") {
  Tensor a = zeros({2, 1, 3, 1});
  CHECK(a.squeeze().shape() == Shape{2, 3});
  CHECK(a.squeeze().strides() == I{3, 1});
  CHECK(a.squeeze(1).shape() == Shape{2, 3, 1});
  CHECK(a.squeeze(-1).shape() == Shape{2, 1, 3});
  CHECK(a.squeeze(0).shape() == Shape{2, 1, 3, 1});  // size 2: unchanged
  Tensor b = arange(6).view({2, 3});
  Tensor u0 = b.unsqueeze(0);
  CHECK(u0.shape() == Shape{1, 2, 3});
  CHECK(u0.strides() == I{6, 3, 1});
  Tensor u1 = b.unsqueeze(1);
  CHECK(u1.shape() == Shape{2, 1, 3});
  CHECK(u1.strides() == I{3, 3, 1});
  Tensor u2 = b.unsqueeze(-1);
  CHECK(u2.shape() == Shape{2, 3, 1});
  CHECK(u2.strides() == I{3, 1, 1});
  CHECK(test::has(test::error_of([&] { b.unsqueeze(3); }), "Tensor::unsqueeze"));
}

TEST_CASE("expand gives stride 0 on broadcast dims and new leading dims") {
  Tensor col = from_vector<float>({1, 2, 3}, {3, 1});
  Tensor e = col.expand({3, 4});
  CHECK(e.shape() == Shape{3, 4});
  CHECK(e.strides() == I{1, 0});
  CHECK(e.shares_storage(col));
  CHECK(e.select(0, 1).to_vector<float>() == F{2, 2, 2, 2});
  Tensor e2 = from_vector<float>({1, 2}).expand({3, -1});
  CHECK(e2.shape() == Shape{3, 2});
  CHECK(e2.strides() == I{0, 1});
  CHECK(e2.to_vector<float>() == F{1, 2, 1, 2, 1, 2});
  std::string msg = test::error_of([&] { zeros({2, 3}).expand({4, 3}); });
  CHECK(test::has(msg, "Tensor::expand"));
  CHECK(test::has(msg, "[2, 3]"));
  CHECK(test::has(msg, "[4, 3]"));
}

TEST_CASE("view infers -1 and refuses a wrong count") {
  Tensor a = arange(12);
  CHECK(a.view({3, -1}).shape() == Shape{3, 4});
  CHECK(a.view({-1, 2, 2}).shape() == Shape{3, 2, 2});
  CHECK(a.view({3, 4}).strides() == I{4, 1});
  std::string msg = test::error_of([&] { a.view({5, -1}); });
  CHECK(test::has(msg, "Tensor::view"));
  CHECK(test::has(msg, "12"));
  CHECK(test::has(test::error_of([&] { a.view({5, 3}); }), "[5, 3]"));
  CHECK(test::has(test::error_of([&] { a.view({-1, -1}); }), "only one"));
}

TEST_CASE("view of a transposed tensor fails, reshape copies instead") {
  Tensor a = arange(6).view({2, 3});
  Tensor t = a.t();
  std::string msg = test::error_of([&] { t.view({6}); });
  CHECK(test::has(msg, "Tensor::view"));
  CHECK(test::has(msg, "reshape"));
  Tensor r = t.reshape({6});
  CHECK_FALSE(r.shares_storage(a));
  CHECK(r.to_vector<float>() == F{0, 3, 1, 4, 2, 5});
  Tensor r2 = a.reshape({3, 2});  // viewable: no copy
  CHECK(r2.shares_storage(a));
  // Splitting a dim of a non-contiguous tensor is still a view.
  Tensor s = arange(24).view({4, 6}).t();  // (6, 4) strides (1, 6)
  Tensor v = s.view({2, 3, 4});
  CHECK(v.strides() == I{3, 1, 6});
  CHECK(v.shares_storage(s));
}

TEST_CASE("contiguous of a permuted 3-d tensor lays it out row-major") {
  Tensor a = arange(12).view({2, 3, 2});
  Tensor p = a.permute({2, 0, 1});  // (2, 2, 3): p[k][i][j] = a[i][j][k]
  CHECK_FALSE(p.is_contiguous());
  Tensor c = p.contiguous();
  CHECK(c.is_contiguous());
  CHECK(c.strides() == I{6, 3, 1});
  CHECK(c.to_vector<float>() == F{0, 2, 4, 6, 8, 10, 1, 3, 5, 7, 9, 11});
  CHECK(a.contiguous().impl() == a.impl());  // already contiguous: the same tensor
}

TEST_CASE("flatten merges a range of dims") {
  Tensor a = zeros({2, 3, 4});
  CHECK(a.flatten().shape() == Shape{24});
  CHECK(a.flatten(1).shape() == Shape{2, 12});
  CHECK(a.flatten(0, 1).shape() == Shape{6, 4});
  CHECK(a.flatten(1).shares_storage(a));
  Tensor t = a.transpose(0, 2).flatten(0, 1);  // not viewable: copied
  CHECK(t.shape() == Shape{12, 2});
  CHECK_FALSE(t.shares_storage(a));
  CHECK(scalar_tensor(1).flatten().shape() == Shape{1});
}
