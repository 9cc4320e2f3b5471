// nn/memory.h: the memory estimate against hand-computed figures, its overflow checks, and
// nn::mlp and Linear refusing sizes that cannot fit before allocating anything.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "base/error.h"
#include "nn/nn.h"
#include "tensor/storage.h"

using namespace tg;

namespace {

std::string error_of(const auto& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no tg::Error)";
}

}  // namespace

TEST_CASE("mlp_layers: Linear, ReLU, Linear with their parameters and outputs") {
  auto l = nn::mlp_layers({4, 3, 2});
  REQUIRE(l.size() == 3);
  CHECK(l[0].name == "layer 0 (Linear 4 -> 3)");
  CHECK(l[0].parameters == 4 * 3 + 3);
  CHECK(l[0].outputs == 3);
  CHECK(l[1].name == "layer 1 (ReLU)");
  CHECK(l[1].parameters == 0);
  CHECK(l[1].outputs == 3);
  CHECK(l[2].name == "layer 2 (Linear 3 -> 2)");
  CHECK(l[2].parameters == 3 * 2 + 2);
  CHECK(l[2].outputs == 2);
  CHECK_THROWS_AS(nn::mlp_layers({784}), Error);
  CHECK_THROWS_AS(nn::mlp_layers({784, 0, 10}), Error);
}

TEST_CASE("estimate_memory: a 4-3-2 MLP, batch 5, by hand") {
  // 23 parameters (15 + 8), float32: 92 bytes each for parameters, gradients, momentum.
  // Training per example: the input 4, each output and its gradient 2 * (3 + 3 + 2) = 16;
  // 20 * 5 examples * 4 bytes = 400.
  auto e = nn::estimate_mlp({4, 3, 2}, 5, DType::f32, /*momentum=*/true);
  CHECK(e.parameters == 92);
  CHECK(e.gradients == 92);
  CHECK(e.optimizer_state == 92);
  CHECK(e.weight_copies == 0);
  CHECK(e.activations == 400);
  CHECK(e.data == 0);
  CHECK(e.total() == 92 * 3 + 400);

  auto plain = nn::estimate_mlp({4, 3, 2}, 5, DType::f32, /*momentum=*/false);
  CHECK(plain.optimizer_state == 0);
  CHECK(plain.total() == 92 * 2 + 400);

  auto f64 = nn::estimate_mlp({4, 3, 2}, 5, DType::f64, true);
  CHECK(f64.parameters == 184);
  CHECK(f64.activations == 800);
}

TEST_CASE("estimate_memory: the validation batch, weight copies and the data") {
  auto layers = nn::mlp_layers({4, 3, 2});
  // Validation per example: the input 4 + the largest consecutive pair (ReLU's 3 in, 3 out)
  // = 10. At eval_batch 7: 280 bytes < training's 400; at 100: 4000 > 400.
  auto small = nn::estimate_memory(layers, {.inputs = 4, .batch = 5, .eval_batch = 7});
  CHECK(small.activations == 400);
  auto big = nn::estimate_memory(layers, {.inputs = 4,
                                          .batch = 5,
                                          .eval_batch = 100,
                                          .optimizer_buffers = 1,
                                          .weight_copies = 1,
                                          .data_bytes = 1000});
  CHECK(big.activations == 4000);
  CHECK(big.weight_copies == 92);
  CHECK(big.data == 1000);
  CHECK(big.total() == 92 * 4 + 4000 + 1000);
}

TEST_CASE("estimate_memory: counts that overflow int64 are an error naming the layer") {
  // 2^32 * 2^32 weight elements do not fit in int64.
  const std::string e1 = error_of([] { nn::mlp_layers({int64_t{1} << 32, int64_t{1} << 32}); });
  CHECK(e1.find("layer 0 (Linear 4294967296 -> 4294967296)") != std::string::npos);
  CHECK(e1.find("overflows int64") != std::string::npos);
  // 2^62 + 2^31 elements fit, their 4-byte size does not.
  const std::string e2 = error_of([] {
    nn::estimate_mlp({int64_t{1} << 31, int64_t{1} << 31}, 1);
  });
  CHECK(e2.find("layer 0 (Linear 2147483648 -> 2147483648): the parameters' byte count") !=
        std::string::npos);
  CHECK(e2.find("overflows int64") != std::string::npos);
  // A huge batch overflows the activations, not silently wraps.
  const std::string e3 = error_of([] { nn::estimate_mlp({784, 10}, INT64_MAX / 100); });
  CHECK(e3.find("training activations") != std::string::npos);
  // total() saturates instead of wrapping.
  nn::MemoryEstimate sum;
  sum.parameters = INT64_MAX / 2 + 1;
  sum.gradients = INT64_MAX / 2 + 1;
  CHECK(sum.total() == INT64_MAX);
}

TEST_CASE("mlp refuses sizes whose parameters cannot fit, fast and without allocating") {
  const size_t held = cpu_bytes_in_use();
  const auto t0 = std::chrono::steady_clock::now();
  Generator gen(1);
  // 784 * 10^12 float32 weights: about 2.8 PiB.
  const std::string e = error_of([&] { nn::mlp({784, 1000000000000, 10}, gen); });
  CHECK(e.find("mlp: sizes 784-1000000000000-10: the parameters alone need 2.8 PiB") !=
        std::string::npos);
  CHECK(e.find("this machine has available") != std::string::npos);
  CHECK(cpu_bytes_in_use() == held);
  // Sizes whose bytes overflow int64 are refused too.
  const std::string o = error_of([&] { nn::mlp({int64_t{1} << 31, int64_t{1} << 31, 10}, gen); });
  CHECK(o.find("overflows int64") != std::string::npos);
  CHECK(cpu_bytes_in_use() == held);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(s < 1.0);
  // What fits is built as before.
  auto m = nn::mlp({4, 3, 2}, gen);
  CHECK(m->size() == 3);
}

TEST_CASE("Linear refuses sizes whose parameters cannot fit, before allocating") {
  const size_t held = cpu_bytes_in_use();
  const std::string e = error_of([] { nn::Linear(1000000000, 1000000000); });
  CHECK(e.find("Linear: in_features=1000000000, out_features=1000000000: the parameters alone "
               "need 3.5 EiB") != std::string::npos);
  CHECK(e.find("available") != std::string::npos);
  CHECK(cpu_bytes_in_use() == held);
}
