// Random numbers: reproducible streams, sane distributions, unbiased integers, permutations.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "tensor/creation.h"
#include "tensor/ops.h"
#include "test_util.h"

using namespace tg;

TEST_CASE("the same seed gives the same numbers, a different seed different ones") {
  Generator g1(42), g2(42), g3(43);
  for (int i = 0; i < 100; ++i) CHECK(g1.next_u64() == g2.next_u64());
  Generator a(42);
  int same = 0;
  for (int i = 0; i < 100; ++i) same += a.next_u64() == g3.next_u64();
  CHECK(same == 0);
  Generator r1(7), r2(7);
  CHECK(equal(randn({10, 10}, r1), randn({10, 10}, r2)));
  CHECK(equal(rand({5}, r1, DType::f64), rand({5}, r2, DType::f64)));
  CHECK(equal(randint(0, 10, {20}, r1), randint(0, 10, {20}, r2)));
  Generator r3(8);
  CHECK_FALSE(equal(randn({10}, r1), randn({10}, r3)));
}

TEST_CASE("seed() restarts the stream, manual_seed drives the default generator") {
  Generator g(5);
  const uint64_t first = g.next_u64();
  g.next_u64();
  g.seed(5);
  CHECK(g.next_u64() == first);
  CHECK(g.initial_seed() == 5);
  manual_seed(123);
  Tensor a = randn({8});
  manual_seed(123);
  Tensor b = randn({8});
  CHECK(equal(a, b));
  CHECK(default_generator().initial_seed() == 123);
}

TEST_CASE("tensors fill row-major from the generator, one draw after another") {
  Generator g(11), h(11);
  Tensor u = rand({2, 3}, g, DType::f64);
  std::vector<double> v = u.to_vector<double>();
  for (double x : v) CHECK(x == h.uniform());
}

TEST_CASE("uniform and rand stay in range, randn has mean 0 and std 1") {
  Generator g(2024);
  std::vector<double> u = uniform({10000}, -2, 3, g, DType::f64).to_vector<double>();
  CHECK(*std::min_element(u.begin(), u.end()) >= -2);
  CHECK(*std::max_element(u.begin(), u.end()) < 3);
  std::vector<double> n = randn({100000}, g, DType::f64).to_vector<double>();
  const double mean = std::accumulate(n.begin(), n.end(), 0.0) / n.size();
  double var = 0;
  for (double x : n) var += (x - mean) * (x - mean);
  const double sd = std::sqrt(var / n.size());
  CHECK(std::abs(mean) < 0.02);  // the standard error is 0.003
  CHECK(std::abs(sd - 1) < 0.02);
  CHECK(randn({4}, g).dtype() == DType::f32);
  CHECK_THROWS_AS(randn({4}, g, DType::i32), Error);
}

TEST_CASE("randint covers low..high-1 evenly") {
  Generator g(3);
  std::vector<int32_t> v = randint(-3, 3, {60000}, g).to_vector<int32_t>();
  std::vector<int> counts(6, 0);
  for (int32_t x : v) {
    REQUIRE(x >= -3);
    REQUIRE(x < 3);
    ++counts[x + 3];
  }
  for (int c : counts) CHECK(std::abs(c - 10000) < 500);  // 5 standard deviations
  CHECK(test::has(test::error_of([&] { randint(5, 5, {2}, g); }), "randint"));
  CHECK_THROWS_AS(g.randint(0), Error);
}

TEST_CASE("randperm is a permutation of 0..n-1") {
  Generator g(9);
  std::vector<int32_t> p = randperm(1000, g).to_vector<int32_t>();
  std::vector<int32_t> sorted = p;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int32_t> expect(1000);
  std::iota(expect.begin(), expect.end(), 0);
  CHECK(sorted == expect);
  CHECK(p != expect);  // shuffled
  CHECK(randperm(0, g).numel() == 0);
  CHECK(randperm(1, g).to_vector<int32_t>() == std::vector<int32_t>{0});
}
