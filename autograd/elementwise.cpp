// Differentiable elementwise ops: forward through tensor/ops.h, backward beside it.
// Broadcast inputs get their gradient summed back to their own shape (ops::sum_to).
#include <cmath>

#include "autograd/functions.h"
#include "autograd/tape.h"
#include "tensor/ops.h"

namespace tg {

namespace {

// Records a binary op whose backward is f(gy) -> {ga, gb} before summing to the input shapes.
template <typename F>
Tensor record_binary(const char* name, Tensor out, const Tensor& a, const Tensor& b, F f) {
  Shape sa = a.shape(), sb = b.shape();
  return tape().record(name, std::move(out), {a, b}, [=](const Tensor& gy) -> std::vector<Tensor> {
    auto [ga, gb] = f(gy);
    return {ga.defined() ? ops::sum_to(ga, sa) : ga, gb.defined() ? ops::sum_to(gb, sb) : gb};
  });
}

std::pair<Tensor, Tensor> pair(Tensor a, Tensor b) {
  return {std::move(a), std::move(b)};
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = ops::binary(BinaryOp::add, a, b);
  if (!needs_grad({&a, &b})) return out;
  return record_binary("add", out, a, b, [](const Tensor& gy) { return pair(gy, gy); });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = ops::binary(BinaryOp::sub, a, b);
  if (!needs_grad({&a, &b})) return out;
  return record_binary("sub", out, a, b,
                       [](const Tensor& gy) { return pair(gy, ops::unary(UnaryOp::neg, gy)); });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = ops::binary(BinaryOp::mul, a, b);
  if (!needs_grad({&a, &b})) return out;
  Tensor sa = a.detach(), sb = b.detach();
  return record_binary("mul", out, a, b, [sa, sb](const Tensor& gy) {
    return pair(ops::binary(BinaryOp::mul, gy, sb), ops::binary(BinaryOp::mul, gy, sa));
  });
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = ops::binary(BinaryOp::div, a, b);
  if (!needs_grad({&a, &b})) return out;
  Tensor sb = b.detach(), sy = out.detach();
  return record_binary("div", out, a, b, [sb, sy](const Tensor& gy) {
    Tensor ga = ops::binary(BinaryOp::div, gy, sb);                            // d/da (a/b) = 1/b
    Tensor gb = ops::unary(UnaryOp::neg, ops::binary(BinaryOp::mul, ga, sy));  // -gy*a/b^2
    return pair(ga, gb);
  });
}

namespace {

// Records a one-input op whose backward is gy -> f(gy).
template <typename F>
Tensor record_unary(const char* name, Tensor out, const Tensor& a, F f) {
  return tape().record(name, std::move(out), {a},
                       [f](const Tensor& gy) -> std::vector<Tensor> { return {f(gy)}; });
}

}  // namespace

Tensor add(const Tensor& a, double s) {
  Tensor out = ops::scalar(ScalarOp::add, a, s);
  if (!needs_grad({&a})) return out;
  return record_unary("add_scalar", out, a, [](const Tensor& gy) { return gy; });
}

Tensor mul(const Tensor& a, double s) {
  Tensor out = ops::scalar(ScalarOp::mul, a, s);
  if (!needs_grad({&a})) return out;
  return record_unary("mul_scalar", out, a,
                      [s](const Tensor& gy) { return ops::scalar(ScalarOp::mul, gy, s); });
}

Tensor rsub(const Tensor& a, double s) {
  Tensor out = ops::scalar(ScalarOp::rsub, a, s);
  if (!needs_grad({&a})) return out;
  return record_unary("rsub_scalar", out, a,
                      [](const Tensor& gy) { return ops::unary(UnaryOp::neg, gy); });
}

Tensor rdiv(const Tensor& a, double s) {
  Tensor out = ops::scalar(ScalarOp::rdiv, a, s);
  if (!needs_grad({&a})) return out;
  Tensor sa = a.detach(), sy = out.detach();
  return record_unary("rdiv_scalar", out, a, [sa, sy](const Tensor& gy) {
    // d/da (s/a) = -s/a^2 = -y/a
    Tensor r = ops::binary(BinaryOp::div, sy, sa);
    return ops::unary(UnaryOp::neg, ops::binary(BinaryOp::mul, gy, r));
  });
}

Tensor pow(const Tensor& a, double p) {
  Tensor out = ops::scalar(ScalarOp::pow, a, p);
  if (!needs_grad({&a})) return out;
  Tensor sa = a.detach();
  return record_unary("pow", out, a, [sa, p](const Tensor& gy) {
    Tensor d = ops::scalar(ScalarOp::mul, ops::scalar(ScalarOp::pow, sa, p - 1), p);
    return ops::binary(BinaryOp::mul, gy, d);
  });
}

Tensor neg(const Tensor& a) {
  Tensor out = ops::unary(UnaryOp::neg, a);
  if (!needs_grad({&a})) return out;
  return record_unary("neg", out, a, [](const Tensor& gy) { return ops::unary(UnaryOp::neg, gy); });
}

Tensor exp(const Tensor& a) {
  Tensor out = ops::unary(UnaryOp::exp, a);
  if (!needs_grad({&a})) return out;
  Tensor sy = out.detach();
  return record_unary("exp", out, a,
                      [sy](const Tensor& gy) { return ops::binary(BinaryOp::mul, gy, sy); });
}

Tensor log(const Tensor& a) {
  Tensor out = ops::unary(UnaryOp::log, a);
  if (!needs_grad({&a})) return out;
  Tensor sa = a.detach();
  return record_unary("log", out, a,
                      [sa](const Tensor& gy) { return ops::binary(BinaryOp::div, gy, sa); });
}

Tensor sqrt(const Tensor& a) {
  Tensor out = ops::unary(UnaryOp::sqrt, a);
  if (!needs_grad({&a})) return out;
  Tensor sy = out.detach();
  return record_unary("sqrt", out, a, [sy](const Tensor& gy) {
    return ops::scalar(ScalarOp::mul, ops::binary(BinaryOp::div, gy, sy), 0.5);
  });
}

Tensor relu(const Tensor& a) {
  Tensor out = ops::unary(UnaryOp::relu, a);
  if (!needs_grad({&a})) return out;
  Tensor sa = a.detach();
  return record_unary("relu", out, a,
                      [sa](const Tensor& gy) { return ops::relu_backward(sa, gy); });
}

Tensor operator+(const Tensor& a, const Tensor& b) {
  return add(a, b);
}
Tensor operator-(const Tensor& a, const Tensor& b) {
  return sub(a, b);
}
Tensor operator*(const Tensor& a, const Tensor& b) {
  return mul(a, b);
}
Tensor operator/(const Tensor& a, const Tensor& b) {
  return div(a, b);
}
Tensor operator+(const Tensor& a, double s) {
  return add(a, s);
}
Tensor operator+(double s, const Tensor& a) {
  return add(a, s);
}
Tensor operator-(const Tensor& a, double s) {
  return add(a, -s);
}
Tensor operator-(double s, const Tensor& a) {
  return rsub(a, s);
}
Tensor operator*(const Tensor& a, double s) {
  return mul(a, s);
}
Tensor operator*(double s, const Tensor& a) {
  return mul(a, s);
}
Tensor operator/(const Tensor& a, double s) {
  return mul(a, 1.0 / s);
}
Tensor operator/(double s, const Tensor& a) {
  return rdiv(a, s);
}
Tensor operator-(const Tensor& a) {
  return neg(a);
}

}  // namespace tg
