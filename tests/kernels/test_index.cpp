// index_select_rows, gather and scatter_add: hand values, the adjoint identity between gather
// and scatter_add, out-of-range indices rejected before anything is written.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "base/error.h"
#include "kernels/cpu/common.h"
#include "kernels/index.h"

using namespace tg::kernels::cpu;

namespace {

// (2, 3, 2): x[o][j][i] = 6o + 2j + i.
const std::vector<double> iota12 = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
// (2, 2, 2) indices into the middle axis of size 3.
const std::vector<int32_t> idx8 = {2, 0, 1, 1, 0, 2, 2, 2};

}  // namespace

TEST_CASE_TEMPLATE("index_select_rows picks rows, repeats allowed", T, float, double, int32_t,
                   uint8_t) {
  std::vector<T> src(12);
  for (int i = 0; i < 12; ++i) src[i] = T(i);  // (4, 3)
  const std::vector<int32_t> idx = {2, 0, 2, 3};
  std::vector<T> dst(12, T(99));
  index_select_rows(src.data(), 4, 3, idx.data(), 4, dst.data());
  CHECK(dst == std::vector<T>{6, 7, 8, 0, 1, 2, 6, 7, 8, 9, 10, 11});
  index_select_rows(src.data(), 4, 3, idx.data(), 0, dst.data());  // n = 0: no-op
  CHECK(dst[0] == T(6));
}

TEST_CASE("index_select_rows rejects an out-of-range index before writing") {
  const std::vector<float> src(10, 1.f);  // (5, 2)
  std::vector<float> dst(10, -1.f);
  const std::vector<int32_t> idx = {0, 1, 2, 7, 9};
  CHECK_THROWS_WITH_AS(index_select_rows(src.data(), 5, 2, idx.data(), 5, dst.data()),
                       "index_select: index 7 at position 3 is out of range for 5 rows", tg::Error);
  CHECK(dst == std::vector<float>(10, -1.f));
  const std::vector<int32_t> neg = {-1};
  CHECK_THROWS_WITH_AS(index_select_rows(src.data(), 5, 2, neg.data(), 1, dst.data()),
                       doctest::Contains("index -1 at position 0"), tg::Error);
  const std::vector<int32_t> edge = {5};
  CHECK_THROWS_AS(index_select_rows(src.data(), 5, 2, edge.data(), 1, dst.data()), tg::Error);
}

TEST_CASE("index_select_rows on a large batch (parallel path) and reports the first bad index") {
  const int64_t rows = 1000, row_size = 100, n = 5000;
  std::vector<float> src(rows * row_size);
  for (size_t i = 0; i < src.size(); ++i) src[i] = float(i);
  std::vector<int32_t> idx(n);
  for (int64_t i = 0; i < n; ++i) idx[i] = int32_t((i * 617) % rows);
  std::vector<float> dst(n * row_size);
  index_select_rows(src.data(), rows, row_size, idx.data(), n, dst.data());
  bool ok = true;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < row_size; ++k)
      ok = ok && dst[i * row_size + k] == src[idx[i] * row_size + k];
  CHECK(ok);
  // Several bad indices spread over 40,000 positions: the first one is named.
  std::vector<int32_t> big(40000, 0);
  big[39000] = -5;
  big[21000] = 1000;
  big[30000] = 2000;
  CHECK_THROWS_WITH_AS(index_select_rows(src.data(), rows, row_size, big.data(), 40000, dst.data()),
                       "index_select: index 1000 at position 21000 is out of range for 1000 rows",
                       tg::Error);
}

TEST_CASE_TEMPLATE("gather along a middle axis on hand values", T, float, double, int32_t,
                   uint8_t) {
  const std::vector<T> x(iota12.begin(), iota12.end());
  std::vector<T> out(8, T(99));
  // out[o, j, i] = x[o, idx[o, j, i], i]
  //   o=0: j=0 -> x[0,2,0]=4, x[0,0,1]=1;   j=1 -> x[0,1,0]=2,  x[0,1,1]=3
  //   o=1: j=0 -> x[1,0,0]=6, x[1,2,1]=11;  j=1 -> x[1,2,0]=10, x[1,2,1]=11
  gather(x.data(), 2, 3, 2, idx8.data(), 2, out.data());
  CHECK(out == std::vector<T>{4, 1, 2, 3, 6, 11, 10, 11});
}

TEST_CASE("gather of the label column, as cross-entropy uses it") {
  const std::vector<float> logits = {0.1f, 0.7f, 0.2f, 0.9f, 0.05f, 0.05f};  // (2, 3)
  const std::vector<int32_t> labels = {1, 0};                                // (2, 1)
  std::vector<float> picked(2);
  gather(logits.data(), 2, 3, 1, labels.data(), 1, picked.data());
  CHECK(picked == std::vector<float>{0.7f, 0.9f});
}

TEST_CASE("gather and scatter_add reject out-of-range indices before writing") {
  std::vector<double> out(8, -1);
  std::vector<int32_t> bad = idx8;
  bad[5] = 3;  // the axis has size 3
  CHECK_THROWS_WITH_AS(gather(iota12.data(), 2, 3, 2, bad.data(), 2, out.data()),
                       "gather: index 3 at position 5 is out of range for an axis of size 3",
                       tg::Error);
  CHECK(out == std::vector<double>(8, -1));
  bad[5] = 2;
  bad[6] = -2;
  std::vector<double> gx(12, 0);
  CHECK_THROWS_WITH_AS(scatter_add(out.data(), 2, 3, 2, bad.data(), 2, gx.data()),
                       doctest::Contains("index -2 at position 6"), tg::Error);
  CHECK(gx == std::vector<double>(12, 0));
}

TEST_CASE_TEMPLATE("scatter_add accumulates duplicates on hand values", T, float, double) {
  const std::vector<T> gy = {1, 2, 3, 4, 5, 6, 7, 8};  // (2, 2, 2)
  std::vector<T> gx(12, T(0));                         // (2, 3, 2)
  // gx[o, idx[o,j,i], i] += gy[o,j,i]:
  //   o=0: gx[0,2,0]+=1, gx[0,0,1]+=2, gx[0,1,0]+=3, gx[0,1,1]+=4
  //   o=1: gx[1,0,0]+=5, gx[1,2,1]+=6, gx[1,2,0]+=7, gx[1,2,1]+=8 (so 14)
  scatter_add(gy.data(), 2, 3, 2, idx8.data(), 2, gx.data());
  CHECK(gx == std::vector<T>{0, 2, 3, 4, 1, 0, 5, 0, 0, 0, 7, 14});
}

TEST_CASE("scatter_add is the adjoint of gather: <gather(x), y> == <x, scatter_add(y)>") {
  const int64_t outer = 50, r = 40, inner = 120, q = 50;  // 300,000 indices: the parallel path
  static_assert(outer * q * inner >= tg::kernels::cpu::detail::kParallelMin);
  std::vector<double> x(outer * r * inner), y(outer * q * inner);
  std::vector<int32_t> idx(outer * q * inner);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(double(i));
  for (size_t i = 0; i < y.size(); ++i) y[i] = std::cos(double(i));
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = int32_t((i * 7 + i / 13) % r);
  std::vector<double> gx(x.size(), 0.0), g(y.size());
  gather(x.data(), outer, r, inner, idx.data(), q, g.data());
  scatter_add(y.data(), outer, r, inner, idx.data(), q, gx.data());
  double lhs = 0, rhs = 0;
  for (size_t i = 0; i < y.size(); ++i) lhs += g[i] * y[i];
  for (size_t i = 0; i < x.size(); ++i) rhs += x[i] * gx[i];
  CHECK(lhs == doctest::Approx(rhs).epsilon(1e-12));
}
