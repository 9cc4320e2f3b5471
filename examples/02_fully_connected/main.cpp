// Course step 02, "fully connected": a two-layer network's forward and backward written by hand
// (lin -> relu -> lin -> mse, as in the fastai notebook), then the same gradients from the tape.
//
//   build/bin/02_fully_connected [--limit N] [--seed S]
//
// The notebook regresses MNIST digits with MSE; the data loader arrives in step 03, so here the
// inputs are N random 784-pixel "images" and the targets random digits 0..9 (as floats).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "apps/cli/flags.h"
#include "autograd/autograd.h"
#include "nn/init.h"
#include "tensor/creation.h"
#include "tensor/ops.h"

using namespace tg;

namespace {

// --- by hand: each layer a forward and a backward on plain tensors (no tape) ---------------

// out = inp @ w + b; w (in, out), b (out).
Tensor lin(const Tensor& inp, const Tensor& w, const Tensor& b) {
  return ops::binary(BinaryOp::add, ops::matmul(inp, w), b);
}
// d(inp) = d(out) @ w^T, d(w) = inp^T @ d(out), d(b) = sum over the batch of d(out).
void lin_grad(const Tensor& inp, const Tensor& gout, const Tensor& w, Tensor& ginp, Tensor& gw,
              Tensor& gb) {
  ginp = ops::matmul(gout, w, false, true);
  gw = ops::matmul(inp, gout, true, false);
  gb = ops::reduce(ReduceOp::sum, gout, {0}, false);
}
// mse of a (n, 1) output against n targets, and its gradient 2 (out - targ) / n.
double mse_value(const Tensor& out, const Tensor& targ) {
  Tensor d = ops::binary(BinaryOp::sub, out.reshape({-1}), targ);
  return ops::reduce(ReduceOp::mean, ops::binary(BinaryOp::mul, d, d), {}, false).item<double>();
}
Tensor mse_grad(const Tensor& out, const Tensor& targ) {
  Tensor d = ops::binary(BinaryOp::sub, out.reshape({-1}), targ);
  return ops::scalar(ScalarOp::mul, d, 2.0 / static_cast<double>(targ.numel())).reshape({-1, 1});
}

}  // namespace

int main(int argc, char** argv) {
  int64_t n = 1000;
  uint64_t seed = 42;
  tg::cli::Flags flags("02_fully_connected",
                       "the forward and backward passes of a two-layer MLP written by hand, "
                       "checked against the autograd tape");
  flags.integer("--limit", n, "examples in the synthetic batch")
      .seed("--seed", seed, "seed of the data and the weights");
  if (auto rc = flags.parse_or_exit(argc, argv)) return *rc;

  try {
    Generator gen(seed);
    const int64_t m = 784, nh = 50;
    Tensor x = randn({n, m}, gen);
    Tensor y = randint(0, 10, {n}, gen).to(DType::f32);

    // Kaiming init for the relu layer (the notebook's w1 = randn(m, nh) * sqrt(2/m)).
    Tensor w1 = randn({m, nh}, gen), b1 = zeros({nh});
    Tensor w2 = randn({nh, 1}, gen), b2 = zeros({1});
    w1 = ops::scalar(ScalarOp::mul, w1, std::sqrt(2.0 / m));
    w2 = ops::scalar(ScalarOp::mul, w2, std::sqrt(1.0 / nh));

    // Forward by hand, keeping what the backward needs.
    Tensor l1 = lin(x, w1, b1);
    Tensor l2 = ops::unary(UnaryOp::relu, l1);
    Tensor out = lin(l2, w2, b2);
    std::printf("forward: %lld samples, output %s, mse %.6f\n", static_cast<long long>(n),
                out.shape_str().c_str(), mse_value(out, y));

    // Backward by hand, from the loss down.
    Tensor gout = mse_grad(out, y);
    Tensor gl2, gw2, gb2, gx, gw1, gb1;
    lin_grad(l2, gout, w2, gl2, gw2, gb2);
    Tensor gl1 = ops::relu_backward(l1, gl2);
    lin_grad(x, gl1, w1, gx, gw1, gb1);

    // The same network through the tape.
    Tensor tw1 = w1.clone().requires_grad_(), tb1 = b1.clone().requires_grad_();
    Tensor tw2 = w2.clone().requires_grad_(), tb2 = b2.clone().requires_grad_();
    Tensor tx = x.clone().requires_grad_();
    Tensor pred = matmul(relu(matmul(tx, tw1) + tb1), tw2) + tb2;
    Tensor loss = mse(reshape(pred, {-1}), y);
    backward(loss);

    std::printf("loss: by hand %.6f, tape %.6f\n", mse_value(out, y), loss.item<double>());
    std::printf("%-4s %-12s %s\n", "grad", "shape", "max |hand - tape|");
    struct Row {
      const char* name;
      Tensor hand, tape;
    } rows[] = {{"w1", gw1, tw1.grad()},
                {"b1", gb1, tb1.grad()},
                {"w2", gw2, tw2.grad()},
                {"b2", gb2, tb2.grad()},
                {"x", gx, tx.grad()}};
    bool ok = true;
    for (const Row& r : rows) {
      double diff = max_abs_diff(r.hand, r.tape);
      std::printf("%-4s %-12s %.3g\n", r.name, r.hand.shape_str().c_str(), diff);
      ok = ok && allclose(r.hand, r.tape, 1e-4, 1e-5);
    }
    std::printf(ok ? "gradients match\n" : "GRADIENTS DIFFER\n");
    return ok ? 0 : 1;
  } catch (const tg::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
