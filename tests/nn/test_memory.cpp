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

TEST_CASE("CnnLayers: the course's conv layer, pooling, flatten and linear by hand") {
  // Conv2d(1, 8, 5, stride 2, padding 2) on 28x28: 8*1*5*5 + 8 = 208 parameters;
  // OH = floor((28 + 4 - 4 - 1) / 2) + 1 = 14: 8*14*14 = 1568 outputs. MaxPool2d(2): 7x7.
  auto net = nn::CnnLayers({1, 28, 28});
  net.conv2d(8, 5, 2, 2).activation().max_pool2d(2).flatten().linear(10);
  CHECK(net.inputs() == 784);
  const auto& l = net.layers();
  REQUIRE(l.size() == 5);
  CHECK(l[0].name ==
        "layer 0 (Conv2d 1 -> 8, kernel 5x5, stride 2x2, padding 2x2, dilation 1x1, groups 1)");
  CHECK(l[0].parameters == 208);
  CHECK(l[0].outputs == 1568);
  CHECK(l[1].name == "layer 1 (ReLU)");
  CHECK(l[1].parameters == 0);
  CHECK(l[1].outputs == 1568);
  CHECK(l[2].name == "layer 2 (MaxPool2d kernel 2x2, stride 2x2, padding 0x0, dilation 1x1)");
  CHECK(l[2].outputs == 8 * 7 * 7);
  CHECK(l[3].name == "layer 3 (Flatten 392)");
  CHECK(l[3].outputs == 392);
  CHECK(l[4].name == "layer 4 (Linear 392 -> 10)");
  CHECK(l[4].parameters == 392 * 10 + 10);
  CHECK(l[4].outputs == 10);
  CHECK(net.shape() == nn::Chw{10, 1, 1});
  CHECK(net.flat());
}

TEST_CASE("CnnLayers: groups, no bias, dilation, asymmetric sizes, pooling variants") {
  // Grouped: 6 * (4 / 2) * 3 * 3 = 108, no bias; padding 1 keeps 10x10.
  auto g = nn::CnnLayers({4, 10, 10});
  g.conv2d(6, 3, 1, 1, 1, 2, false);
  CHECK(g.layers()[0].parameters == 108);
  CHECK(g.layers()[0].outputs == 600);
  // Depthwise: 4 * 1 * 3 * 3 + 4 = 40.
  CHECK(nn::CnnLayers({4, 10, 10}).conv2d(4, 3, 1, 1, 1, 4).layers()[0].parameters == 40);
  // Dilation 2: the 3x3 window reaches 5, (10 - 5) / 1 + 1 = 6.
  CHECK(nn::CnnLayers({1, 10, 10}).conv2d(2, 3, 1, 0, 2).shape() == nn::Chw{2, 6, 6});
  // Kernel (3, 1), stride (2, 1) on 7x5: OH = (7 - 3) / 2 + 1 = 3, OW = 5; 2*1*3*1 + 2 = 8.
  auto a = nn::CnnLayers({1, 7, 5}).conv2d(2, {3, 1}, {2, 1});
  CHECK(a.shape() == nn::Chw{2, 3, 5});
  CHECK(a.layers()[0].parameters == 8);
  // AvgPool2d(3, stride 2, padding 1) on 8x8: (8 + 2 - 3) / 2 + 1 = 4.
  CHECK(nn::CnnLayers({3, 8, 8}).avg_pool2d(3, 2, 1).shape() == nn::Chw{3, 4, 4});
  // ceil_mode: MaxPool2d(2) on 5x5 gives 3x3 (floor: 2x2).
  CHECK(nn::CnnLayers({1, 5, 5}).max_pool2d(2, {}, 0, 1, true).shape() == nn::Chw{1, 3, 3});
  CHECK(nn::CnnLayers({1, 5, 5}).max_pool2d(2).shape() == nn::Chw{1, 2, 2});
  // ceil_mode's last window must start inside the input or its left padding: kernel 2, stride
  // 2, padding 1 on 3: ceil((3 + 2 - 2) / 2) + 1 = 3, but window 2 starts at 4 >= 3 + 1: 2.
  CHECK(nn::CnnLayers({1, 3, 3}).max_pool2d(2, 2, 1, 1, true).shape() == nn::Chw{1, 2, 2});
  // The same figures as the pooling kernels' own formula.
  for (int64_t in = 1; in <= 12; ++in)
    for (int64_t k = 1; k <= 4; ++k)
      for (int64_t s = 1; s <= 3; ++s)
        for (int64_t p = 0; p <= k / 2; ++p)
          for (bool ceil : {false, true}) {
            const int64_t want = kernels::pool2d_out_size(in, k, s, p, 1, ceil);
            if (want <= 0) continue;
            CHECK(nn::CnnLayers({1, in, in}).max_pool2d(k, s, p, 1, ceil).shape().h == want);
          }
  // AdaptiveAvgPool2d(1): one value per channel.
  auto ad = nn::CnnLayers({16, 7, 7}).adaptive_avg_pool2d(1).flatten();
  CHECK(ad.layers()[0].outputs == 16);
  CHECK(ad.shape() == nn::Chw{16, 1, 1});
}

TEST_CASE("CnnLayers: BatchNorm2d's parameters, and the lowering a wide conv keeps") {
  auto bn = nn::CnnLayers({8, 14, 14}).batch_norm2d();
  CHECK(bn.layers()[0].name == "layer 0 (BatchNorm2d 8)");
  CHECK(bn.layers()[0].parameters == 16);
  CHECK(bn.layers()[0].outputs == 8 * 14 * 14);
  // Output rows of 16 and more: rung 2 keeps its column matrix, 3*3*3 rows of 18*18 pixels,
  // beside the output 4*18*18. A 1x1 stride-1 conv keeps nothing (x is its column matrix).
  CHECK(nn::CnnLayers({3, 18, 18}).conv2d(4, 3, 1, 1).layers()[0].outputs ==
        4 * 18 * 18 + 27 * 18 * 18);
  CHECK(nn::CnnLayers({3, 18, 18}).conv2d(4, 1).layers()[0].outputs == 4 * 18 * 18);
  CHECK(nn::course_cnn_layers(28, 28, {8, 16}, 10)[2].parameters == 16);  // BatchNorm2d(8)
}

TEST_CASE("CnnLayers: estimate_memory of a small CNN, by hand") {
  // (1, 4, 4): Conv2d(1, 2, 3, padding 1): 2*9 + 2 = 20 parameters, 32 outputs; ReLU 32;
  // MaxPool2d(2): 8; Flatten 8; Linear(8, 3): 27 parameters, 3 outputs. 47 parameters: 188 bytes.
  // Training per example: the input 16 + 2 * (32 + 32 + 8 + 8 + 3) = 182; batch 2: 364 * 4 bytes.
  // Validation: 16 + the largest pair (ReLU's 32 in, 32 out) = 80; batch 4: 320 * 4 = 1280.
  auto net = nn::CnnLayers({1, 4, 4});
  net.conv2d(2, 3, 1, 1).activation().max_pool2d(2).flatten().linear(3);
  auto e = nn::estimate_memory(net.layers(), {.inputs = net.inputs(), .batch = 2, .eval_batch = 4});
  CHECK(e.parameters == 188);
  CHECK(e.gradients == 188);
  CHECK(e.activations == 1456);
  auto big_eval =
      nn::estimate_memory(net.layers(), {.inputs = net.inputs(), .batch = 2, .eval_batch = 5});
  CHECK(big_eval.activations == 80 * 5 * 4);  // 1600 > 1456
}

TEST_CASE("CnnLayers: bad arguments and overflowing counts are errors naming the layer") {
  auto conv = [](nn::Chw in, auto&&... a) {
    return error_of([&] { nn::CnnLayers(in).conv2d(a...); });
  };
  CHECK(conv({3, 8, 8}, 4, 3, 1, 0, 1, 2).find("must be divisible by groups (2)") !=
        std::string::npos);
  CHECK(conv({3, 8, 8}, 4, 0).find("layer 0 (Conv2d 3 -> 4, kernel 0x0") != std::string::npos);
  CHECK(conv({3, 8, 8}, 4, 9).find("the output is empty") != std::string::npos);
  CHECK(conv({3, 8, 8}, 4, 3, 0).find("must be positive") != std::string::npos);
  CHECK(error_of([] {
          nn::CnnLayers({1, 8, 8}).max_pool2d(2, 2, 2);
        }).find("at most half the kernel") != std::string::npos);
  CHECK(error_of([] {
          nn::CnnLayers({1, 8, 8}).linear(3);
        }).find("flatten() first") != std::string::npos);
  CHECK(error_of([] {
          nn::CnnLayers({1, 8, 8}).flatten().conv2d(1, 1);
        }).find("not flattened features") != std::string::npos);
  CHECK(error_of([] { nn::CnnLayers({0, 8, 8}); }).find("must be positive") != std::string::npos);
  // Overflow: never a wrapped number.
  const int64_t big = int64_t{1} << 31;
  CHECK(error_of([&] {
          nn::CnnLayers({big, big, big});
        }).find("the input's element count overflows int64") != std::string::npos);
  CHECK(conv({1, 1, 1}, INT64_MAX / 2, Size2{1 << 20, 1 << 20})
            .find("layer 0 (Conv2d 1 -> 4611686018427387903") != std::string::npos);
  CHECK(conv({1, 1, 1}, INT64_MAX / 2, Size2{1 << 20, 1 << 20})
            .find("the weight's element count overflows int64") != std::string::npos);
  CHECK(conv({1, big, big}, big, 1).find("the output's element count overflows int64") !=
        std::string::npos);
  CHECK(conv({1, 8, 8}, 1, 1, 1, INT64_MAX / 2 + 1).find("the output height overflows int64") !=
        std::string::npos);
  CHECK(conv({1, 8, 8}, 1, 2, 1, 0, INT64_MAX).find("overflows int64") != std::string::npos);
}
