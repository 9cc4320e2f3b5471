// sgd_step against torch.optim.SGD's update, worked by hand in the comments:
//   g = grad + wd * p;  buf = first ? g : mom * buf + (1 - damp) * g;
//   g = nesterov ? g + mom * buf : buf;  p -= lr * g
// Every case starts from p = [1, -2, 0.5], grad = [0.5, 0.25, -1]; second steps use
// grad2 = [1, -1, 0].
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "base/error.h"
#include "kernels/cpu/common.h"
#include "kernels/sgd.h"

using namespace tg::kernels;
using namespace tg::kernels::cpu;

namespace {

template <typename T>
void check_close(const std::vector<T>& got, std::vector<double> want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    CAPTURE(i);
    CHECK(double(got[i]) == doctest::Approx(want[i]).epsilon(1e-6));
  }
}

template <typename T>
struct Case {
  std::vector<T> p = {1, -2, 0.5};
  std::vector<T> grad = {0.5, 0.25, -1};
  std::vector<T> grad2 = {1, -1, 0};
  std::vector<T> buf = std::vector<T>(3, T(-99));  // garbage until the first step
};

}  // namespace

TEST_CASE_TEMPLATE("sgd plain step: p -= lr * grad", T, float, double) {
  Case<T> c;
  SgdHyper h;
  h.lr = 0.1;
  // [1 - 0.05, -2 - 0.025, 0.5 + 0.1]
  sgd_step(c.p.data(), c.grad.data(), static_cast<T*>(nullptr), 3, h, true);
  check_close(c.p, {0.95, -2.025, 0.6});
}

TEST_CASE_TEMPLATE("sgd weight decay is added to the gradient", T, float, double) {
  Case<T> c;
  SgdHyper h;
  h.lr = 0.1;
  h.weight_decay = 0.5;
  // g = grad + 0.5 p = [1, -0.75, -0.75];  p = [0.9, -1.925, 0.575]
  sgd_step(c.p.data(), c.grad.data(), static_cast<T*>(nullptr), 3, h, true);
  check_close(c.p, {0.9, -1.925, 0.575});
}

TEST_CASE_TEMPLATE("sgd momentum, first step: the buffer is the gradient, undamped", T, float,
                   double) {
  Case<T> c;
  SgdHyper h;
  h.lr = 0.1;
  h.momentum = 0.9;
  h.dampening = 0.5;  // not applied on the first step (torch.clone(grad))
  // buf = grad = [0.5, 0.25, -1];  p = [0.95, -2.025, 0.6]
  sgd_step(c.p.data(), c.grad.data(), c.buf.data(), 3, h, true);
  CHECK(c.buf == c.grad);
  check_close(c.p, {0.95, -2.025, 0.6});
}

TEST_CASE_TEMPLATE("sgd momentum, second step: buf = mom * buf + grad", T, float, double) {
  Case<T> c;
  SgdHyper h;
  h.lr = 0.1;
  h.momentum = 0.9;
  sgd_step(c.p.data(), c.grad.data(), c.buf.data(), 3, h, true);
  // buf = 0.9 [0.5, 0.25, -1] + [1, -1, 0] = [1.45, -0.775, -0.9]
  // p = [0.95, -2.025, 0.6] - 0.1 buf = [0.805, -1.9475, 0.69]
  sgd_step(c.p.data(), c.grad2.data(), c.buf.data(), 3, h, false);
  check_close(c.buf, {1.45, -0.775, -0.9});
  check_close(c.p, {0.805, -1.9475, 0.69});
}

TEST_CASE_TEMPLATE("sgd dampening scales the new gradient from the second step", T, float, double) {
  Case<T> c;
  SgdHyper h;
  h.lr = 0.1;
  h.momentum = 0.9;
  h.dampening = 0.5;
  sgd_step(c.p.data(), c.grad.data(), c.buf.data(), 3, h, true);
  // buf = 0.9 [0.5, 0.25, -1] + 0.5 [1, -1, 0] = [0.95, -0.275, -0.9]
  // p = [0.95, -2.025, 0.6] - 0.1 buf = [0.855, -1.9975, 0.69]
  sgd_step(c.p.data(), c.grad2.data(), c.buf.data(), 3, h, false);
  check_close(c.buf, {0.95, -0.275, -0.9});
  check_close(c.p, {0.855, -1.9975, 0.69});
}

TEST_CASE_TEMPLATE("sgd nesterov: step along grad + mom * buf", T, float, double) {
  Case<T> c;
  SgdHyper h;
  h.lr = 0.1;
  h.momentum = 0.9;
  h.nesterov = true;
  // Step 1: buf = grad; g = grad + 0.9 grad = [0.95, 0.475, -1.9]; p = [0.905, -2.0475, 0.69]
  sgd_step(c.p.data(), c.grad.data(), c.buf.data(), 3, h, true);
  check_close(c.p, {0.905, -2.0475, 0.69});
  // Step 2: buf = [1.45, -0.775, -0.9]; g = grad2 + 0.9 buf = [2.305, -1.6975, -0.81]
  //         p = [0.905 - 0.2305, -2.0475 + 0.16975, 0.69 + 0.081] = [0.6745, -1.87775, 0.771]
  sgd_step(c.p.data(), c.grad2.data(), c.buf.data(), 3, h, false);
  check_close(c.buf, {1.45, -0.775, -0.9});
  check_close(c.p, {0.6745, -1.87775, 0.771});
}

TEST_CASE("sgd momentum buffer takes the weight-decayed gradient") {
  Case<float> c;
  SgdHyper h;
  h.lr = 0.1;
  h.momentum = 0.9;
  h.weight_decay = 0.5;
  // g = [1, -0.75, -0.75] is what the buffer stores, as in PyTorch; p = [0.9, -1.925, 0.575]
  sgd_step(c.p.data(), c.grad.data(), c.buf.data(), 3, h, true);
  check_close(c.buf, {1, -0.75, -0.75});
  check_close(c.p, {0.9, -1.925, 0.575});
}

TEST_CASE("sgd on a large vector matches an element-by-element reference") {
  const int64_t n = 300000;  // above the parallel threshold
  static_assert(n >= tg::kernels::cpu::detail::kParallelMin);
  std::vector<float> p(n), g(n), buf(n);
  for (int64_t i = 0; i < n; ++i) {
    p[i] = float(i % 101) * 0.01f - 0.5f;
    g[i] = float(i % 37) * 0.02f - 0.3f;
    buf[i] = float(i % 13) * 0.1f;
  }
  std::vector<float> ref_p = p, ref_buf = buf;
  SgdHyper h;
  h.lr = 0.05;
  h.momentum = 0.8;
  h.dampening = 0.1;
  h.weight_decay = 1e-3;
  for (int64_t i = 0; i < n; ++i) {
    const double gi = double(g[i]) + 1e-3 * double(ref_p[i]);
    const double b = 0.8 * double(ref_buf[i]) + 0.9 * gi;
    ref_buf[i] = float(b);
    ref_p[i] = float(double(ref_p[i]) - 0.05 * b);
  }
  sgd_step(p.data(), g.data(), buf.data(), n, h, false);
  int bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    bad += std::abs(p[i] - ref_p[i]) > 1e-6f * (1 + std::abs(ref_p[i]));
    bad += std::abs(buf[i] - ref_buf[i]) > 1e-6f * (1 + std::abs(ref_buf[i]));
  }
  CHECK(bad == 0);
}

TEST_CASE("sgd rejects momentum without a buffer and nesterov with dampening") {
  std::vector<float> p(3, 1.f), g(3, 1.f), buf(3);
  SgdHyper h;
  h.momentum = 0.9;
  CHECK_THROWS_AS(sgd_step(p.data(), g.data(), static_cast<float*>(nullptr), 3, h, true),
                  tg::Error);
  h.nesterov = true;
  h.dampening = 0.1;
  CHECK_THROWS_AS(sgd_step(p.data(), g.data(), buf.data(), 3, h, true), tg::Error);
  CHECK(p == std::vector<float>(3, 1.f));  // nothing updated
}
