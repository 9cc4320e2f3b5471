// The tape's own behaviour: recording, accumulation, consumption, NoGrad, errors, pruning.
#include <doctest/doctest.h>

#include "autograd/autograd.h"
#include "tensor/creation.h"
#include "tensor/ops.h"

using namespace tg;

namespace {
std::vector<float> vals(const Tensor& t) {
  return t.to_vector<float>();
}
}  // namespace

TEST_CASE("backward of a scalar gives d(loss)/dx on the leaves") {
  tape().clear();
  Tensor x = tensor({1, 2, 3}).requires_grad_();
  Tensor w = tensor({4, 5, 6}).requires_grad_();
  Tensor loss = sum(x * w);
  CHECK(tape().size() == 2);
  backward(loss);
  CHECK(vals(x.grad()) == std::vector<float>{4, 5, 6});
  CHECK(vals(w.grad()) == std::vector<float>{1, 2, 3});
  CHECK(tape().size() == 0);  // consumed
}

TEST_CASE("a tensor used twice accumulates both gradients") {
  Tensor x = tensor({3}).requires_grad_();
  Tensor y = x * x + x;  // dy/dx = 2x + 1 = 7
  backward(sum(y));
  CHECK(x.grad().item<float>() == 7);
}

TEST_CASE("gradients accumulate across backward calls until zero_grad") {
  Tensor x = tensor({1, 2}).requires_grad_();
  backward(sum(x * 3.0));
  backward(sum(x * 3.0));
  CHECK(vals(x.grad()) == std::vector<float>{6, 6});
  zero_grad({x});
  CHECK(vals(x.grad()) == std::vector<float>{0, 0});
  backward(sum(x * 2.0));
  CHECK(vals(x.grad()) == std::vector<float>{2, 2});
}

TEST_CASE("backward twice through a consumed graph is a clear error") {
  Tensor x = tensor({1, 2}).requires_grad_();
  Tensor loss = sum(exp(x));
  backward(loss);
  CHECK_THROWS_WITH_AS(backward(loss), doctest::Contains("already consumed"), tg::Error);
}

TEST_CASE("retain_graph keeps the graph for a second backward") {
  Tensor x = tensor({2}).requires_grad_();
  Tensor loss = sum(x * x);
  backward(loss, Tensor(), true);
  backward(loss);
  CHECK(x.grad().item<float>() == 8);
}

TEST_CASE("a shared subgraph consumed by one loss makes the other's backward an error") {
  Tensor x = tensor({1, 2}).requires_grad_();
  Tensor h = exp(x);
  Tensor a = sum(h), b = sum(h * 2.0);
  backward(a);
  CHECK_THROWS_WITH_AS(backward(b), doctest::Contains("consumed"), tg::Error);
  tape().clear();
}

TEST_CASE("backward on a non-scalar needs a gradient") {
  Tensor x = tensor({1, 2}).requires_grad_();
  Tensor y = x * 2.0;
  CHECK_THROWS_WITH_AS(backward(y), doctest::Contains("[2]"), tg::Error);
  backward(y, tensor({1, 10}));
  CHECK(vals(x.grad()) == std::vector<float>{2, 20});
  CHECK_THROWS_AS(backward(x * 2.0, tensor({1, 2, 3})), tg::Error);
  tape().clear();
}

TEST_CASE("backward on a tensor that does not require grad is an error") {
  Tensor x = tensor({1, 2});
  CHECK_THROWS_WITH_AS(backward(sum(x)), doctest::Contains("does not require grad"), tg::Error);
}

TEST_CASE("NoGrad records nothing and produces tensors without grad") {
  Tensor x = tensor({1, 2}).requires_grad_();
  size_t before = tape().size();
  {
    NoGrad guard;
    Tensor y = exp(x) * 2.0;
    CHECK_FALSE(y.requires_grad());
    CHECK(tape().size() == before);
  }
  CHECK(GradMode::enabled());
  CHECK(exp(x).requires_grad());
  tape().clear();
}

TEST_CASE("ops on tensors that do not require grad record nothing") {
  size_t before = tape().size();
  Tensor y = exp(tensor({1, 2})) + 1.0;
  CHECK_FALSE(y.requires_grad());
  CHECK(tape().size() == before);
}

TEST_CASE("intermediate tensors are not leaves and keep no grad") {
  Tensor x = tensor({1, 2}).requires_grad_();
  Tensor h = x * 2.0;
  CHECK(x.is_leaf());
  CHECK_FALSE(h.is_leaf());
  CHECK_THROWS_AS(h.requires_grad_(), tg::Error);
  backward(sum(h));
  CHECK_FALSE(h.grad().defined());
}

TEST_CASE("backward on a leaf itself") {
  Tensor x = tensor({5}).requires_grad_();
  backward(x);
  CHECK(x.grad().item<float>() == 1);
}

TEST_CASE("raw view methods refuse a grad tensor, the autograd op records it") {
  Tensor x = tensor({{1, 2}, {3, 4}}).requires_grad_();
  CHECK_THROWS_WITH_AS(x.reshape({4}), doctest::Contains("reshape"), tg::Error);
  Tensor y = reshape(x, {4});
  backward(sum(y * tensor({1, 2, 3, 4})));
  CHECK(vals(x.grad()) == std::vector<float>{1, 2, 3, 4});
}

TEST_CASE("detach cuts the graph") {
  Tensor x = tensor({3}).requires_grad_();
  Tensor y = x * x.detach();  // only the first factor carries a gradient: dy/dx = 3
  backward(sum(y));
  CHECK(x.grad().item<float>() == 3);
}

TEST_CASE("forward passes without backward do not grow the tape without bound") {
  tape().clear();
  Tensor w = randn({4, 4}).requires_grad_();
  Tensor x = randn({2, 4});
  for (int i = 0; i < 5000; ++i) {
    Tensor loss = sum(relu(matmul(x, w)));
    (void)loss;
  }
  CHECK(tape().size() < 3000);
  tape().clear();
}

TEST_CASE("the tape prints its nodes") {
  tape().clear();
  Tensor x = tensor({1, 2}).requires_grad_();
  Tensor y = sum(exp(x));
  std::string s = tape().str();
  CHECK(s.find("exp([2]) -> [2]") != std::string::npos);
  CHECK(s.find("sum([2]) -> []") != std::string::npos);
  tape().clear();
}

TEST_CASE("errors name the op and the shapes") {
  Tensor a = randn({2, 3}), b = randn({4, 5});
  CHECK_THROWS_WITH_AS(matmul(a, b), doctest::Contains("[2, 3]"), tg::Error);
  CHECK_THROWS_WITH_AS(add(a, b), doctest::Contains("[4, 5]"), tg::Error);
  CHECK_THROWS_WITH_AS(linear(a, b, Tensor()), doctest::Contains("linear"), tg::Error);
  CHECK_THROWS_WITH_AS(mse(a, randn({3, 2})), doctest::Contains("mse"), tg::Error);
  Tensor labels = from_vector<int32_t>({0, 7});
  CHECK_THROWS_WITH_AS(cross_entropy(a, labels), doctest::Contains("7"), tg::Error);
  CHECK_THROWS_AS(cross_entropy(a, tensor({0, 1})), tg::Error);  // float labels
}

TEST_CASE("backward never writes into the caller's gradient or a gradient two tensors share") {
  tape().clear();
  // z = y + y: add's backward hands grad_root to y twice; the sum must not land in grad_root.
  Tensor x = tensor({1, 2, 3}).requires_grad_();
  Tensor y = x * 1.0;
  Tensor z = y + y;
  Tensor g = tensor({1, 1, 1});
  backward(z, g);
  CHECK(vals(g) == std::vector<float>{1, 1, 1});
  CHECK(vals(x.grad()) == std::vector<float>{2, 2, 2});
  // a + b hands the same gradient to both leaves: each gets its own copy.
  Tensor a = tensor({1, 2}).requires_grad_(), b = tensor({3, 4}).requires_grad_();
  backward(sum(a + b));
  CHECK(a.grad().impl()->storage != b.grad().impl()->storage);
  Tensor ag = a.grad();
  ops::axpy_(ag, 1.0, tensor({10, 10}));
  CHECK(vals(a.grad()) == std::vector<float>{11, 11});
  CHECK(vals(b.grad()) == std::vector<float>{1, 1});
}

TEST_CASE("a gradient nothing else holds becomes the leaf's grad without a copy") {
  tape().clear();
  Tensor x = tensor({{1, 2}, {3, 4}}).requires_grad_();
  Tensor w = tensor({{1, 0}, {0, 1}}).requires_grad_();
  backward(sum(matmul(x, w)));
  // Both are exclusively the leaves' own: one handle each, whole and contiguous.
  CHECK(x.grad().impl_ptr().use_count() == 2);  // x's impl and this temporary
  CHECK(x.grad().impl()->storage.use_count() == 1);
  CHECK(vals(x.grad()) == std::vector<float>{1, 1, 1, 1});
  CHECK(vals(w.grad()) == std::vector<float>{4, 4, 6, 6});
}

TEST_CASE(
    "zero_grad with set_to_none drops the gradients, and the next backward writes them afresh") {
  tape().clear();
  Tensor x = tensor({1, 2}).requires_grad_();
  backward(sum(x * 3.0));
  Tensor old = x.grad();
  zero_grad({x}, /*set_to_none=*/true);
  CHECK_FALSE(x.grad().defined());
  CHECK(vals(old) == std::vector<float>{3, 3});  // a handle kept from before is untouched
  backward(sum(x * 2.0));
  backward(sum(x * 5.0));  // then accumulates in place as before
  CHECK(vals(x.grad()) == std::vector<float>{7, 7});
  CHECK(vals(old) == std::vector<float>{3, 3});
}
