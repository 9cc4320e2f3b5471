// CUDA indexing kernels (kernels/cuda/index.cu) against their CPU twins: index_select_rows,
// gather and scatter_add on awkward shapes for every dtype they take, scatter_add bit-identical to
// the CPU (same summation order) and across runs, and out-of-range indices: recorded on the
// device, raised as tg::Error naming the op, position and value at the next synchronisation, the
// bad destination zeroed, the rest written, and the next kernels unaffected.
#include <cuda_runtime.h>  // cudaMalloc(T**, size_t), used by DeviceBuffer
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "base/error.h"
#include "cuda/cuda_test_util.h"
#include "kernels/index.h"

using tg::test::DeviceBuffer;
using tg::test::uniform_indices;
namespace cpu = tg::kernels::cpu;
namespace gpu = tg::kernels::cuda;

namespace {

template <typename T>
std::vector<T> values(int64_t n, uint32_t seed) {
  std::vector<T> v(static_cast<size_t>(n));
  for (auto& x : v) {
    seed = seed * 1664525u + 1013904223u;
    x = static_cast<T>((seed >> 8) % 251);  // exact in every dtype taken here
  }
  return v;
}

struct Gather {
  int64_t outer, r, inner, q;
};

// The class axis of a loss (inner = 1, q = 1), odd sizes everywhere, one long index axis and a
// wide inner axis.
const Gather kGathers[] = {{1, 1, 1, 1},   {7, 33, 1, 1},   {64, 10, 1, 1},  {3, 5, 7, 4},
                           {2, 17, 33, 7}, {1, 7, 1, 1023}, {5, 3, 1023, 2}, {1, 2, 100003, 1}};

}  // namespace

TEST_CASE_TEMPLATE("cuda index_select_rows matches the CPU", T, float, double, int32_t, uint8_t) {
  TG_SKIP_WITHOUT_CUDA();
  struct Sel {
    int64_t rows, row_size, n;
  };
  const Sel sels[] = {{1, 1, 1},    {7, 33, 7},      {1023, 1, 1023}, {100, 784, 33},
                      {5, 3, 1000}, {100003, 1, 64}, {10, 100003, 2}};
  for (const Sel& s : sels) {
    CAPTURE(s.rows);
    CAPTURE(s.row_size);
    CAPTURE(s.n);
    const std::vector<T> src = values<T>(s.rows * s.row_size, 3);
    const std::vector<int32_t> idx = uniform_indices(s.n, s.rows, 4);
    std::vector<T> want(static_cast<size_t>(s.n * s.row_size));
    cpu::index_select_rows(src.data(), s.rows, s.row_size, idx.data(), s.n, want.data());
    DeviceBuffer<T> dsrc(src), ddst(want.size());
    DeviceBuffer<int32_t> didx(idx);
    tg::test::wait_uploads();
    gpu::index_select_rows(dsrc.data(), s.rows, s.row_size, didx.data(), s.n, ddst.data());
    CHECK(ddst.download() == want);
  }
}

TEST_CASE_TEMPLATE("cuda gather matches the CPU", T, float, double, int32_t, uint8_t) {
  TG_SKIP_WITHOUT_CUDA();
  for (const Gather& g : kGathers) {
    CAPTURE(g.outer);
    CAPTURE(g.r);
    CAPTURE(g.inner);
    CAPTURE(g.q);
    const std::vector<T> x = values<T>(g.outer * g.r * g.inner, 5);
    const std::vector<int32_t> idx = uniform_indices(g.outer * g.q * g.inner, g.r, 6);
    std::vector<T> want(idx.size());
    cpu::gather(x.data(), g.outer, g.r, g.inner, idx.data(), g.q, want.data());
    DeviceBuffer<T> dx(x), dout(want.size());
    DeviceBuffer<int32_t> didx(idx);
    tg::test::wait_uploads();
    gpu::gather(dx.data(), g.outer, g.r, g.inner, didx.data(), g.q, dout.data());
    CHECK(dout.download() == want);
  }
}

TEST_CASE_TEMPLATE("cuda scatter_add matches the CPU bit for bit and accumulates into gx", T, float,
                   double) {
  TG_SKIP_WITHOUT_CUDA();
  for (const Gather& g : kGathers) {
    CAPTURE(g.outer);
    CAPTURE(g.r);
    CAPTURE(g.inner);
    CAPTURE(g.q);
    const std::vector<T> gy = tg::test::uniform<T>(static_cast<size_t>(g.outer * g.q * g.inner), 7);
    const std::vector<int32_t> idx = uniform_indices(g.outer * g.q * g.inner, g.r, 8);
    // gx starts non-zero: scatter_add adds to it (the caller zeroes it for a plain adjoint).
    const std::vector<T> gx0 =
        tg::test::uniform<T>(static_cast<size_t>(g.outer * g.r * g.inner), 9);
    std::vector<T> want = gx0;
    cpu::scatter_add(gy.data(), g.outer, g.r, g.inner, idx.data(), g.q, want.data());
    DeviceBuffer<T> dgy(gy), dgx(gx0);
    DeviceBuffer<int32_t> didx(idx);
    tg::test::wait_uploads();
    gpu::scatter_add(dgy.data(), g.outer, g.r, g.inner, didx.data(), g.q, dgx.data());
    // The same additions in the same order (j ascending) as the CPU: identical bits.
    const std::vector<T> got = dgx.download();
    CHECK(got == want);
    // And deterministic across runs.
    dgx.upload(gx0);
    tg::test::wait_uploads();
    gpu::scatter_add(dgy.data(), g.outer, g.r, g.inner, didx.data(), g.q, dgx.data());
    CHECK(dgx.download() == got);
  }
}

TEST_CASE("cuda gather and scatter_add by hand") {
  TG_SKIP_WITHOUT_CUDA();
  // x (2, 3, 2) = 6o + 2j + i; idx (2, 2, 2) into the middle axis.
  const std::vector<double> x = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  const std::vector<int32_t> idx = {2, 0, 1, 1, 0, 2, 2, 2};
  DeviceBuffer<double> dx(x), dout(8), dgx(std::vector<double>(12, 0.0));
  DeviceBuffer<int32_t> didx(idx);
  tg::test::wait_uploads();
  gpu::gather(dx.data(), 2, 3, 2, didx.data(), 2, dout.data());
  // out[o, j, i] = x[o, idx[o, j, i], i]
  CHECK(dout.download() == std::vector<double>{4, 1, 2, 3, 6, 11, 10, 11});
  // Scatter the gathered values back: each x element times how often it was picked.
  gpu::scatter_add(dout.data(), 2, 3, 2, didx.data(), 2, dgx.data());
  CHECK(dgx.download() == std::vector<double>{0, 1, 2, 3, 4, 0, 6, 0, 0, 0, 10, 22});
}

TEST_CASE("cuda index kernels do nothing for empty inputs") {
  TG_SKIP_WITHOUT_CUDA();
  DeviceBuffer<float> src(std::vector<float>{1, 2, 3, 4}), dst(std::vector<float>{7, 7, 7, 7});
  DeviceBuffer<int32_t> idx(std::vector<int32_t>{0, 1});
  tg::test::wait_uploads();
  gpu::index_select_rows(src.data(), 2, 2, idx.data(), 0, dst.data());
  gpu::gather(src.data(), 2, 2, 0, idx.data(), 1, dst.data());
  gpu::gather(src.data(), 0, 2, 1, idx.data(), 1, dst.data());
  gpu::scatter_add(src.data(), 2, 2, 1, idx.data(), 0, dst.data());
  CHECK(dst.download() == std::vector<float>{7, 7, 7, 7});
  CHECK_THROWS_WITH_AS(gpu::gather(src.data(), 2, -2, 1, idx.data(), 1, dst.data()),
                       doctest::Contains("gather: negative size"), tg::Error);
  CHECK_THROWS_WITH_AS(gpu::index_select_rows(src.data(), 2, 2, idx.data(), -1, dst.data()),
                       doctest::Contains("index_select: negative size"), tg::Error);
}

TEST_CASE("cuda index_select_rows reports an out-of-range index at the next synchronisation") {
  TG_SKIP_WITHOUT_CUDA();
  const std::vector<float> src = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};  // (5, 2)
  DeviceBuffer<float> dsrc(src), ddst(std::vector<float>(10, -1.f));
  DeviceBuffer<int32_t> didx(std::vector<int32_t>{0, 1, 2, 7, 4});
  tg::test::wait_uploads();
  gpu::index_select_rows(dsrc.data(), 5, 2, didx.data(), 5, ddst.data());  // does not throw
  CHECK_THROWS_WITH_AS(
      ddst.download(),
      doctest::Contains("index_select: index 7 at position 3 is out of range for a dimension of "
                        "size 5"),
      tg::Error);
  // The record was cleared by the throw: the data can be read, the bad row is zero.
  CHECK(ddst.download() == std::vector<float>{0, 1, 2, 3, 4, 5, 0, 0, 8, 9});
  // A negative index, and an index array over rows of no elements (nothing to copy, still checked).
  didx.upload({-1, 0, 0, 0, 0});
  tg::test::wait_uploads();
  gpu::index_select_rows(dsrc.data(), 5, 2, didx.data(), 1, ddst.data());
  CHECK_THROWS_WITH_AS(gpu::synchronize(), doctest::Contains("index -1 at position 0"), tg::Error);
  gpu::index_select_rows(dsrc.data(), 5, 0, didx.data(), 5, ddst.data());
  CHECK_THROWS_WITH_AS(gpu::synchronize(), doctest::Contains("index_select: index -1"), tg::Error);
  // A valid call afterwards runs clean.
  didx.upload({4, 3, 2, 1, 0});
  tg::test::wait_uploads();
  gpu::index_select_rows(dsrc.data(), 5, 2, didx.data(), 5, ddst.data());
  CHECK(ddst.download() == std::vector<float>{8, 9, 6, 7, 4, 5, 2, 3, 0, 1});
}

TEST_CASE("cuda gather reports an out-of-range index and zeroes its element") {
  TG_SKIP_WITHOUT_CUDA();
  const std::vector<float> x = {0, 1, 2, 3, 4, 5};  // (2, 3, 1)
  DeviceBuffer<float> dx(x), dout(std::vector<float>(4, -1.f));
  DeviceBuffer<int32_t> didx(std::vector<int32_t>{2, 0, 1, 3});  // (2, 2, 1); 3 is out of range
  tg::test::wait_uploads();
  gpu::gather(dx.data(), 2, 3, 1, didx.data(), 2, dout.data());
  CHECK_THROWS_WITH_AS(dout.download(),
                       doctest::Contains("gather: index 3 at flat position 3 is out of range"),
                       tg::Error);
  CHECK(dout.download() == std::vector<float>{2, 0, 4, 0});
}

TEST_CASE("cuda scatter_add reports an out-of-range index") {
  TG_SKIP_WITHOUT_CUDA();
  DeviceBuffer<float> dgy(std::vector<float>{1, 2, 3, 4}), dgx(std::vector<float>(6, 0.f));
  DeviceBuffer<int32_t> didx(std::vector<int32_t>{2, -5, 1, 0});  // (2, 2, 1) into r = 3
  tg::test::wait_uploads();
  gpu::scatter_add(dgy.data(), 2, 3, 1, didx.data(), 2, dgx.data());
  CHECK_THROWS_WITH_AS(dgx.download(),
                       doctest::Contains("scatter_add: index -5 at flat position 1 is out of "
                                         "range for a dimension of size 3"),
                       tg::Error);
  // The valid contributions landed; the bad one had nowhere to go.
  CHECK(dgx.download() == std::vector<float>{0, 0, 1, 4, 3, 0});
  // Into an axis of size 0 every index is out of range.
  gpu::scatter_add(dgy.data(), 2, 0, 1, didx.data(), 2, dgx.data());
  CHECK_THROWS_WITH_AS(gpu::synchronize(), doctest::Contains("scatter_add: index"), tg::Error);
  gpu::synchronize();  // cleared
}
