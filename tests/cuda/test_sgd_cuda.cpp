// The CUDA SGD update (kernels/cuda/sgd.cu) against the CPU one: every branch (plain, weight
// decay, momentum first and later steps, dampening, nesterov) over several steps on awkward sizes;
// sgd_step_dev with the hyper-parameters in device memory, including a step captured in a CUDA
// Graph that follows a changing learning rate between replays; and the host-side checks.
#include <cuda_runtime.h>  // cudaMalloc(T**, size_t), used by DeviceBuffer
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "cuda/cuda_test_util.h"
#include "kernels/sgd.h"

using tg::kernels::SgdHyper;
using tg::test::DeviceBuffer;
namespace cpu = tg::kernels::cpu;
namespace gpu = tg::kernels::cuda;

namespace {

const int64_t kSizes[] = {1, 7, 33, 1023, 100003};

// FMA contraction on the GPU and not on the CPU moves results by an ulp or so per step.
template <typename T>
double rtol() {
  return sizeof(T) == 4 ? 1e-5 : 1e-12;
}
template <typename T>
double atol() {
  return sizeof(T) == 4 ? 1e-6 : 1e-13;
}

struct Named {
  std::string name;
  SgdHyper h;
};

std::vector<Named> hypers() {
  auto make = [](double lr, double mom, double damp, double wd, bool nesterov) {
    SgdHyper h;
    h.lr = lr;
    h.momentum = mom;
    h.dampening = damp;
    h.weight_decay = wd;
    h.nesterov = nesterov;
    return h;
  };
  return {{"plain", make(0.1, 0, 0, 0, false)},
          {"weight decay", make(0.05, 0, 0, 0.01, false)},
          {"momentum", make(0.1, 0.9, 0, 0, false)},
          {"momentum, dampening, weight decay", make(0.03, 0.8, 0.25, 0.1, false)},
          {"nesterov", make(0.1, 0.9, 0, 0, true)},
          {"nesterov with weight decay", make(0.02, 0.5, 0, 0.3, true)}};
}

// Three steps with fresh gradients, on the CPU and the GPU, compared after each step.
template <typename T>
void check_steps(const SgdHyper& h, int64_t n, bool on_device_hyper) {
  std::vector<T> p = tg::test::uniform<T>(static_cast<size_t>(n), 1);
  std::vector<T> buf(static_cast<size_t>(n), T(-99));  // garbage until the first step
  DeviceBuffer<T> dp(p), dbuf(buf), dgrad(static_cast<size_t>(n));
  // The device variant reads float hyper-parameters: the CPU gets the same float values.
  SgdHyper hc = h;
  const std::vector<float> hyper = {float(h.lr), float(h.momentum), float(h.dampening),
                                    float(h.weight_decay)};
  if (on_device_hyper) {
    hc.lr = hyper[0];
    hc.momentum = hyper[1];
    hc.dampening = hyper[2];
    hc.weight_decay = hyper[3];
  }
  DeviceBuffer<float> dhyper(hyper);
  for (int step = 0; step < 3; ++step) {
    CAPTURE(step);
    const std::vector<T> grad = tg::test::uniform<T>(static_cast<size_t>(n), 10 + step);
    dgrad.upload(grad);
    tg::test::wait_uploads();
    cpu::sgd_step(p.data(), grad.data(), buf.data(), n, hc, step == 0);
    if (on_device_hyper)
      gpu::sgd_step_dev(dp.data(), dgrad.data(), dbuf.data(), n, dhyper.data(), h.nesterov,
                        step == 0);
    else
      gpu::sgd_step(dp.data(), dgrad.data(), dbuf.data(), n, h, step == 0);
    CHECK(tg::test::close_to(dp.download(), p, rtol<T>(), atol<T>()));
    if (h.momentum != 0) CHECK(tg::test::close_to(dbuf.download(), buf, rtol<T>(), atol<T>()));
  }
}

}  // namespace

TEST_CASE_TEMPLATE("cuda sgd_step matches the CPU in every branch", T, float, double) {
  TG_SKIP_WITHOUT_CUDA();
  for (const Named& c : hypers()) {
    for (int64_t n : kSizes) {
      CAPTURE(c.name);
      CAPTURE(n);
      check_steps<T>(c.h, n, false);
    }
  }
}

TEST_CASE_TEMPLATE("cuda sgd_step_dev reads the hyper-parameters from device memory", T, float,
                   double) {
  TG_SKIP_WITHOUT_CUDA();
  for (const Named& c : hypers()) {
    for (int64_t n : kSizes) {
      CAPTURE(c.name);
      CAPTURE(n);
      check_steps<T>(c.h, n, true);
    }
  }
}

TEST_CASE("cuda sgd_step by hand") {
  TG_SKIP_WITHOUT_CUDA();
  // As tests/kernels/test_sgd.cpp: p = [1, -2, 0.5], grad = [0.5, 0.25, -1], lr 0.1, mom 0.9.
  DeviceBuffer<float> p(std::vector<float>{1, -2, 0.5}), g(std::vector<float>{0.5, 0.25, -1});
  DeviceBuffer<float> g2(std::vector<float>{1, -1, 0}), buf(std::vector<float>(3, -99.f));
  tg::test::wait_uploads();
  SgdHyper h;
  h.lr = 0.1;
  h.momentum = 0.9;
  gpu::sgd_step(p.data(), g.data(), buf.data(), 3, h, true);
  CHECK(tg::test::close_to(p.download(), {0.95f, -2.025f, 0.6f}));
  CHECK(buf.download() == std::vector<float>{0.5, 0.25, -1});
  // buf = 0.9 buf + grad2 = [1.45, -0.775, -0.9];  p -= 0.1 buf
  gpu::sgd_step(p.data(), g2.data(), buf.data(), 3, h, false);
  CHECK(tg::test::close_to(buf.download(), {1.45f, -0.775f, -0.9f}));
  CHECK(tg::test::close_to(p.download(), {0.805f, -1.9475f, 0.69f}));
}

TEST_CASE("cuda sgd_step_dev captured in a CUDA Graph follows a learning-rate schedule") {
  TG_SKIP_WITHOUT_CUDA();
  const int64_t n = 1023;
  std::vector<float> p = tg::test::uniform<float>(n, 1), buf(n);
  const std::vector<float> grad = tg::test::uniform<float>(n, 2);
  DeviceBuffer<float> dp(p), dgrad(grad), dbuf(buf);
  std::vector<float> hyper = {0.1f, 0.9f, 0.f, 0.01f};
  DeviceBuffer<float> dhyper(hyper);
  tg::test::wait_uploads();
  SgdHyper h;
  auto sync_hyper = [&] {
    h.lr = hyper[0];
    h.momentum = hyper[1];
    h.dampening = hyper[2];
    h.weight_decay = hyper[3];
  };
  sync_hyper();
  // The first step outside the graph (it initialises the momentum buffer).
  gpu::sgd_step_dev(dp.data(), dgrad.data(), dbuf.data(), n, dhyper.data(), false, true);
  cpu::sgd_step(p.data(), grad.data(), buf.data(), n, h, true);

  cudaStream_t stream = gpu::current_stream();
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  gpu::synchronize();
  TG_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  gpu::sgd_step_dev(dp.data(), dgrad.data(), dbuf.data(), n, dhyper.data(), false, false);
  TG_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
  TG_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  for (float lr : {0.1f, 0.05f, 0.0f, 0.2f}) {
    CAPTURE(lr);
    hyper[0] = lr;
    hyper[3] = lr == 0.2f ? 0.f : 0.01f;  // weight decay switched off on the last replay
    dhyper.upload(hyper);
    tg::test::wait_uploads();
    sync_hyper();
    TG_CUDA_CHECK(cudaGraphLaunch(exec, stream));
    cpu::sgd_step(p.data(), grad.data(), buf.data(), n, h, false);
    CHECK(tg::test::close_to(dp.download(), p));
    CHECK(tg::test::close_to(dbuf.download(), buf));
  }
  TG_CUDA_CHECK(cudaGraphExecDestroy(exec));
  TG_CUDA_CHECK(cudaGraphDestroy(graph));
}

TEST_CASE("cuda sgd_step host checks and empty inputs") {
  TG_SKIP_WITHOUT_CUDA();
  DeviceBuffer<float> p(std::vector<float>{1, 2}), g(std::vector<float>{1, 1}), hyper(4);
  tg::test::wait_uploads();
  SgdHyper h;
  h.momentum = 0.9;
  CHECK_THROWS_WITH_AS(gpu::sgd_step(p.data(), g.data(), static_cast<float*>(nullptr), 2, h, true),
                       doctest::Contains("needs a momentum buffer"), tg::Error);
  h.nesterov = true;
  h.dampening = 0.1;
  CHECK_THROWS_WITH_AS(gpu::sgd_step(p.data(), g.data(), p.data(), 2, h, true),
                       doctest::Contains("nesterov momentum requires"), tg::Error);
  CHECK_THROWS_WITH_AS(gpu::sgd_step(p.data(), g.data(), p.data(), -1, SgdHyper{}, true),
                       doctest::Contains("negative size"), tg::Error);
  CHECK_THROWS_WITH_AS(gpu::sgd_step_dev(p.data(), g.data(), p.data(), 2,
                                         static_cast<const float*>(nullptr), false, true),
                       doctest::Contains("sgd_step"), tg::Error);
  CHECK_THROWS_WITH_AS(gpu::sgd_step_dev(p.data(), g.data(), static_cast<float*>(nullptr), 2,
                                         hyper.data(), true, true),
                       doctest::Contains("nesterov momentum needs a momentum buffer"), tg::Error);
  // n == 0 does nothing; momentum 0 needs no buffer.
  gpu::sgd_step(p.data(), g.data(), static_cast<float*>(nullptr), 0, SgdHyper{}, true);
  SgdHyper plain;
  plain.lr = 0.5;
  gpu::sgd_step(p.data(), g.data(), static_cast<float*>(nullptr), 2, plain, true);
  CHECK(p.download() == std::vector<float>{0.5, 1.5});
}

// Many parameters of awkward sizes (empty ones among them) in one multi-tensor step, more than
// one launch's worth, some with a momentum buffer on its first step, some without a buffer:
// each must end exactly where one sgd_step_dev of its own puts it.
TEST_CASE_TEMPLATE("cuda sgd_step_dev_multi equals one sgd_step_dev per tensor", T, float, double) {
  TG_SKIP_WITHOUT_CUDA();
  const int64_t count = gpu::kSgdMultiChunk + 9;
  for (const Named& nh : hypers()) {
    CAPTURE(nh.name);
    const std::vector<float> hyper = {float(nh.h.lr), float(nh.h.momentum), float(nh.h.dampening),
                                      float(nh.h.weight_decay)};
    DeviceBuffer<float> dhyper(hyper);
    std::vector<int64_t> sizes;
    for (int64_t j = 0; j < count; ++j)
      sizes.push_back(j % 11 == 5 ? 0 : (tg::test::kEmulated ? 1 + (j * 37) % 300 : 1 + j * 997));
    std::vector<std::vector<T>> p0, g0, b0;
    for (int64_t j = 0; j < count; ++j) {
      const size_t n = static_cast<size_t>(sizes[size_t(j)]);
      p0.push_back(tg::test::uniform<T>(n, 100 + uint64_t(j)));
      g0.push_back(tg::test::uniform<T>(n, 500 + uint64_t(j)));
      b0.push_back(tg::test::uniform<T>(n, 900 + uint64_t(j)));
    }
    // Momentum runs keep a buffer for every tensor (nesterov needs one); otherwise every third
    // tensor has none. Every fourth is on its first step.
    auto has_buf = [&](int64_t j) { return nh.h.momentum != 0 || j % 3 != 0; };
    auto first = [](int64_t j) { return j % 4 == 1; };
    std::vector<std::unique_ptr<DeviceBuffer<T>>> mp, mg, mb, rp, rb;
    std::vector<gpu::SgdTensor<T>> list;
    for (int64_t j = 0; j < count; ++j) {
      mp.push_back(std::make_unique<DeviceBuffer<T>>(p0[size_t(j)]));
      mg.push_back(std::make_unique<DeviceBuffer<T>>(g0[size_t(j)]));
      mb.push_back(std::make_unique<DeviceBuffer<T>>(b0[size_t(j)]));
      rp.push_back(std::make_unique<DeviceBuffer<T>>(p0[size_t(j)]));
      rb.push_back(std::make_unique<DeviceBuffer<T>>(b0[size_t(j)]));
      list.push_back({mp.back()->data(), mg.back()->data(),
                      has_buf(j) ? mb.back()->data() : nullptr, sizes[size_t(j)], first(j)});
    }
    tg::test::wait_uploads();
    gpu::sgd_step_dev_multi(list.data(), count, dhyper.data(), nh.h.nesterov);
    for (int64_t j = 0; j < count; ++j)
      gpu::sgd_step_dev(rp[size_t(j)]->data(), mg[size_t(j)]->data(),
                        has_buf(j) ? rb[size_t(j)]->data() : nullptr, sizes[size_t(j)],
                        dhyper.data(), nh.h.nesterov, first(j));
    for (int64_t j = 0; j < count; ++j) {
      CAPTURE(j);
      CHECK(mp[size_t(j)]->download() == rp[size_t(j)]->download());
      CHECK(mb[size_t(j)]->download() == rb[size_t(j)]->download());
      if (sizes[size_t(j)] > 0) CHECK(mp[size_t(j)]->download() != p0[size_t(j)]);
    }
  }
}

TEST_CASE("cuda sgd_step_dev_multi host checks") {
  TG_SKIP_WITHOUT_CUDA();
  DeviceBuffer<float> p(std::vector<float>{1, 2}), g(std::vector<float>{1, 1});
  DeviceBuffer<float> hyper(std::vector<float>{0.1f, 0.9f, 0, 0});
  gpu::SgdTensor<float> t{p.data(), g.data(), nullptr, 2, false};
  CHECK_THROWS_WITH_AS(gpu::sgd_step_dev_multi(&t, 1, hyper.data(), /*nesterov=*/true),
                       doctest::Contains("tensor 0: nesterov momentum needs a momentum buffer"),
                       tg::Error);
  CHECK_THROWS_WITH_AS(gpu::sgd_step_dev_multi(&t, 1, static_cast<const float*>(nullptr), false),
                       doctest::Contains("hyper-parameters pointer is null"), tg::Error);
  gpu::SgdTensor<float> bad{p.data(), g.data(), nullptr, -1, false};
  CHECK_THROWS_WITH_AS(gpu::sgd_step_dev_multi(&bad, 1, hyper.data(), false),
                       doctest::Contains("tensor 0: negative size -1"), tg::Error);
  gpu::sgd_step_dev_multi<float>(nullptr, 0, hyper.data(), false);  // nothing to do
  CHECK(p.download() == std::vector<float>{1, 2});
}

// The guard is read by the kernel: a NaN or an infinity skips the whole update (parameters and
// momentum buffers alike), a finite value lets it run.
TEST_CASE("cuda sgd_step_dev_multi skips the update when its guard is not finite") {
  TG_SKIP_WITHOUT_CUDA();
  DeviceBuffer<float> hyper(std::vector<float>{0.5f, 0.9f, 0, 0});
  const double inf = std::numeric_limits<double>::infinity();
  for (double guard : {std::nan(""), inf, -inf, 0.0, 123.5}) {
    CAPTURE(guard);
    DeviceBuffer<float> p(std::vector<float>{1, 2}), g(std::vector<float>{1, 1}),
        b(std::vector<float>{4, 4});
    DeviceBuffer<double> dguard(std::vector<double>{guard});
    gpu::SgdTensor<float> t{p.data(), g.data(), b.data(), 2, false};
    tg::test::wait_uploads();
    gpu::sgd_step_dev_multi(&t, 1, hyper.data(), false, dguard.data());
    if (std::isfinite(guard)) {
      CHECK(b.download() == std::vector<float>{4.6f, 4.6f});  // 0.9 * 4 + 1
      CHECK(p.download() == std::vector<float>{1 - 0.5f * 4.6f, 2 - 0.5f * 4.6f});
    } else {
      CHECK(p.download() == std::vector<float>{1, 2});
      CHECK(b.download() == std::vector<float>{4, 4});
    }
  }
}
