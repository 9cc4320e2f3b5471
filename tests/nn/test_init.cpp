// init: fans, gains, and the distributions of torch.nn.init; functional::accuracy.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "autograd/autograd.h"
#include "nn/nn.h"
#include "tensor/creation.h"
#include "tensor/ops.h"

using namespace tg;
namespace init = tg::nn::init;

namespace {

struct Stats {
  double mean = 0, std = 0, max_abs = 0;
};

Stats stats(const Tensor& t) {
  std::vector<double> v = t.detach().to(DType::f64).to_vector<double>();
  Stats s;
  for (double x : v) {
    s.mean += x;
    s.max_abs = std::max(s.max_abs, std::abs(x));
  }
  s.mean /= static_cast<double>(v.size());
  for (double x : v) s.std += (x - s.mean) * (x - s.mean);
  s.std = std::sqrt(s.std / static_cast<double>(v.size()));
  return s;
}

}  // namespace

TEST_CASE("fans of 2-d and n-d weights, and refusal below 2 dims") {
  CHECK(init::fans(zeros({5, 3})) == std::pair<int64_t, int64_t>{3, 5});
  // conv weight (out=8, in=4, 3, 3): receptive field 9
  CHECK(init::fans(zeros({8, 4, 3, 3})) == std::pair<int64_t, int64_t>{36, 72});
  CHECK_THROWS_WITH_AS(init::fans(zeros({7})), doctest::Contains("fewer than 2 dimensions"), Error);
}

TEST_CASE("calculate_gain matches torch.nn.init.calculate_gain") {
  CHECK(init::calculate_gain("linear") == 1.0);
  CHECK(init::calculate_gain("sigmoid") == 1.0);
  CHECK(init::calculate_gain("relu") == doctest::Approx(std::sqrt(2.0)));
  CHECK(init::calculate_gain("tanh") == doctest::Approx(5.0 / 3.0));
  CHECK(init::calculate_gain("leaky_relu", 0.2) == doctest::Approx(std::sqrt(2.0 / 1.04)));
  CHECK(init::calculate_gain("leaky_relu", std::sqrt(5.0)) == doctest::Approx(std::sqrt(1.0 / 3)));
  CHECK(init::calculate_gain("leaky_relu") == doctest::Approx(std::sqrt(2.0)));  // a = 0
  CHECK_THROWS_WITH_AS(init::calculate_gain("swish"),
                       doctest::Contains("unsupported nonlinearity 'swish'"), Error);
}

TEST_CASE("kaiming_normal_ has std sqrt(2 / fan) on a big tensor") {
  Generator gen(1);
  Tensor w = empty({500, 400});
  init::kaiming_normal_(w, gen, 0, init::FanMode::fan_in, "relu");
  Stats s = stats(w);
  CHECK(s.std == doctest::Approx(std::sqrt(2.0 / 400)).epsilon(0.02));
  CHECK(std::abs(s.mean) < 1e-3);
  init::kaiming_normal_(w, gen, 0, init::FanMode::fan_out);
  CHECK(stats(w).std == doctest::Approx(std::sqrt(2.0 / 500)).epsilon(0.02));
}

TEST_CASE("kaiming_uniform_ stays within gain * sqrt(3 / fan)") {
  Generator gen(2);
  Tensor w = empty({300, 200});
  init::kaiming_uniform_(w, gen);  // leaky_relu, a = 0: bound = sqrt(6 / 200)
  const double bound = std::sqrt(6.0 / 200);
  Stats s = stats(w);
  CHECK(s.max_abs <= bound * (1 + 1e-6));
  CHECK(s.max_abs > 0.99 * bound);
  CHECK(s.std == doctest::Approx(bound / std::sqrt(3.0)).epsilon(0.02));
}

TEST_CASE("xavier_uniform_ bound and xavier_normal_ std") {
  Generator gen(3);
  Tensor w = empty({250, 350});
  init::xavier_uniform_(w, gen, 2.0);
  const double bound = 2.0 * std::sqrt(6.0 / (250 + 350));
  Stats s = stats(w);
  CHECK(s.max_abs <= bound * (1 + 1e-6));
  CHECK(s.max_abs > 0.99 * bound);
  init::xavier_normal_(w, gen);
  CHECK(stats(w).std == doctest::Approx(std::sqrt(2.0 / 600)).epsilon(0.02));
}

TEST_CASE("uniform_, normal_ and constants write in place, also into parameters") {
  Generator gen(4);
  Tensor w = zeros({200, 100}).requires_grad_();
  const void* data = w.raw_data();
  init::uniform_(w, 2, 4, gen);
  Stats s = stats(w);
  CHECK(s.mean == doctest::Approx(3).epsilon(0.01));
  CHECK(s.std == doctest::Approx(2 / std::sqrt(12.0)).epsilon(0.02));
  init::normal_(w, -1, 0.5, gen);
  s = stats(w);
  CHECK(s.mean == doctest::Approx(-1).epsilon(0.01));
  CHECK(s.std == doctest::Approx(0.5).epsilon(0.02));
  init::constant_(w, 0.25);
  CHECK(stats(w).max_abs == 0.25);
  CHECK(stats(w).std == 0);
  init::ones_(w);
  CHECK(stats(w).mean == 1);
  init::zeros_(w);
  CHECK(stats(w).max_abs == 0);
  CHECK(w.raw_data() == data);
  CHECK(w.requires_grad());
  CHECK(GradMode::enabled());  // the NoGrad inside was undone
}

TEST_CASE("init draws from the generator in row-major order, reproducibly, in any dtype") {
  Generator g1(9), g2(9), g3(9);
  Tensor a = empty({3, 4}), b = empty({3, 4}, DType::f64);
  init::uniform_(a, -1, 1, g1);
  init::uniform_(b, -1, 1, g2);
  Tensor want = uniform({3, 4}, -1, 1, g3, DType::f64);
  CHECK(equal(b, want));
  CHECK(equal(a, want.to(DType::f32)));
}

TEST_CASE("init refuses integer tensors and bad arguments") {
  Generator gen(0);
  Tensor i = zeros({2, 2}, DType::i32);
  CHECK_THROWS_WITH_AS(init::uniform_(i, 0, 1, gen), doctest::Contains("int32"), Error);
  CHECK_THROWS_AS(init::constant_(i, 1), Error);
  Tensor w = zeros({2, 2});
  CHECK_THROWS_AS(init::uniform_(w, 1, 0, gen), Error);
  CHECK_THROWS_AS(init::normal_(w, 0, -1, gen), Error);
  Tensor v = zeros({4});
  CHECK_THROWS_AS(init::kaiming_uniform_(v, gen), Error);  // no fan for 1-d
}

TEST_CASE("accuracy is the fraction of rows whose argmax is the label") {
  Tensor logits = tensor({{0.1, 2, 0.3}, {5, 1, 1}, {0, 0, 3}, {1, 4, 2}});
  Tensor labels = from_vector<int32_t>({1, 0, 2, 2});  // 3 of 4 right
  Tensor acc = nn::functional::accuracy(logits, labels);
  CHECK(acc.shape() == Shape{});
  CHECK(acc.dtype() == DType::f32);
  CHECK(acc.item<double>() == doctest::Approx(0.75));
  Tensor ties = tensor({{1, 1}, {2, 2}});  // the first maximum wins
  CHECK(nn::functional::accuracy(ties, from_vector<int32_t>({0, 1})).item<double>() ==
        doctest::Approx(0.5));
  CHECK_THROWS_WITH_AS(nn::functional::accuracy(logits, from_vector<int32_t>({1, 0})),
                       doctest::Contains("[2]"), Error);
  CHECK_THROWS_AS(nn::functional::accuracy(logits, zeros({4})), Error);  // float labels
}

TEST_CASE("the functional forms forward to autograd's ops") {
  Tensor logits = tensor({{1, 2, 3}, {1, 1, 1}});
  Tensor labels = from_vector<int32_t>({2, 0});
  NoGrad guard;
  CHECK(equal(nn::functional::cross_entropy(logits, labels), cross_entropy(logits, labels)));
  CHECK(allclose(nn::functional::nll_loss(nn::functional::log_softmax(logits), labels),
                 cross_entropy(logits, labels)));
  CHECK(equal(nn::functional::relu(tensor({-1, 1})), tensor({0, 1})));
}
