// Printing: the exact strings for small tensors, and summarising of large ones.
#include <doctest/doctest.h>

#include <sstream>

#include "tensor/creation.h"
#include "tensor/grad_mode.h"
#include "test_util.h"

using namespace tg;

TEST_CASE("a 2x2 float tensor prints rows on aligned lines with 4 decimals") {
  CHECK(tensor({{1, 2}, {3, 4}}).str() ==
        "tensor([[1.0000, 2.0000],\n"
        "        [3.0000, 4.0000]], shape=[2, 2], dtype=float32, device=cpu)");
  std::ostringstream os;
  os << tensor({{1, -2}, {3, 4}});
  CHECK(os.str() ==
        "tensor([[ 1.0000, -2.0000],\n"
        "        [ 3.0000,  4.0000]], shape=[2, 2], dtype=float32, device=cpu)");
}

TEST_CASE("integers print plain and padded, 1-d and 0-d tensors") {
  CHECK(from_vector<int32_t>({1, -20, 300}).str() ==
        "tensor([  1, -20, 300], shape=[3], dtype=int32, device=cpu)");
  CHECK(tensor({0.5, 1.25}).str() ==
        "tensor([0.5000, 1.2500], shape=[2], dtype=float32, device=cpu)");
  CHECK(scalar_tensor(3, DType::f64).str() ==
        "tensor(3.0000, shape=[], dtype=float64, device=cpu)");
  CHECK(zeros({0}).str() == "tensor([], shape=[0], dtype=float32, device=cpu)");
  CHECK(Tensor().str() == "tensor(undefined)");
}

TEST_CASE("3-d tensors separate their 2-d blocks with a blank line") {
  CHECK(arange(8, DType::i32).view({2, 2, 2}).str() ==
        "tensor([[[0, 1],\n"
        "         [2, 3]],\n"
        "\n"
        "        [[4, 5],\n"
        "         [6, 7]]], shape=[2, 2, 2], dtype=int32, device=cpu)");
}

TEST_CASE("very large or small magnitudes switch to scientific notation") {
  CHECK(tensor({1e-5, 1}).str() ==
        "tensor([1.0000e-05, 1.0000e+00], shape=[2], dtype=float32, device=cpu)");
  CHECK(tensor({1, 2}, DType::f64).str() ==
        "tensor([1.0000, 2.0000], shape=[2], dtype=float64, device=cpu)");
}

TEST_CASE("a big tensor is summarised with ..., a long row wraps") {
  std::string s = arange(10000).view({100, 100}).str();
  CHECK(test::has(s, "..."));
  CHECK(test::has(s, "[0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 9.7000e+01"));
  CHECK(s.size() < 1000);
  CHECK(test::has(arange(10000, DType::i32).str(),
                  "tensor([   0,    1,    2,  ..., 9997, 9998, 9999], shape=[10000]"));
  // 1000 elements or fewer: everything, wrapped at 80 columns.
  std::string w = arange(30, DType::i32).str();
  CHECK_FALSE(test::has(w, "..."));
  CHECK(test::has(w, ",\n        "));
}

TEST_CASE("a tensor that requires grad says so") {
  Tensor w = zeros({2});
  w.requires_grad_();
  CHECK(w.str() ==
        "tensor([0.0000, 0.0000], shape=[2], dtype=float32, device=cpu, "
        "requires_grad=true)");
}
