// Reductions over one, several, negative and all dims, keepdim, argmax and sum_to, against
// hand values. x = arange(24).view({2, 3, 4}) has x[i][j][k] = 12i + 4j + k.
#include <doctest/doctest.h>

#include <vector>

#include "tensor/creation.h"
#include "tensor/ops.h"
#include "test_util.h"

using namespace tg;
using F = std::vector<float>;

namespace {
Tensor x24() {
  return arange(24).view({2, 3, 4});
}
}  // namespace

TEST_CASE("reduce over one dim") {
  Tensor s = ops::reduce(ReduceOp::sum, x24(), {0}, false);
  CHECK(s.shape() == Shape{3, 4});
  CHECK(s.to_vector<float>() == F{12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34});
  Tensor m = ops::reduce(ReduceOp::max, x24(), {1}, false);
  CHECK(m.shape() == Shape{2, 4});
  CHECK(m.to_vector<float>() == F{8, 9, 10, 11, 20, 21, 22, 23});
  Tensor k = ops::reduce(ReduceOp::sum, x24(), {-1}, true);
  CHECK(k.shape() == Shape{2, 3, 1});
  CHECK(k.to_vector<float>() == F{6, 22, 38, 54, 70, 86});
}

TEST_CASE("reduce over several dims, adjacent or not, with keepdim") {
  Tensor s = ops::reduce(ReduceOp::sum, x24(), {0, 2}, false);
  CHECK(s.shape() == Shape{3});
  CHECK(s.to_vector<float>() == F{60, 92, 124});
  Tensor m = ops::reduce(ReduceOp::mean, x24(), {2, 0}, true);
  CHECK(m.shape() == Shape{1, 3, 1});
  CHECK(m.to_vector<float>() == F{7.5, 11.5, 15.5});
  Tensor r = ops::reduce(ReduceOp::sum, x24(), {0, 1}, false);
  CHECK(r.to_vector<float>() == F{60, 66, 72, 78});
  Tensor mn = ops::reduce(ReduceOp::min, x24(), {-2, -1}, false);
  CHECK(mn.to_vector<float>() == F{0, 12});
}

TEST_CASE("reduce over all dims, and on strided input") {
  Tensor all = ops::reduce(ReduceOp::sum, x24(), {}, false);
  CHECK(all.dim() == 0);
  CHECK(all.item<float>() == 276);
  CHECK(ops::reduce(ReduceOp::mean, x24(), {}, false).item<float>() == 11.5f);
  CHECK(ops::reduce(ReduceOp::max, x24(), {}, true).shape() == Shape{1, 1, 1});
  Tensor t = x24().transpose(0, 2);                      // (4, 3, 2), t[k][j][i] = x[i][j][k]
  Tensor s = ops::reduce(ReduceOp::sum, t, {2}, false);  // over i
  CHECK(s.shape() == Shape{4, 3});
  CHECK(s.to_vector<float>() == F{12, 20, 28, 14, 22, 30, 16, 24, 32, 18, 26, 34});
  CHECK(ops::reduce(ReduceOp::sum, scalar_tensor(4), {}, false).item<float>() == 4);
}

TEST_CASE("reduce rejects bad and repeated dims") {
  std::string msg = test::error_of([] { ops::reduce(ReduceOp::sum, x24(), {3}, false); });
  CHECK(test::has(msg, "sum"));
  CHECK(test::has(msg, "dim 3"));
  msg = test::error_of([] { ops::reduce(ReduceOp::mean, x24(), {1, -2}, false); });
  CHECK(test::has(msg, "mean"));
  CHECK(test::has(msg, "twice"));
}

TEST_CASE("argmax returns int32 indices of the first maximum") {
  Tensor x = tensor({{1, 5, 3}, {7, 2, 7}});
  Tensor a1 = argmax(x, 1);
  CHECK(a1.dtype() == DType::i32);
  CHECK(a1.to_vector<int32_t>() == std::vector<int32_t>{1, 0});
  CHECK(ops::argmax(x, 0).to_vector<int32_t>() == std::vector<int32_t>{1, 0, 1});
  CHECK(ops::argmax(x, -1, true).shape() == Shape{2, 1});
  CHECK(ops::argmax(x.t(), 0).to_vector<int32_t>() == std::vector<int32_t>{1, 0});
}

TEST_CASE("sum_to sums the broadcast dims back") {
  Tensor g = arange(6).view({2, 3});
  CHECK(ops::sum_to(g, {2, 3}).impl() == g.impl());
  CHECK(ops::sum_to(g, {3}).to_vector<float>() == F{3, 5, 7});
  Tensor r = ops::sum_to(g, {2, 1});
  CHECK(r.shape() == Shape{2, 1});
  CHECK(r.to_vector<float>() == F{3, 12});
  CHECK(ops::sum_to(g, {1, 3}).to_vector<float>() == F{3, 5, 7});
  CHECK(ops::sum_to(g, {}).item<float>() == 15);
  Tensor g3 = ones({4, 2, 3});
  Tensor r3 = ops::sum_to(g3, {2, 1});
  CHECK(r3.shape() == Shape{2, 1});
  CHECK(r3.to_vector<float>() == F{12, 12});
  std::string msg = test::error_of([&] { ops::sum_to(g, {4}); });
  CHECK(test::has(msg, "sum_to"));
  CHECK(test::has(msg, "[2, 3]"));
}
