// CPU-vs-CUDA parity of every op at the Tensor level, in the spirit of ggml's test-backend-ops:
// one table of named cases, each building seeded inputs on the CPU, running the op there and on
// the GPU (inputs moved with .to(Device::cuda())), and comparing by normalised error,
//   max |gpu - cpu| / (max |cpu| + tiny),
// against a float32 (1e-5) or float64 (1e-12) bound scaled by the length of the longest sum
// inside the op (sqrt(k) / 4 when that is above 1): rounding grows with the sum, indexing bugs
// give errors of order 1. NaN and infinities must sit in the same places. Copies, casts, index
// ops and argmax must match bit for bit.
//
// A case with gradients also runs backward of sum(out * w) on both devices, w fixed random
// weights of out's shape, and compares the gradient of every listed input the same way. Views
// (transposes, strided slices, permutes, expands) are made by the case's function on each
// device, so the GPU sees the same strides as the CPU.
//
// The last cases: errors that only the device can see (a label or an index out of range) are
// raised as tg::Error at the next synchronising call, and the device keeps working.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "autograd/autograd.h"
#include "cuda/cuda_test_util.h"
#include "tensor/creation.h"
#include "tensor/cuda.h"
#include "tensor/ops.h"
#include "test_util.h"

using namespace tg;
using tg::test::error_of;
using tg::test::has;

namespace {

constexpr Device kCuda = Device::cuda();
constexpr DType f32 = DType::f32, f64 = DType::f64, i32 = DType::i32, u8 = DType::u8;

// --- the harness ------------------------------------------------------------------------------

using In = std::vector<Tensor>;  // a case's inputs, on one device
using Fn = std::function<Tensor(const In&)>;

// Full float32 GEMMs while it lives: TF32 would need bounds near 1e-3.
class NoTf32 {
 public:
  NoTf32() : prev_(cuda::allow_tf32()) { cuda::set_allow_tf32(false); }
  ~NoTf32() { cuda::set_allow_tf32(prev_); }
  NoTf32(const NoTf32&) = delete;
  NoTf32& operator=(const NoTf32&) = delete;

 private:
  bool prev_;
};

struct Case {
  Case(std::string name_, In in_, Fn fn_)
      : name(std::move(name_)), in(std::move(in_)), fn(std::move(fn_)) {}
  Case& sums(double n) {  // the longest sum inside the op (forward or backward)
    k = n;
    return *this;
  }
  Case& grads(std::vector<size_t> inputs) {  // float inputs whose gradients are compared too
    grad = std::move(inputs);
    return *this;
  }
  Case& bitwise() {  // copies, casts, indexing, argmax: no rounding anywhere
    exact = true;
    return *this;
  }

  std::string name;  // the op, the shapes, the dtype: what a failure names
  In in;             // contiguous CPU tensors; fn makes any views itself
  Fn fn;
  double k = 1;
  std::vector<size_t> grad;
  bool exact = false;
};

struct Table {
  std::vector<Case> cases;
  Case& add(std::string name, In in, Fn fn) {
    return cases.emplace_back(std::move(name), std::move(in), std::move(fn));
  }
};

// max |got - want| / (max |want| + tiny); NaN and infinities must agree in place (and sign),
// else the error is infinite.
double nerr(const Tensor& got, const Tensor& want) {
  const std::vector<double> a = got.to_vector<double>(), b = want.to_vector<double>();
  constexpr double inf = std::numeric_limits<double>::infinity();
  if (a.size() != b.size()) return inf;
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) || std::isnan(b[i])) {
      if (std::isnan(a[i]) != std::isnan(b[i])) return inf;
      continue;
    }
    if (std::isinf(a[i]) || std::isinf(b[i])) {
      if (a[i] != b[i]) return inf;
      continue;
    }
    num = std::max(num, std::fabs(a[i] - b[i]));
    den = std::max(den, std::fabs(b[i]));
  }
  return num / (den + 1e-30);
}

double tolerance(DType dt, double k) {
  return (dt == f64 ? 1e-12 : 1e-5) * std::max(1.0, std::sqrt(k) / 4);
}

void check_close(const Case& c, const std::string& what, const Tensor& got, const Tensor& want) {
  INFO(c.name, " (", what, ")");
  REQUIRE(want.defined());
  if (!got.defined()) {
    FAIL_CHECK("no result on the GPU");
    return;
  }
  CHECK_MESSAGE(got.device().is_cuda(), "the result is on ", got.device().str());
  if (got.shape() != want.shape() || got.dtype() != want.dtype()) {
    FAIL_CHECK("GPU ", dtype_name(got.dtype()), " ", got.shape_str(), " vs CPU ",
               dtype_name(want.dtype()), " ", want.shape_str());
    return;
  }
  const double e = nerr(got, want), tol = c.exact ? 0.0 : tolerance(want.dtype(), c.k);
  CHECK_MESSAGE(e <= tol, "normalised error ", e, " > tolerance ", tol);
}

// The case's inputs on dev: fresh tensors, so that requires_grad_ never touches the table.
In inputs_on(const Case& c, Device dev) {
  In out;
  for (const Tensor& t : c.in) out.push_back(dev.is_cpu() ? t.clone() : t.to(dev));
  return out;
}

// Gradients of sum(fn(in) * w) on dev for the inputs c.grad lists, w the same on both devices.
In grads_on(const Case& c, Device dev) {
  In in = inputs_on(c, dev);
  for (size_t i : c.grad) in[i].requires_grad_();
  const Tensor out = c.fn(in);
  Generator gen(99);
  const Tensor w = randn(out.shape(), gen, out.dtype()).to(dev);
  backward(sum(mul(out, w)));
  In g;
  for (size_t i : c.grad) g.push_back(in[i].grad());
  return g;
}

void run(const Case& c) {
  const Tensor want = c.fn(c.in);
  const Tensor got = c.fn(inputs_on(c, kCuda));
  check_close(c, "forward", got, want);
  if (c.grad.empty()) return;
  const In gw = grads_on(c, Device::cpu()), gg = grads_on(c, kCuda);
  for (size_t j = 0; j < c.grad.size(); ++j)
    check_close(c, "gradient of input " + std::to_string(c.grad[j]), gg[j], gw[j]);
}

// Every case, each named in its failures; one that throws fails alone and the others still run.
void run(const Table& t) {
  for (const Case& c : t.cases) {
    try {
      run(c);
    } catch (const std::exception& e) {
      FAIL_CHECK(c.name, ": threw ", tg::test::messages(e));
    }
  }
  MESSAGE(t.cases.size(), " cases compared");
}

// Seeded inputs on the CPU.
struct Rand {
  Generator gen;
  explicit Rand(uint64_t seed) : gen(seed) {}
  Tensor normal(const Shape& s, DType dt = f32) { return randn(s, gen, dt); }
  Tensor uniform(const Shape& s, double lo, double hi, DType dt = f32) {
    return tg::uniform(s, lo, hi, gen, dt);
  }
  // Integers in [lo, hi) as dt: ties for comparisons and argmax, exact values for casts.
  Tensor ints(const Shape& s, int64_t lo, int64_t hi, DType dt = f32) {
    return randint(lo, hi, s, gen).to(dt);
  }
  Tensor labels(int64_t n, int64_t c) { return randint(0, c, {n}, gen); }
  // Values of any dtype over a wide range: floats with fractions and negatives (truncation and
  // the modular wrap of casts), int32 beyond uint8, every uint8.
  Tensor wide(const Shape& s, DType dt) {
    if (is_floating(dt)) return uniform(s, -300, 300, dt);
    return dt == i32 ? ints(s, -1000, 1000, i32) : ints(s, 0, 256, u8);
  }
};

// Every 7th element NaN (float32).
Tensor with_nans(Tensor x) {
  float* p = x.data<float>();
  for (int64_t i = 0; i < x.numel(); i += 7) p[i] = std::numeric_limits<float>::quiet_NaN();
  return x;
}

std::string str(const Shape& s) {
  return shape_str(s);
}

// --- layouts: how an input is viewed before the op --------------------------------------------

using ViewFn = Tensor (*)(const Tensor&);

Tensor as_is(const Tensor& x) {
  return x;
}
Tensor transposed(const Tensor& x) {  // differentiable (tg::t), a strided view
  return tg::t(x);
}
Tensor every_third_column(const Tensor& x) {
  return x.slice(1, 0, x.size(1), 3);
}
Tensor permuted(const Tensor& x) {
  return x.permute({2, 0, 1});
}
Tensor expanded(const Tensor& x) {
  return x.expand({33, x.size(1)});
}

struct Layout {
  const char* name;
  Shape base;
  ViewFn view;
  bool differentiable;  // only tg:: views can carry a gradient back
};

const Layout kLayouts[] = {
    {"[1]", {1}, as_is, true},
    {"[7]", {7}, as_is, true},
    {"[33, 7]", {33, 7}, as_is, true},
    {"[100003]", {100003}, as_is, true},
    {"[7, 33].t()", {7, 33}, transposed, true},
    {"[33, 21] every 3rd column", {33, 21}, every_third_column, false},
    {"[3, 5, 7].permute(2, 0, 1)", {3, 5, 7}, permuted, false},
    {"[1, 7].expand(33, 7)", {1, 7}, expanded, false},
};

// --- op tables --------------------------------------------------------------------------------

struct UnaryEntry {
  UnaryOp op;
  const char* name;
  bool positive;        // log, sqrt, reciprocal: inputs in [0.1, 3)
  bool differentiable;  // has a tg:: function with a backward
};
const UnaryEntry kUnary[] = {
    {UnaryOp::neg, "neg", false, true},        {UnaryOp::exp, "exp", false, true},
    {UnaryOp::log, "log", true, true},         {UnaryOp::relu, "relu", false, true},
    {UnaryOp::sqrt, "sqrt", true, true},       {UnaryOp::abs, "abs", false, false},
    {UnaryOp::tanh, "tanh", false, false},     {UnaryOp::sigmoid, "sigmoid", false, false},
    {UnaryOp::square, "square", false, false}, {UnaryOp::reciprocal, "reciprocal", true, false},
};

Fn unary_fn(UnaryOp op, ViewFn view) {
  return [op, view](const In& in) -> Tensor {
    const Tensor x = view(in[0]);
    switch (op) {
      case UnaryOp::neg:
        return tg::neg(x);
      case UnaryOp::exp:
        return tg::exp(x);
      case UnaryOp::log:
        return tg::log(x);
      case UnaryOp::relu:
        return tg::relu(x);
      case UnaryOp::sqrt:
        return tg::sqrt(x);
      default:
        return ops::unary(op, x);
    }
  };
}

struct ScalarEntry {
  ScalarOp op;
  const char* name;
  double s;
  bool positive;
};
const ScalarEntry kScalar[] = {
    {ScalarOp::add, "add 1.5", 1.5, false},   {ScalarOp::mul, "mul -2.5", -2.5, false},
    {ScalarOp::pow, "pow 2", 2, false},       {ScalarOp::pow, "pow 3", 3, false},
    {ScalarOp::pow, "pow 0.5", 0.5, true},    {ScalarOp::pow, "pow -1.5", -1.5, true},
    {ScalarOp::rsub, "rsub 3", 3, false},     {ScalarOp::rdiv, "rdiv 2", 2, true},
    {ScalarOp::max, "max 0.25", 0.25, false}, {ScalarOp::min, "min -0.25", -0.25, false},
};

Fn scalar_fn(ScalarOp op, double s, ViewFn view) {
  return [op, s, view](const In& in) -> Tensor {
    const Tensor x = view(in[0]);
    switch (op) {
      case ScalarOp::add:
        return tg::add(x, s);
      case ScalarOp::mul:
        return tg::mul(x, s);
      case ScalarOp::pow:
        return tg::pow(x, s);
      case ScalarOp::rsub:
        return tg::rsub(x, s);
      case ScalarOp::rdiv:
        return tg::rdiv(x, s);
      default:
        return ops::scalar(op, x, s);
    }
  };
}
bool differentiable(ScalarOp op) {
  return op != ScalarOp::max && op != ScalarOp::min;
}

struct BinaryEntry {
  BinaryOp op;
  const char* name;
};
const BinaryEntry kBinary[] = {
    {BinaryOp::add, "add"}, {BinaryOp::sub, "sub"}, {BinaryOp::mul, "mul"}, {BinaryOp::div, "div"},
    {BinaryOp::max, "max"}, {BinaryOp::min, "min"}, {BinaryOp::eq, "eq"},   {BinaryOp::ne, "ne"},
    {BinaryOp::lt, "lt"},   {BinaryOp::le, "le"},   {BinaryOp::gt, "gt"},   {BinaryOp::ge, "ge"}};

bool differentiable(BinaryOp op) {
  return op == BinaryOp::add || op == BinaryOp::sub || op == BinaryOp::mul || op == BinaryOp::div;
}
bool comparison(BinaryOp op) {
  return op >= BinaryOp::eq;
}

Fn binary_fn(BinaryOp op, ViewFn va, ViewFn vb) {
  return [op, va, vb](const In& in) -> Tensor {
    const Tensor a = va(in[0]), b = vb(in[1]);
    switch (op) {
      case BinaryOp::add:
        return tg::add(a, b);
      case BinaryOp::sub:
        return tg::sub(a, b);
      case BinaryOp::mul:
        return tg::mul(a, b);
      case BinaryOp::div:
        return tg::div(a, b);
      default:
        return ops::binary(op, a, b);
    }
  };
}

struct Pair {
  const char* name;
  Shape a, b;
  ViewFn va, vb;
  bool differentiable;
};
const Pair kPairs[] = {
    {"[33, 7] with [33, 7]", {33, 7}, {33, 7}, as_is, as_is, true},
    {"[7, 1, 33] with [1, 5, 1]", {7, 1, 33}, {1, 5, 1}, as_is, as_is, true},
    {"[33, 7] with a [7] row", {33, 7}, {7}, as_is, as_is, true},
    {"[33, 7] with a [] scalar tensor", {33, 7}, {}, as_is, as_is, true},
    {"a [] scalar tensor with [33, 7]", {}, {33, 7}, as_is, as_is, true},
    {"[7, 33].t() with [33, 7]", {7, 33}, {33, 7}, transposed, as_is, true},
    {"[33, 7] with [7, 33].t()", {33, 7}, {7, 33}, as_is, transposed, true},
    {"[33, 21] every 3rd column with [33, 1]", {33, 21}, {33, 1}, every_third_column, as_is, false},
    {"[3, 5, 7].permute(2, 0, 1) with [5]", {3, 5, 7}, {5}, permuted, as_is, false},
    {"[1, 7].expand(33, 7) with [33, 1]", {1, 7}, {33, 1}, expanded, as_is, false},
    {"[100003] with [1]", {100003}, {1}, as_is, as_is, true},
};

// Inputs of a binary op: small integers for comparisons (so that equality happens), a divisor
// away from zero for div, normals otherwise.
Tensor binary_input(Rand& r, BinaryOp op, const Shape& s, bool second, DType dt) {
  if (comparison(op)) return r.ints(s, -2, 3, dt);
  if (op == BinaryOp::div && second) return r.uniform(s, 0.5, 2, dt);
  return r.normal(s, dt);
}

Fn reduce_fn(ReduceOp op, std::vector<int64_t> dims, bool keepdim) {
  return [op, dims, keepdim](const In& in) -> Tensor {
    const Tensor& x = in[0];
    if (op == ReduceOp::max || op == ReduceOp::min) return ops::reduce(op, x, dims, keepdim);
    const bool is_sum = op == ReduceOp::sum;  // sum and mean through their tg:: forms
    if (dims.empty() && !keepdim) return is_sum ? tg::sum(x) : tg::mean(x);
    std::vector<int64_t> d = dims;
    if (d.empty())
      for (int64_t i = 0; i < x.dim(); ++i) d.push_back(i);
    return is_sum ? tg::sum(x, d, keepdim) : tg::mean(x, d, keepdim);
  };
}

const char* reduce_name(ReduceOp op) {
  static const char* names[] = {"sum", "mean", "max", "min"};
  return names[static_cast<int>(op)];
}

}  // namespace

// --- elementwise ------------------------------------------------------------------------------

TEST_CASE("parity: every unary op, contiguous and strided, float32 and float64") {
  TG_SKIP_WITHOUT_CUDA();
  Rand r(1);
  Table t;
  for (const UnaryEntry& u : kUnary) {
    auto input = [&](const Shape& s, DType dt) {
      return u.positive ? r.uniform(s, 0.1, 3, dt) : r.uniform(s, -4, 4, dt);
    };
    for (const Layout& l : kLayouts) {
      Case& c = t.add(std::string("unary ") + u.name + " " + l.name + " float32",
                      {input(l.base, f32)}, unary_fn(u.op, l.view));
      if (u.differentiable && l.differentiable) c.grads({0});
    }
    Case& c = t.add(std::string("unary ") + u.name + " [7, 33].t() float64", {input({7, 33}, f64)},
                    unary_fn(u.op, transposed));
    if (u.differentiable) c.grads({0});
  }
  // NaN in the same places: log and sqrt of negatives, NaN through the others.
  for (UnaryOp op : {UnaryOp::log, UnaryOp::sqrt})
    t.add(std::string("unary ") + kUnary[static_cast<int>(op)].name + " of negatives (NaN)",
          {r.uniform({33, 7}, -1, 1)}, unary_fn(op, as_is));
  for (UnaryOp op : {UnaryOp::exp, UnaryOp::relu, UnaryOp::abs, UnaryOp::tanh, UnaryOp::sigmoid})
    t.add(std::string("unary ") + kUnary[static_cast<int>(op)].name + " of NaN",
          {with_nans(r.normal({33, 7}))}, unary_fn(op, as_is));
  // exp and sigmoid at the ends of float32: overflow to inf, underflow to 0, no NaN.
  for (UnaryOp op : {UnaryOp::exp, UnaryOp::sigmoid, UnaryOp::tanh})
    t.add(std::string("unary ") + kUnary[static_cast<int>(op)].name + " of [-200, 200]",
          {r.uniform({1023}, -200, 200)}, unary_fn(op, as_is));
  run(t);
}

TEST_CASE("parity: every scalar op, contiguous and strided, float32 and float64") {
  TG_SKIP_WITHOUT_CUDA();
  Rand r(2);
  Table t;
  for (const ScalarEntry& e : kScalar) {
    auto input = [&](const Shape& s, DType dt) {
      return e.positive ? r.uniform(s, 0.1, 3, dt) : r.uniform(s, -3, 3, dt);
    };
    for (const Layout& l : kLayouts) {
      Case& c = t.add(std::string("scalar ") + e.name + " " + l.name + " float32",
                      {input(l.base, f32)}, scalar_fn(e.op, e.s, l.view));
      if (differentiable(e.op) && l.differentiable) c.grads({0});
    }
    Case& c = t.add(std::string("scalar ") + e.name + " [33, 7] float64", {input({33, 7}, f64)},
                    scalar_fn(e.op, e.s, as_is));
    if (differentiable(e.op)) c.grads({0});
  }
  // max/min with a scalar propagate NaN, as torch.clamp does.
  t.add("scalar max 0 of NaN", {with_nans(r.normal({33, 7}))}, scalar_fn(ScalarOp::max, 0, as_is));
  t.add("scalar min 0 of NaN", {with_nans(r.normal({33, 7}))}, scalar_fn(ScalarOp::min, 0, as_is));
  run(t);
}

TEST_CASE("parity: every binary op with broadcasting and strided views") {
  TG_SKIP_WITHOUT_CUDA();
  Rand r(3);
  Table t;
  for (const BinaryEntry& b : kBinary) {
    for (const Pair& p : kPairs) {
      Case& c =
          t.add(std::string("binary ") + b.name + " " + p.name + " float32",
                {binary_input(r, b.op, p.a, false, f32), binary_input(r, b.op, p.b, true, f32)},
                binary_fn(b.op, p.va, p.vb));
      if (differentiable(b.op) && p.differentiable) c.grads({0, 1});
    }
    for (size_t i : {1, 2}) {  // float64: the 3-d broadcast and the bias row
      const Pair& p = kPairs[i];
      Case& c =
          t.add(std::string("binary ") + b.name + " " + p.name + " float64",
                {binary_input(r, b.op, p.a, false, f64), binary_input(r, b.op, p.b, true, f64)},
                binary_fn(b.op, p.va, p.vb));
      if (differentiable(b.op)) c.grads({0, 1});
    }
  }
  // max/min propagate NaN from either side.
  for (BinaryOp op : {BinaryOp::max, BinaryOp::min}) {
    t.add(std::string("binary ") + kBinary[static_cast<int>(op)].name + " with NaN on the left",
          {with_nans(r.normal({33, 7})), r.normal({33, 7})}, binary_fn(op, as_is, as_is));
    t.add(std::string("binary ") + kBinary[static_cast<int>(op)].name + " with NaN on the right",
          {r.normal({33, 7}), with_nans(r.normal({33, 7}))}, binary_fn(op, as_is, as_is));
  }
  run(t);
}

TEST_CASE("parity: relu, relu_backward with exact zeros in x, and axpy_") {
  TG_SKIP_WITHOUT_CUDA();
  Rand r(4);
  Table t;
  for (const Shape& s : {Shape{33, 7}, Shape{100003}}) {
    t.add("relu_backward " + str(s) + " with zeros in x", {r.ints(s, -2, 3), r.normal(s)},
          [](const In& in) { return ops::relu_backward(in[0], in[1]); });
    t.add("relu " + str(s) + " with grad", {r.normal(s)}, [](const In& in) {
       return tg::relu(in[0]);
     }).grads({0});
  }
  t.add("relu_backward [33, 7] float64", {r.ints({33, 7}, -2, 3, f64), r.normal({33, 7}, f64)},
        [](const In& in) { return ops::relu_backward(in[0], in[1]); });
  // axpy_: y += alpha * x in place (how gradients accumulate), x with any strides.
  for (DType dt : {f32, f64})
    for (size_t i : {2, 3, 4, 5, 7}) {  // [33, 7], [100003], .t(), every 3rd column, expanded
      const Layout& l = kLayouts[i];
      const ViewFn view = l.view;
      const Tensor y = r.normal(view(r.normal(l.base)).shape(), dt);
      t.add(std::string("axpy_ y += -0.75 * ") + l.name + " " + dtype_name(dt),
            {y, r.normal(l.base, dt)}, [view](const In& in) {
              Tensor out = in[0].clone();
              ops::axpy_(out, -0.75, view(in[1]));
              return out;
            });
    }
  run(t);
}

// --- reductions -------------------------------------------------------------------------------

TEST_CASE("parity: sum mean max min over everything and along each axis, keepdim both ways") {
  TG_SKIP_WITHOUT_CUDA();
  Rand r(5);
  Table t;
  const Shape shapes[] = {{1}, {7}, {33, 7}, {1023}, {3, 1023, 5}};
  for (const Shape& s : shapes) {
    std::vector<std::vector<int64_t>> dim_sets = {{}};
    for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d) dim_sets.push_back({d});
    dim_sets.push_back({-1});
    for (ReduceOp op : {ReduceOp::sum, ReduceOp::mean, ReduceOp::max, ReduceOp::min}) {
      const bool smooth = op == ReduceOp::sum || op == ReduceOp::mean;
      // Sums of values with a positive mean: no cancellation, so the relative error is honest.
      const Tensor x = smooth ? r.uniform(s, -0.5, 1.5) : r.normal(s);
      for (const auto& dims : dim_sets) {
        double k = 1;
        for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d)
          if (dims.empty() ||
              d == (dims[0] + static_cast<int64_t>(s.size())) % static_cast<int64_t>(s.size()))
            k *= static_cast<double>(s[static_cast<size_t>(d)]);
        for (bool keepdim : {false, true}) {
          Case& c = t.add(std::string(reduce_name(op)) + " " + str(s) + " dims " +
                              (dims.empty() ? "all" : str(dims)) + (keepdim ? " keepdim" : "") +
                              " float32",
                          {x}, reduce_fn(op, dims, keepdim));
          c.sums(k);
          if (smooth) c.grads({0});
        }
      }
    }
  }
  // Dims that are not one contiguous run (permuted and copied first), and strided inputs.
  for (ReduceOp op : {ReduceOp::sum, ReduceOp::mean, ReduceOp::max, ReduceOp::min}) {
    const bool smooth = op == ReduceOp::sum || op == ReduceOp::mean;
    Case& c = t.add(std::string(reduce_name(op)) + " [3, 1023, 5] dims [0, 2] float32",
                    {r.uniform({3, 1023, 5}, -0.5, 1.5)}, reduce_fn(op, {0, 2}, false));
    c.sums(15);
    if (smooth) c.grads({0});
    t.add(std::string(reduce_name(op)) + " of [1023, 33].t() dims [1]",
          {r.uniform({1023, 33}, -0.5, 1.5)},
          [op](const In& in) { return ops::reduce(op, in[0].t(), {1}, false); })
        .sums(1023);
    t.add(std::string(reduce_name(op)) + " [3, 1023, 5] dims [1] float64",
          {r.uniform({3, 1023, 5}, -0.5, 1.5, f64)}, reduce_fn(op, {1}, true))
        .sums(1023);
    t.add(std::string(reduce_name(op)) + " [3, 1023, 5] all float64",
          {r.uniform({3, 1023, 5}, -0.5, 1.5, f64)}, reduce_fn(op, {}, false))
        .sums(3 * 1023 * 5);
  }
  // max and min propagate NaN.
  for (ReduceOp op : {ReduceOp::max, ReduceOp::min})
    t.add(std::string(reduce_name(op)) + " [33, 7] dims [0] with NaN",
          {with_nans(r.normal({33, 7}))}, reduce_fn(op, {0}, false));
  run(t);
}

TEST_CASE("parity: argmax along each axis, with ties and NaN") {
  TG_SKIP_WITHOUT_CUDA();
  Rand r(6);
  Table t;
  const Shape shapes[] = {{1}, {7}, {33, 7}, {1023}, {3, 1023, 5}};
  for (const Shape& s : shapes) {
    const Tensor x = r.normal(s);
    for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d)
      for (bool keepdim : {false, true})
        t.add("argmax " + str(s) + " dim " + std::to_string(d) + (keepdim ? " keepdim" : ""), {x},
              [d, keepdim](const In& in) { return argmax(in[0], d, keepdim); })
            .bitwise();
  }
  // Ties: the first index of the maximum. NaN: the first NaN wins.
  for (int64_t d : {0, 1}) {
    t.add("argmax [33, 7] of small integers (ties) dim " + std::to_string(d),
          {r.ints({33, 7}, 0, 3)}, [d](const In& in) { return argmax(in[0], d); })
        .bitwise();
    t.add("argmax [33, 7] with NaN dim " + std::to_string(d), {with_nans(r.normal({33, 7}))},
          [d](const In& in) { return argmax(in[0], d); })
        .bitwise();
  }
  t.add("argmax [3, 1023, 5] float64 dim 1", {r.normal({3, 1023, 5}, f64)}, [](const In& in) {
     return argmax(in[0], 1);
   }).bitwise();
  t.add("argmax of [7, 33].t() dim 1", {r.normal({7, 33})}, [](const In& in) {
     return argmax(in[0].t(), 1);
   }).bitwise();
  run(t);
}

TEST_CASE("parity: sum_to, the gradient of a broadcast") {
  TG_SKIP_WITHOUT_CUDA();
  Rand r(7);
  Table t;
  const Shape g = {7, 5, 33};
  const Shape targets[] = {{7, 5, 33}, {7, 1, 33}, {5, 1}, {33}, {1, 1, 1}, {1, 5, 33}, {}};
  for (const Shape& s : targets) {
    const double k = static_cast<double>(shape_numel(g) / shape_numel(s));
    t.add("sum_to " + str(g) + " -> " + str(s), {r.normal(g)}, [s](const In& in) {
       return ops::sum_to(in[0], s);
     }).sums(k);
  }
  t.add("sum_to [7, 5, 33] -> [5, 1] float64", {r.normal(g, f64)}, [](const In& in) {
     return ops::sum_to(in[0], {5, 1});
   }).sums(7 * 33);
  run(t);
}

// --- matmul and linear ------------------------------------------------------------------------

TEST_CASE("parity: matmul for all four transpose flags, views and float64") {
  TG_SKIP_WITHOUT_CUDA();
  NoTf32 exact;
  Rand r(8);
  Table t;
  struct Mkn {
    int64_t m, k, n;
  };
  const Mkn sizes[] = {{1, 1, 1}, {7, 33, 5}, {33, 1023, 7}, {127, 129, 131}};
  for (const Mkn& z : sizes) {
    const std::string mkn = "(m, k, n) = (" + std::to_string(z.m) + ", " + std::to_string(z.k) +
                            ", " + std::to_string(z.n) + ")";
    const double longest = static_cast<double>(std::max({z.m, z.k, z.n}));
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        const Tensor a = r.normal(ta ? Shape{z.k, z.m} : Shape{z.m, z.k});
        const Tensor b = r.normal(tb ? Shape{z.n, z.k} : Shape{z.k, z.n});
        const std::string flags =
            std::string(" trans_a=") + (ta ? "1" : "0") + " trans_b=" + (tb ? "1" : "0");
        t.add("ops::matmul " + mkn + flags, {a, b}, [ta, tb](const In& in) {
           return ops::matmul(in[0], in[1], ta, tb);
         }).sums(static_cast<double>(z.k));
        // The same product with the transposes as views (the GEMM's flag comes from the strides),
        // through the differentiable matmul, whose backward uses the flags the other way round.
        t.add("tg::matmul of views " + mkn + flags, {a, b},
              [ta, tb](const In& in) {
                return tg::matmul(ta ? tg::t(in[0]) : in[0], tb ? tg::t(in[1]) : in[1]);
              })
            .sums(longest)
            .grads({0, 1});
      }
    t.add("ops::matmul float64 " + mkn, {r.normal({z.m, z.k}, f64), r.normal({z.n, z.k}, f64)},
          [](const In& in) { return ops::matmul(in[0], in[1], false, true); })
        .sums(static_cast<double>(z.k));
  }
  auto mm = [](const In& in) { return ops::matmul(in[0], in[1]); };
  // Row-major views with a leading dimension larger than the row, a column-major view with one,
  // and a view with no unit stride (copied first).
  t.add("matmul a = [33, 40].narrow(1, 0, 37), b = [37, 12].narrow(1, 0, 7)",
        {r.normal({33, 40}), r.normal({37, 12})},
        [](const In& in) { return ops::matmul(in[0].narrow(1, 0, 37), in[1].narrow(1, 0, 7)); })
      .sums(37);
  t.add("matmul a = [40, 33].narrow(0, 0, 37).t(), b = [7, 37].t()",
        {r.normal({40, 33}), r.normal({7, 37})},
        [](const In& in) { return ops::matmul(in[0].narrow(0, 0, 37).t(), in[1].t()); })
      .sums(37);
  t.add("matmul a = [33, 74] every 2nd column, b = [37, 7]",
        {r.normal({33, 74}), r.normal({37, 7})},
        [](const In& in) { return ops::matmul(in[0].slice(1, 0, 74, 2), in[1]); })
      .sums(37);
  t.add("matmul n-d a [3, 5, 33] @ [33, 7]", {r.normal({3, 5, 33}), r.normal({33, 7})},
        [](const In& in) { return tg::matmul(in[0], in[1]); })
      .sums(33)
      .grads({0, 1});
  t.add("matmul empty inner dim (5, 0, 3)", {r.normal({5, 0}), r.normal({0, 3})}, mm);
  t.add("matmul no rows (0, 4, 3)", {r.normal({0, 4}), r.normal({4, 3})}, mm);
  // linear: x @ w^T + b, one GEMM each way in the backward.
  auto lin = [](const In& in) { return tg::linear(in[0], in[1], in[2]); };
  t.add("linear [33, 20] x [7, 20] + [7]", {r.normal({33, 20}), r.normal({7, 20}), r.normal({7})},
        lin)
      .sums(33)
      .grads({0, 1, 2});
  t.add("linear [3, 11, 20] x [7, 20] + [7]",
        {r.normal({3, 11, 20}), r.normal({7, 20}), r.normal({7})}, lin)
      .sums(33)
      .grads({0, 1, 2});
  t.add("linear [64, 784] x [50, 784] + [50]",
        {r.normal({64, 784}), r.normal({50, 784}), r.normal({50})}, lin)
      .sums(784)
      .grads({0, 1, 2});
  t.add("linear without bias", {r.normal({33, 20}), r.normal({7, 20})},
        [](const In& in) { return tg::linear(in[0], in[1], Tensor()); })
      .sums(33)
      .grads({0, 1});
  t.add("linear float64", {r.normal({33, 20}, f64), r.normal({7, 20}, f64), r.normal({7}, f64)},
        lin)
      .sums(33)
      .grads({0, 1, 2});
  run(t);
}

// --- softmax and losses -----------------------------------------------------------------------

TEST_CASE("parity: softmax and log_softmax, forward and backward") {
  TG_SKIP_WITHOUT_CUDA();
  Rand r(9);
  Table t;
  auto sm = [](const In& in) { return tg::softmax(in[0]); };
  auto lsm = [](const In& in) { return tg::log_softmax(in[0]); };
  auto sm_b = [](const In& in) { return ops::softmax_backward(in[0], in[1]); };
  auto lsm_b = [](const In& in) { return ops::log_softmax_backward(in[0], in[1]); };
  const Shape shapes[] = {{1, 1}, {33, 7}, {7, 1023}, {3, 5, 33}, {2, 10007}};
  for (const Shape& s : shapes) {
    const double cols = static_cast<double>(s.back());
    const Tensor x = r.normal(s);
    t.add("softmax " + str(s), {x}, sm).sums(cols).grads({0});
    t.add("log_softmax " + str(s), {x}, lsm).sums(cols).grads({0});
    t.add("softmax_backward " + str(s), {ops::softmax(x), r.normal(s)}, sm_b).sums(cols);
    t.add("log_softmax_backward " + str(s), {ops::log_softmax(x), r.normal(s)}, lsm_b).sums(cols);
  }
  // Large logits: the row maximum must come out first or exp overflows.
  const Tensor big = r.uniform({33, 7}, -100, 100);
  t.add("softmax of logits in [-100, 100]", {big}, sm).sums(7).grads({0});
  t.add("log_softmax of logits in [-100, 100]", {big}, lsm).sums(7).grads({0});
  t.add("softmax of rows of [7, 33].t()", {r.normal({7, 33})},
        [](const In& in) { return tg::softmax(tg::t(in[0])); })
      .sums(7)
      .grads({0});
  const Tensor x64 = r.normal({33, 7}, f64);
  t.add("softmax [33, 7] float64", {x64}, sm).sums(7).grads({0});
  t.add("log_softmax [33, 7] float64", {x64}, lsm).sums(7).grads({0});
  run(t);
}

TEST_CASE("parity: cross_entropy, label smoothing, its backward, nll_loss and mse") {
  TG_SKIP_WITHOUT_CUDA();
  Rand r(10);
  Table t;
  struct Nc {
    int64_t n, c;
  };
  const Nc sizes[] = {{1, 1}, {7, 33}, {64, 10}, {33, 1023}, {3, 10007}};
  for (const Nc& z : sizes) {
    const std::string nc = "(n, c) = (" + std::to_string(z.n) + ", " + std::to_string(z.c) + ")";
    const double k = static_cast<double>(std::max(z.n, z.c)), c = static_cast<double>(z.c);
    const double n = static_cast<double>(z.n);
    const Tensor x = r.normal({z.n, z.c}), y = r.labels(z.n, z.c);
    t.add("ops::cross_entropy loss " + nc, {x, y}, [](const In& in) {
       return ops::cross_entropy(in[0], in[1]).first;
     }).sums(k);
    t.add("ops::cross_entropy probs " + nc, {x, y}, [](const In& in) {
       return ops::cross_entropy(in[0], in[1]).second;
     }).sums(c);
    t.add("cross_entropy through the tape " + nc, {x, y},
          [](const In& in) { return tg::cross_entropy(in[0], in[1]); })
        .sums(k)
        .grads({0});
    const Tensor probs = ops::cross_entropy(x, y).second;
    t.add("ops::cross_entropy_backward, scale 1/n " + nc, {probs, y}, [n](const In& in) {
       return ops::cross_entropy_backward(in[0], in[1], 1.0 / n);
     }).sums(c);
    t.add("ops::cross_entropy_backward, gloss a [] tensor " + nc, {probs, y, r.normal({})},
          [n](const In& in) { return ops::cross_entropy_backward(in[0], in[1], in[2], 0.5 / n); })
        .sums(c);
    t.add("label_smoothing_cross_entropy 0.1 " + nc, {x, y},
          [](const In& in) { return tg::label_smoothing_cross_entropy(in[0], in[1], 0.1); })
        .sums(k)
        .grads({0});
    t.add("nll_loss of log_softmax " + nc, {x, y},
          [](const In& in) { return tg::nll_loss(tg::log_softmax(in[0]), in[1]); })
        .sums(k)
        .grads({0});
    t.add("nll_loss of log-probabilities " + nc, {ops::log_softmax(x), y},
          [](const In& in) { return tg::nll_loss(in[0], in[1]); })
        .sums(n)
        .grads({0});
  }
  const Tensor x64 = r.normal({64, 10}, f64), y64 = r.labels(64, 10);
  t.add("cross_entropy (64, 10) float64", {x64, y64},
        [](const In& in) { return tg::cross_entropy(in[0], in[1]); })
      .sums(64)
      .grads({0});
  auto mse = [](const In& in) { return tg::mse(in[0], in[1]); };
  t.add("mse [33, 7]", {r.normal({33, 7}), r.normal({33, 7})}, mse).sums(231).grads({0, 1});
  t.add("mse [100003]", {r.normal({100003}), r.normal({100003})}, mse).sums(100003).grads({0, 1});
  t.add("mse [3, 5, 7] float64", {r.normal({3, 5, 7}, f64), r.normal({3, 5, 7}, f64)}, mse)
      .sums(105)
      .grads({0, 1});
  run(t);
}

// --- indexing, fill, copies and casts ---------------------------------------------------------

TEST_CASE("parity: index_select, gather and scatter_add") {
  TG_SKIP_WITHOUT_CUDA();
  Rand r(11);
  Table t;
  for (DType dt : {f32, f64, i32, u8}) {
    const std::string d = std::string(" ") + dtype_name(dt);
    const Tensor x = r.wide({33, 7}, dt), x3 = r.wide({3, 1023, 5}, dt),
                 g3 = r.wide({3, 17, 5}, dt);
    auto sel = [](int64_t dim) {
      return [dim](const In& in) { return in[0].index_select(dim, in[1]); };
    };
    t.add("index_select [33, 7] dim 0, 50 indices with repeats" + d, {x, r.ints({50}, 0, 33, i32)},
          sel(0))
        .bitwise();
    t.add("index_select [33, 7] dim 1" + d, {x, r.ints({10}, 0, 7, i32)}, sel(1)).bitwise();
    t.add("index_select [3, 1023, 5] dim 1" + d, {x3, r.ints({17}, 0, 1023, i32)}, sel(1))
        .bitwise();
    t.add("index_select [3, 1023, 5] dim -1" + d, {x3, r.ints({8}, 0, 5, i32)}, sel(-1)).bitwise();
    t.add("index_select with an empty index" + d, {x, from_vector<int32_t>({}, {0})}, sel(0))
        .bitwise();
    auto gat = [](int64_t dim) { return [dim](const In& in) { return in[0].gather(dim, in[1]); }; };
    t.add("gather [33, 7] dim 1 index [33, 3]" + d, {x, r.ints({33, 3}, 0, 7, i32)}, gat(1))
        .bitwise();
    t.add("gather [33, 7] dim 0 index [5, 7]" + d, {x, r.ints({5, 7}, 0, 33, i32)}, gat(0))
        .bitwise();
    t.add("gather [3, 17, 5] dim 1 index [3, 4, 5]" + d, {g3, r.ints({3, 4, 5}, 0, 17, i32)},
          gat(1))
        .bitwise();
  }
  for (DType dt : {f32, f64}) {
    const std::string d = std::string(" ") + dtype_name(dt);
    auto scat = [](Shape shape, int64_t dim) {
      return [shape, dim](const In& in) { return ops::scatter_add(in[0], shape, dim, in[1]); };
    };
    t.add("scatter_add [33, 3] into [33, 7] dim 1" + d,
          {r.normal({33, 3}, dt), r.ints({33, 3}, 0, 7, i32)}, scat({33, 7}, 1))
        .sums(3);
    t.add("scatter_add [50, 7] into [33, 7] dim 0 (repeats)" + d,
          {r.normal({50, 7}, dt), r.ints({50, 7}, 0, 33, i32)}, scat({33, 7}, 0))
        .sums(50);
    t.add("scatter_add [3, 40, 5] into [3, 17, 5] dim 1" + d,
          {r.normal({3, 40, 5}, dt), r.ints({3, 40, 5}, 0, 17, i32)}, scat({3, 17, 5}, 1))
        .sums(40);
  }
  run(t);
}

TEST_CASE("parity: fill_ and copy_ with broadcasting, dtype conversion and views") {
  TG_SKIP_WITHOUT_CUDA();
  Rand r(12);
  Table t;
  struct FillEntry {
    DType dt;
    double v;
  };
  for (const FillEntry& f :
       {FillEntry{f32, 3.25}, FillEntry{f64, -1.5e300}, FillEntry{i32, -7}, FillEntry{u8, 200}}) {
    const std::string d = std::string(" ") + dtype_name(f.dt);
    const double v = f.v;
    t.add("fill_ [33, 7]" + d, {r.wide({33, 7}, f.dt)}, [v](const In& in) {
       Tensor y = in[0].clone();
       y.fill_(v);
       return y;
     }).bitwise();
    t.add("fill_ of rows 2 to 6 of [33, 7]" + d, {r.wide({33, 7}, f.dt)}, [v](const In& in) {
       Tensor y = in[0].clone();
       y.narrow(0, 2, 5).fill_(v);
       return y;
     }).bitwise();
  }
  t.add("fill_ [100003] float32", {r.normal({100003})}, [](const In& in) {
     Tensor y = in[0].clone();
     y.fill_(-0.5);
     return y;
   }).bitwise();
  struct CopyEntry {
    const char* name;
    Shape dst;
    DType ddt;
    Shape src;
    DType sdt;
    ViewFn view;
  };
  const CopyEntry copies[] = {
      {"[7] broadcast into [33, 7]", {33, 7}, f32, {7}, f32, as_is},
      {"[33, 1] broadcast into [33, 7]", {33, 7}, f32, {33, 1}, f32, as_is},
      {"[7, 33].t() into [33, 7]", {33, 7}, f32, {7, 33}, f32, transposed},
      {"[3, 5, 7].permute(2, 0, 1) into [7, 3, 5]", {7, 3, 5}, f32, {3, 5, 7}, f32, permuted},
      {"float64 into float32", {33, 7}, f32, {33, 7}, f64, as_is},
      {"int32 [7] broadcast into float64 [33, 7]", {33, 7}, f64, {7}, i32, as_is},
      {"float32 into int32 (truncation)", {33, 7}, i32, {33, 7}, f32, as_is},
      {"float64 into uint8 (modular wrap)", {33, 7}, u8, {33, 7}, f64, as_is},
      {"int32 into uint8 (modular wrap)", {33, 7}, u8, {33, 7}, i32, as_is},
      {"uint8 [100003] into float32", {100003}, f32, {100003}, u8, as_is},
      {"[1, 7].expand(33, 7) int32 into int32", {33, 7}, i32, {1, 7}, i32, expanded},
  };
  for (const CopyEntry& e : copies) {
    const ViewFn view = e.view;
    t.add(std::string("copy_ ") + e.name, {r.wide(e.dst, e.ddt), r.wide(e.src, e.sdt)},
          [view](const In& in) {
            Tensor y = in[0].clone();
            y.copy_(view(in[1]));
            return y;
          })
        .bitwise();
  }
  t.add("copy_ [7] into rows 2 to 6 of [33, 7]", {r.normal({33, 7}), r.normal({7})},
        [](const In& in) {
          Tensor y = in[0].clone();
          y.narrow(0, 2, 5).copy_(in[1]);
          return y;
        })
      .bitwise();
  t.add("copy_ of a tensor's own transpose (overlap)", {r.normal({7, 7})}, [](const In& in) {
     Tensor y = in[0].clone();
     y.copy_(y.t());
     return y;
   }).bitwise();
  run(t);
}

TEST_CASE("parity: to(dtype) for all 16 dtype pairs") {
  TG_SKIP_WITHOUT_CUDA();
  Rand r(13);
  Table t;
  for (DType from : {f32, f64, i32, u8})
    for (DType to : {f32, f64, i32, u8})
      t.add(std::string("to ") + dtype_name(from) + " -> " + dtype_name(to) + " [33, 7]",
            {r.wide({33, 7}, from)}, [to](const In& in) { return in[0].to(to); })
          .bitwise();
  t.add("to float32 -> uint8 [100003]", {r.wide({100003}, f32)}, [](const In& in) {
     return in[0].to(u8);
   }).bitwise();
  t.add("to of a transposed view float64 -> int32", {r.wide({7, 33}, f64)}, [](const In& in) {
     return in[0].t().to(i32);
   }).bitwise();
  run(t);
}

TEST_CASE("parity: contiguous and clone of permuted, strided and expanded views") {
  TG_SKIP_WITHOUT_CUDA();
  Rand r(14);
  Table t;
  struct ViewEntry {
    const char* name;
    Shape base;
    ViewFn view;
  };
  const ViewEntry views[] = {
      {"[3, 5, 7].permute(2, 0, 1)", {3, 5, 7}, permuted},
      {"[3, 5, 7].permute(1, 2, 0)",
       {3, 5, 7},
       [](const Tensor& x) {
         return x.permute({1, 2, 0});
       }},
      {"[3, 5, 7].transpose(0, 2)", {3, 5, 7}, [](const Tensor& x) { return x.transpose(0, 2); }},
      {"[33, 21] every 3rd column", {33, 21}, every_third_column},
      {"[1, 7].expand(33, 7)", {1, 7}, expanded},
      {"[3, 5, 7].select(1, 2)", {3, 5, 7}, [](const Tensor& x) { return x.select(1, 2); }},
      {"[3, 5, 7].narrow(2, 1, 4)", {3, 5, 7}, [](const Tensor& x) { return x.narrow(2, 1, 4); }},
      {"[7, 33].t()", {7, 33}, transposed},
      {"[1023, 33].t()", {1023, 33}, transposed},
  };
  for (DType dt : {f32, f64, i32, u8})
    for (const ViewEntry& v : views) {
      const ViewFn view = v.view;
      t.add(std::string("contiguous of ") + v.name + " " + dtype_name(dt), {r.wide(v.base, dt)},
            [view](const In& in) {
              const Tensor y = view(in[0]).contiguous();
              CHECK(y.is_contiguous());
              return y;
            })
          .bitwise();
      t.add(std::string("clone of ") + v.name + " " + dtype_name(dt), {r.wide(v.base, dt)},
            [view](const In& in) { return view(in[0]).clone(); })
          .bitwise();
    }
  run(t);
}

TEST_CASE("parity: copy_ across devices, and writes into non-contiguous CUDA tensors refused") {
  TG_SKIP_WITHOUT_CUDA();
  Rand r(15);
  const Tensor src = r.normal({7});
  Tensor want = zeros({33, 7}, f64);
  want.copy_(src);
  // CPU float32 [7] into a CUDA float64 [33, 7]: moved, converted and broadcast.
  Tensor d = zeros({33, 7}, f64, kCuda);
  d.copy_(src);
  CHECK(d.device().is_cuda());
  CHECK(nerr(d, want) == 0);
  // And back: a CUDA source into a CPU destination.
  Tensor h = zeros({33, 7}, f64);
  h.copy_(d);
  CHECK(nerr(h, want) == 0);

  Tensor x = zeros({7, 33}, f32, kCuda);
  std::string msg = error_of([&] { x.t().fill_(1); });
  CHECK_MESSAGE(has(msg, "Tensor::fill_"), msg);
  CHECK_MESSAGE(has(msg, "non-contiguous"), msg);
  msg = error_of([&] { x.t().copy_(zeros({33, 7})); });
  CHECK_MESSAGE(has(msg, "Tensor::copy_"), msg);
  CHECK_MESSAGE(has(msg, "non-contiguous"), msg);
  CHECK(x.to_vector<float>() == std::vector<float>(7 * 33, 0.f));  // untouched
}

// --- errors only the device can see -----------------------------------------------------------

namespace {

// The ways the host meets the GPU again after queuing work: each must raise a recorded error.
enum class Sync { item, to_cpu, synchronize };
const Sync kSyncs[] = {Sync::item, Sync::to_cpu, Sync::synchronize};

const char* sync_name(Sync s) {
  return s == Sync::item ? "item()" : s == Sync::to_cpu ? "to(cpu)" : "cuda::synchronize()";
}

void sync(Sync s, const Tensor& t) {
  switch (s) {
    case Sync::item:
      (void)t.reshape({-1}).select(0, 0).item<double>();
      return;
    case Sync::to_cpu:
      (void)t.to(Device::cpu());
      return;
    case Sync::synchronize:
      cuda::synchronize();
      return;
  }
}

}  // namespace

TEST_CASE("parity: a label out of range raises a tg::Error at the next synchronisation") {
  TG_SKIP_WITHOUT_CUDA();
  Rand r(16);
  const Tensor logits = r.normal({5, 3});
  const Tensor good = from_vector<int32_t>({0, 2, 1, 1, 0});
  const double want = tg::cross_entropy(logits, good).item<double>();
  for (Sync s : kSyncs) {
    INFO("raised by ", sync_name(s));
    const Tensor bad = from_vector<int32_t>({0, 2, 7, 1, 0}).to(kCuda);
    Tensor loss;
    CHECK_NOTHROW(loss = tg::cross_entropy(logits.to(kCuda), bad));  // queued: nothing seen yet
    const std::string msg = error_of([&] { sync(s, loss); });
    CHECK_MESSAGE(has(msg, "cross_entropy"), msg);
    CHECK_MESSAGE(has(msg, "row 2"), msg);
    CHECK_MESSAGE(has(msg, "label 7"), msg);
    // Reported once and cleared: the device goes on working.
    CHECK_NOTHROW(cuda::synchronize());
    const double got = tg::cross_entropy(logits.to(kCuda), good.to(kCuda)).item<double>();
    CHECK(got == doctest::Approx(want).epsilon(1e-5));
  }
  // A negative label, through the backward too.
  const Tensor x = logits.to(kCuda).requires_grad_();
  Tensor loss = tg::cross_entropy(x, from_vector<int32_t>({0, -1, 1, 1, 0}).to(kCuda));
  backward(loss);
  const std::string msg = error_of([&] { (void)x.grad().to(Device::cpu()); });
  CHECK_MESSAGE(has(msg, "cross_entropy"), msg);
  CHECK_MESSAGE(has(msg, "row 1"), msg);
  CHECK_MESSAGE(has(msg, "label -1"), msg);
  CHECK_NOTHROW(cuda::synchronize());
}

TEST_CASE("parity: an index_select index out of range raises a tg::Error at the next sync") {
  TG_SKIP_WITHOUT_CUDA();
  Rand r(17);
  const Tensor x = r.normal({5, 4});
  const Tensor good = from_vector<int32_t>({4, 0, 2});
  const Tensor want = x.index_select(0, good);
  for (Sync s : kSyncs) {
    INFO("raised by ", sync_name(s));
    Tensor y;
    CHECK_NOTHROW(y = x.to(kCuda).index_select(0, from_vector<int32_t>({0, 9, 1}).to(kCuda)));
    const std::string msg = error_of([&] { sync(s, y); });
    CHECK_MESSAGE(has(msg, "index_select"), msg);
    CHECK_MESSAGE(has(msg, "index 9"), msg);
    CHECK_MESSAGE(has(msg, "position 1"), msg);
    CHECK_NOTHROW(cuda::synchronize());
    CHECK(nerr(x.to(kCuda).index_select(0, good.to(kCuda)), want) == 0);
  }
}

// --- the CNN ops of issue 11 ------------------------------------------------------------------

TEST_CASE("parity: conv2d forward and backward, stride, padding, dilation, groups, float64") {
  TG_SKIP_WITHOUT_CUDA();
  NoTf32 full;
  Rand r(78);
  Table t;
  struct Conv {
    const char* name;
    Shape x, w;
    Size2 stride, padding, dilation;
    int64_t groups;
    bool bias;
  };
  const Conv convs[] = {
      {"3x3", {2, 3, 7, 9}, {4, 3, 3, 3}, 1, 0, 1, 1, true},
      {"batch 1, no bias", {1, 2, 5, 5}, {3, 2, 3, 3}, 1, 0, 1, 1, false},
      {"stride 2 padding 1", {2, 3, 8, 7}, {5, 3, 3, 3}, 2, 1, 1, 1, true},
      {"2x4 kernel, stride (1, 3), padding (2, 0)",
       {3, 2, 6, 11},
       {3, 2, 2, 4},
       {1, 3},
       {2, 0},
       1,
       1,
       true},
      {"dilation (2, 3)", {2, 2, 9, 10}, {3, 2, 3, 3}, 1, 2, {2, 3}, 1, true},
      {"groups 2", {2, 4, 6, 6}, {6, 2, 3, 3}, 1, 1, 1, 2, true},
      {"depthwise stride 2", {2, 3, 7, 7}, {3, 1, 3, 3}, 2, 1, 1, 3, false},
      {"1x1", {3, 5, 4, 6}, {7, 5, 1, 1}, 1, 0, 1, 1, true},
  };
  for (const Conv& c : convs) {
    const double k = static_cast<double>(c.w[1] * c.w[2] * c.w[3]);
    // The longest sum: forward k, backward weight N*OH*OW (at most 2*7*11 here).
    const double sums = std::max(k, static_cast<double>(c.x[0] * c.x[2] * c.x[3]));
    Fn f = [c](const In& in) {
      return tg::conv2d(in[0], in[1], c.bias ? in[2] : Tensor(), c.stride, c.padding, c.dilation,
                        c.groups);
    };
    const Shape b{c.w[0]};
    t.add(std::string("conv2d ") + c.name + " " + str(c.x) + " * " + str(c.w),
          {r.normal(c.x), r.normal(c.w), r.normal(b)}, f)
        .sums(sums)
        .grads(c.bias ? std::vector<size_t>{0, 1, 2} : std::vector<size_t>{0, 1});
  }
  Fn conv_s2 = [](const In& in) { return tg::conv2d(in[0], in[1], in[2], 2, 1); };
  t.add("conv2d float64 stride 2 padding 1",
        {r.normal({2, 3, 8, 7}, f64), r.normal({4, 3, 3, 3}, f64), r.normal({4}, f64)}, conv_s2)
      .sums(56)
      .grads({0, 1, 2});
  Fn strided = [](const In& in) { return tg::conv2d(in[0].permute({0, 1, 3, 2}), in[1]); };
  t.add("conv2d of a permuted input", {r.normal({2, 3, 9, 7}), r.normal({4, 3, 3, 3})}, strided)
      .sums(63);
  run(t);
}

TEST_CASE("parity: max_pool2d (values and indices), avg_pool2d, adaptive_avg_pool2d, backward") {
  TG_SKIP_WITHOUT_CUDA();
  Rand r(79);
  Table t;
  const Tensor x = r.normal({2, 3, 9, 11});
  const Tensor ties = r.ints({2, 3, 8, 8}, -2, 3);  // many equal maxima: the first one wins
  t.add("max_pool2d 2", {x}, [](const In& in) { return tg::max_pool2d(in[0], 2); }).grads({0});
  t.add("max_pool2d 3 stride 2 padding 1 ceil_mode", {x}, [](const In& in) {
     return tg::max_pool2d(in[0], 3, 2, 1, 1, true);
   }).grads({0});
  t.add("max_pool2d 3x2 dilation (2, 3)", {x}, [](const In& in) {
     return tg::max_pool2d(in[0], {3, 2}, 1, 1, {2, 3});
   }).grads({0});
  t.add("max_pool2d with ties", {ties}, [](const In& in) {
     return tg::max_pool2d(in[0], 3, 1);
   }).grads({0});
  t.add("max_pool2d indices", {x}, [](const In& in) {
     return tg::max_pool2d_with_indices(in[0], 3, 2, 1).second;
   }).bitwise();
  t.add("max_pool2d 3-d (C, H, W) float64", {r.normal({3, 7, 7}, f64)}, [](const In& in) {
     return tg::max_pool2d(in[0], 2);
   }).grads({0});
  for (bool ceil_mode : {false, true})
    for (bool include_pad : {false, true}) {
      const std::string name = std::string("avg_pool2d 3 stride 2 padding 1") +
                               (ceil_mode ? " ceil_mode" : "") +
                               (include_pad ? " count_include_pad" : "");
      t.add(name, {x},
            [=](const In& in) { return tg::avg_pool2d(in[0], 3, 2, 1, ceil_mode, include_pad); })
          .sums(9)
          .grads({0});
    }
  t.add("avg_pool2d 2x3 float64", {r.normal({2, 2, 6, 9}, f64)},
        [](const In& in) {
          return tg::avg_pool2d(in[0], {2, 3});
        })
      .sums(6)
      .grads({0});
  t.add("adaptive_avg_pool2d to 1", {x}, [](const In& in) { return adaptive_avg_pool2d(in[0], 1); })
      .sums(99)
      .grads({0});
  t.add("adaptive_avg_pool2d 9x11 to 4x3", {x},
        [](const In& in) {
          return adaptive_avg_pool2d(in[0], {4, 3});
        })
      .sums(12)
      .grads({0});
  t.add("adaptive_avg_pool2d of a strided input", {x}, [](const In& in) {
     return adaptive_avg_pool2d(in[0].slice(3, 0, 11, 2), 2);
   }).sums(15);
  run(t);
}

TEST_CASE("parity: batch_norm, layer_norm, group_norm, forward and backward") {
  TG_SKIP_WITHOUT_CUDA();
  Rand r(80);
  Table t;
  const Shape xs{4, 3, 5, 6};
  const Tensor x = r.normal(xs), w = r.normal({3}), b = r.normal({3});
  // Running statistics are fresh tensors in each call (the case runs on both devices, and the
  // training mode updates them in place).
  t.add("batch_norm training", {x, w, b},
        [](const In& in) {
          const Device d = in[0].device();
          return tg::batch_norm(in[0], zeros({3}, f32, d), ones({3}, f32, d), in[1], in[2], true);
        })
      .sums(120)
      .grads({0, 1, 2});
  t.add("batch_norm eval", {x, w, b, r.normal({3}), r.uniform({3}, 0.5, 2)}, [](const In& in) {
     return tg::batch_norm(in[0], in[3], in[4], in[1], in[2], false);
   }).grads({0, 1, 2});
  t.add("batch_norm (N, C) training float64", {r.normal({16, 3}, f64)},
        [](const In& in) {
          return tg::batch_norm(in[0], Tensor(), Tensor(), Tensor(), Tensor(), true);
        })
      .sums(16)
      .grads({0});
  t.add("layer_norm over (5, 6)", {x, r.normal({5, 6}), r.normal({5, 6})},
        [](const In& in) {
          return tg::layer_norm(in[0], {5, 6}, in[1], in[2]);
        })
      .sums(30)
      .grads({0, 1, 2});
  t.add("group_norm 3 groups (instance norm)", {x, w, b},
        [](const In& in) { return tg::group_norm(in[0], 3, in[1], in[2]); })
      .sums(30)
      .grads({0, 1, 2});
  t.add("group_norm 2 groups of 6 channels", {r.normal({2, 6, 4, 4}), r.normal({6}), r.normal({6})},
        [](const In& in) { return tg::group_norm(in[0], 2, in[1], in[2]); })
      .sums(48)
      .grads({0, 1, 2});
  run(t);
  // The running statistics move the same way on both devices.
  const Tensor rm = zeros({3}), rv = ones({3});
  const Tensor rmd = zeros({3}, f32, kCuda), rvd = ones({3}, f32, kCuda);
  NoGrad guard;
  tg::batch_norm(x, rm, rv, w, b, true);
  tg::batch_norm(x.to(kCuda), rmd, rvd, w.to(kCuda), b.to(kCuda), true);
  CHECK(nerr(rmd, rm) <= tolerance(f32, 120));
  CHECK(nerr(rvd, rv) <= tolerance(f32, 120));
}

TEST_CASE("parity: sigmoid, tanh, leaky_relu, dropout in eval, cat and stack along every dim") {
  TG_SKIP_WITHOUT_CUDA();
  Rand r(81);
  Table t;
  const Tensor x = r.uniform({3, 5, 4}, -3, 3);
  t.add("sigmoid", {x}, [](const In& in) { return tg::sigmoid(in[0]); }).grads({0});
  t.add("tanh", {x}, [](const In& in) { return tg::tanh(in[0]); }).grads({0});
  t.add("leaky_relu 0.1", {x}, [](const In& in) { return tg::leaky_relu(in[0], 0.1); }).grads({0});
  t.add("sigmoid float64", {r.normal({7, 3}, f64)}, [](const In& in) {
     return tg::sigmoid(in[0]);
   }).grads({0});
  t.add("dropout 0.5 in eval", {x}, [](const In& in) { return tg::dropout(in[0], 0.5, false); })
      .bitwise()
      .grads({0});
  const Tensor y = r.normal({3, 2, 4}), z = r.normal({3, 5, 4});
  for (int64_t d : {0, 1, 2, -1}) {
    t.add("stack of three [3, 5, 4] along " + std::to_string(d), {x, z, x},
          [d](const In& in) { return tg::stack(in, d); })
        .bitwise()
        .grads({0, 1, 2});
  }
  t.add("cat [3, 5, 4] and [3, 2, 4] along 1", {x, y}, [](const In& in) { return tg::cat(in, 1); })
      .bitwise()
      .grads({0, 1});
  t.add("cat along 2 (the last dim)", {x, z}, [](const In& in) { return tg::cat(in, 2); })
      .bitwise()
      .grads({0, 1});
  t.add("cat along 0", {x, z, x}, [](const In& in) { return tg::cat(in, 0); })
      .bitwise()
      .grads({0, 1, 2});
  t.add("cat of transposed views along 1", {r.normal({4, 3}), r.normal({6, 3})},
        [](const In& in) {
          return tg::cat({tg::t(in[0]), tg::t(in[1])}, 1);
        })
      .bitwise()
      .grads({0, 1});
  t.add("cat float64 along 1", {r.normal({2, 3}, f64), r.normal({2, 1}, f64)},
        [](const In& in) { return tg::cat(in, 1); })
      .bitwise()
      .grads({0, 1});
  run(t);
}

TEST_CASE("parity: bad conv and pool input on CUDA gives the CPU's tg::Error messages") {
  TG_SKIP_WITHOUT_CUDA();
  for (Device d : {Device::cpu(), kCuda}) {
    INFO(d.str());
    const Tensor x = zeros({2, 3, 8, 8}, f32, d);
    std::string msg = error_of([&] { tg::conv2d(x, zeros({4, 2, 3, 3}, f32, d)); });
    CHECK_MESSAGE(has(msg, "conv2d: input [2, 3, 8, 8] has 3 channels but weight [4, 2, 3, 3]"),
                  msg);
    msg = error_of([&] { tg::conv2d(x, zeros({4, 3, 3, 3}, f32, d), zeros({5}, f32, d)); });
    CHECK_MESSAGE(has(msg, "bias of shape [5] does not match weight of shape [4, 3, 3, 3]"), msg);
    msg = error_of([&] { tg::conv2d(x, zeros({4, 3, 9, 9}, f32, d)); });
    CHECK_MESSAGE(has(msg, "larger than input [2, 3, 8, 8]"), msg);
    msg = error_of([&] { tg::max_pool2d(x, 3, 1, 2); });
    CHECK_MESSAGE(has(msg, "max_pool2d: padding (2, 2) must be in [0, kernel_size / 2]"), msg);
    msg = error_of([&] { tg::avg_pool2d(zeros({1, 1, 2, 2}, f32, d), 3); });
    CHECK_MESSAGE(has(msg, "is too small for kernel_size (3, 3)"), msg);
    msg = error_of([&] { tg::adaptive_avg_pool2d(zeros({3, 3}, f32, d), 1); });
    CHECK_MESSAGE(has(msg, "expected a 3-d (C, H, W) or 4-d (N, C, H, W) input"), msg);
  }
  const std::string msg = error_of([&] {
    tg::conv2d(zeros({1, 1, 4, 4}, f32, kCuda), zeros({1, 1, 3, 3}, f32));
  });
  CHECK_MESSAGE(has(msg, "conv2d: operands are on different devices"), msg);
}
