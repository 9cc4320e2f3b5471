// The autograd fields on Tensor, and the rule that raw view/copy methods refuse a tensor that
// requires grad unless grad mode is off (so a gradient is never dropped silently).
#include <doctest/doctest.h>

#include "tensor/creation.h"
#include "tensor/grad_mode.h"
#include "test_util.h"

using namespace tg;

TEST_CASE("raw view and copy methods refuse a tensor that requires grad, unless under NoGrad") {
  Tensor w = zeros({2, 3});
  w.requires_grad_();
  std::string msg = test::error_of([&] { w.reshape({6}); });
  CHECK(test::has(msg, "Tensor::reshape"));
  CHECK(test::has(msg, "requires grad"));
  CHECK(test::has(msg, "tg::reshape"));
  CHECK(test::has(msg, "NoGrad"));
  CHECK_THROWS_AS(w.t(), Error);
  CHECK_THROWS_AS(w.select(0, 0), Error);
  CHECK_THROWS_AS(w.clone(), Error);
  CHECK_THROWS_AS(w.to(DType::f64), Error);
  CHECK_THROWS_AS(w.index_select(0, from_vector<int32_t>({0})), Error);
  CHECK(test::has(test::error_of([&] { w.fill_(1); }), "only under tg::NoGrad"));
  CHECK_THROWS_AS(w.copy_(ones({2, 3})), Error);
  {
    NoGrad guard;
    CHECK_FALSE(GradMode::enabled());
    CHECK(w.reshape({6}).shape() == Shape{6});
    w.fill_(2);  // how an optimizer updates a parameter
    w.copy_(ones({3}));
  }
  CHECK(GradMode::enabled());
  CHECK(w.detach().to_vector<float>() == std::vector<float>(6, 1.0f));
  // What returns the tensor itself drops nothing, so it is allowed.
  CHECK(w.contiguous().impl() == w.impl());
  CHECK(w.to(DType::f32).impl() == w.impl());
}

TEST_CASE("NoGrad nests and restores the previous mode") {
  CHECK(GradMode::enabled());
  {
    NoGrad a;
    {
      NoGrad b;
      CHECK_FALSE(GradMode::enabled());
    }
    CHECK_FALSE(GradMode::enabled());
  }
  CHECK(GradMode::enabled());
}

TEST_CASE("detach shares storage and drops the autograd fields") {
  Tensor w = ones({2});
  w.requires_grad_();
  w.impl()->node = 5;  // as if produced by a recorded op
  Tensor d = w.detach();
  CHECK(d.shares_storage(w));
  CHECK_FALSE(d.requires_grad());
  CHECK(d.is_leaf());
  CHECK_FALSE(w.is_leaf());
  d.fill_(3);
  CHECK(w.detach().to_vector<float>() == std::vector<float>{3, 3});
}

TEST_CASE("requires_grad_ only on floating leaves") {
  Tensor i = zeros({2}, DType::i32);
  CHECK(test::has(test::error_of([&] { i.requires_grad_(); }), "int32"));
  Tensor f = zeros({2}, DType::f64);
  CHECK(f.requires_grad_().requires_grad());
  CHECK(f.is_leaf());
  f.requires_grad_(false);
  CHECK_FALSE(f.requires_grad());
  Tensor nonleaf = zeros({2});
  nonleaf.impl()->node = 3;
  CHECK(test::has(test::error_of([&] { nonleaf.requires_grad_(); }), "leaves"));
}

TEST_CASE("grad starts undefined, set_grad checks the shape") {
  Tensor w = zeros({2, 2});
  CHECK_FALSE(w.grad().defined());
  w.set_grad(ones({2, 2}));
  CHECK(w.grad().to_vector<float>() == std::vector<float>(4, 1.0f));
  std::string msg = test::error_of([&] { w.set_grad(ones({4})); });
  CHECK(test::has(msg, "Tensor::set_grad"));
  CHECK(test::has(msg, "[4]"));
  CHECK(test::has(msg, "[2, 2]"));
  w.set_grad(Tensor());
  CHECK_FALSE(w.grad().defined());
}
