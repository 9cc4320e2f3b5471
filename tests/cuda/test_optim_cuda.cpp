// The CUDA multi-tensor updates of Adam / AdamW, RMSprop and LAMB (kernels/cuda/{adam,rmsprop,
// lamb}.cu) against their CPU twins: many tensors of awkward sizes (1, 7, over a thousand, one
// over a LAMB block, empty ones, and enough of them for more than one launch), float and
// double, several steps with fresh gradients, every variant (Adam with coupled and decoupled
// decay; RMSprop plain, centered, with momentum; LAMB with weight decay and with a zero tensor
// whose trust ratio is 1); the non-finite guard leaving everything as it was; and the host
// checks.
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
#include "kernels/adam.h"
#include "kernels/lamb.h"
#include "kernels/rmsprop.h"

using tg::test::DeviceBuffer;
namespace cpu = tg::kernels::cpu;
namespace gpu = tg::kernels::cuda;
namespace kn = tg::kernels;

namespace {

// The device scalars are the CPU's doubles: only FMA contraction (and, for LAMB, the order of
// the norms' sums) can move a result, by an ulp or so per step.
template <typename T>
double rtol() {
  return sizeof(T) == 4 ? 2e-6 : 1e-13;
}
template <typename T>
double atol() {
  return sizeof(T) == 4 ? 1e-7 : 1e-15;
}

// Sizes: the awkward ones first, then small fillers so that the list spans more than `chunk`
// tensors (two launches or more), with an empty tensor every so often.
std::vector<int64_t> sizes_for(int chunk) {
  std::vector<int64_t> s = {1, 7, 1000, tg::test::kEmulated ? 2 * kn::cuda::kLambBlock + 5 : 100003,
                            0};
  while (static_cast<int>(s.size()) < chunk + 4) {
    const int64_t j = static_cast<int64_t>(s.size());
    s.push_back(j % 9 == 4 ? 0 : 1 + (j * 37) % 61);
  }
  return s;
}

// One tensor's host copy and device copy of each buffer (p, grad and up to three states).
template <typename T>
struct Slot {
  int64_t n;
  std::vector<T> p, g;
  std::vector<std::vector<T>> st;
  std::unique_ptr<DeviceBuffer<T>> dp, dg;
  std::vector<std::unique_ptr<DeviceBuffer<T>>> dst;
};

template <typename T>
std::vector<Slot<T>> make_slots(const std::vector<int64_t>& sizes, int states, bool zero_p_at) {
  std::vector<Slot<T>> out;
  for (size_t j = 0; j < sizes.size(); ++j) {
    Slot<T> s;
    s.n = sizes[j];
    const size_t n = static_cast<size_t>(s.n);
    s.p = tg::test::uniform<T>(n, 100 + uint32_t(j));
    if (zero_p_at && j == 1) s.p.assign(n, T(0));  // LAMB: |p| = 0 gives trust 1
    s.dp = std::make_unique<DeviceBuffer<T>>(s.p);
    s.dg = std::make_unique<DeviceBuffer<T>>(n);
    for (int k = 0; k < states; ++k) {
      s.st.emplace_back(n, T(0));  // zeros, as the optimizers create them
      s.dst.push_back(std::make_unique<DeviceBuffer<T>>(s.st.back()));
    }
    out.push_back(std::move(s));
  }
  return out;
}

// Fresh gradients for step `step`, on both sides.
template <typename T>
void new_grads(std::vector<Slot<T>>& slots, int step) {
  for (size_t j = 0; j < slots.size(); ++j) {
    slots[j].g = tg::test::uniform<T>(static_cast<size_t>(slots[j].n),
                                      1000 + 77 * uint32_t(step) + uint32_t(j), -2, 2);
    slots[j].dg->upload(slots[j].g);
  }
}

template <typename T>
void compare(const std::vector<Slot<T>>& slots, bool must_move) {
  for (size_t j = 0; j < slots.size(); ++j) {
    CAPTURE(j);
    CAPTURE(slots[j].n);
    CHECK(tg::test::close_to(slots[j].dp->download(), slots[j].p, rtol<T>(), atol<T>()));
    for (size_t k = 0; k < slots[j].st.size(); ++k) {
      CAPTURE(k);
      CHECK(tg::test::close_to(slots[j].dst[k]->download(), slots[j].st[k], rtol<T>(), atol<T>()));
    }
    if (must_move && slots[j].n > 0)
      CHECK(slots[j].dp->download() != tg::test::uniform<T>(size_t(slots[j].n), 100 + uint32_t(j)));
  }
}

template <typename T>
std::vector<std::vector<T>> snapshot(const std::vector<Slot<T>>& slots) {
  std::vector<std::vector<T>> out;
  for (const auto& s : slots) {
    out.push_back(s.dp->download());
    for (const auto& d : s.dst) out.push_back(d->download());
  }
  return out;
}

kn::AdamHyper adam_hyper(bool decoupled, double wd) {
  kn::AdamHyper h;
  h.lr = 0.01;
  h.beta1 = 0.85;
  h.beta2 = 0.995;
  h.eps = 1e-6;
  h.weight_decay = wd;
  h.decoupled = decoupled;
  return h;
}

template <typename T>
void adam_steps(const kn::AdamHyper& h, const double* skip = nullptr) {
  auto slots = make_slots<T>(sizes_for(gpu::kAdamMultiChunk), 2, false);
  DeviceBuffer<double> dh(static_cast<size_t>(gpu::kAdamHyperSlots));
  for (int step = 1; step <= 3; ++step) {
    CAPTURE(step);
    new_grads(slots, step);
    std::vector<double> hs(gpu::kAdamHyperSlots);
    gpu::adam_hyper_slots(h, step, hs.data());
    dh.upload(hs);
    std::vector<gpu::AdamTensor<T>> list;
    for (auto& s : slots) {
      if (s.n > 0)  // the CPU twins refuse the null buffers of an empty std::vector
        cpu::adam_step(s.p.data(), s.g.data(), s.st[0].data(), s.st[1].data(), s.n, h, step);
      list.push_back({s.dp->data(), s.dg->data(), s.dst[0]->data(), s.dst[1]->data(), s.n});
    }
    gpu::adam_step_dev_multi(list.data(), int64_t(list.size()), dh.data(), h.decoupled, skip);
    compare(slots, true);
  }
}

kn::RmspropHyper rms_hyper(bool centered, double momentum, double wd) {
  kn::RmspropHyper h;
  h.lr = 0.01;
  h.alpha = 0.9;
  h.eps = 1e-6;
  h.weight_decay = wd;
  h.momentum = momentum;
  h.centered = centered;
  return h;
}

template <typename T>
void rmsprop_steps(const kn::RmspropHyper& h) {
  auto slots = make_slots<T>(sizes_for(gpu::kRmspropMultiChunk), 3, false);
  std::vector<double> hs(gpu::kRmspropHyperSlots);
  gpu::rmsprop_hyper_slots(h, hs.data());
  DeviceBuffer<double> dh(hs);
  const bool mom = h.momentum > 0;
  for (int step = 1; step <= 3; ++step) {
    CAPTURE(step);
    new_grads(slots, step);
    std::vector<gpu::RmspropTensor<T>> list;
    for (auto& s : slots) {
      if (s.n > 0)
        cpu::rmsprop_step(s.p.data(), s.g.data(), s.st[0].data(),
                          h.centered ? s.st[1].data() : nullptr, mom ? s.st[2].data() : nullptr,
                          s.n, h);
      list.push_back({s.dp->data(), s.dg->data(), s.dst[0]->data(),
                      h.centered ? s.dst[1]->data() : nullptr, mom ? s.dst[2]->data() : nullptr,
                      s.n});
    }
    gpu::rmsprop_step_dev_multi(list.data(), int64_t(list.size()), dh.data());
    compare(slots, true);
  }
}

template <typename T>
void lamb_steps(double wd) {
  kn::LambHyper h;
  h.lr = 0.02;
  h.weight_decay = wd;
  auto slots = make_slots<T>(sizes_for(gpu::kLambMultiChunk), 2, /*zero_p_at=*/true);
  DeviceBuffer<double> dh(static_cast<size_t>(gpu::kLambHyperSlots));
  for (int step = 1; step <= 3; ++step) {
    CAPTURE(step);
    new_grads(slots, step);
    std::vector<double> hs(gpu::kLambHyperSlots);
    gpu::lamb_hyper_slots(h, step, hs.data());
    dh.upload(hs);
    std::vector<gpu::LambTensor<T>> list;
    for (size_t j = 0; j < slots.size(); ++j) {
      auto& s = slots[j];
      const kn::LambNorms r = s.n == 0 ? kn::LambNorms{0, 0, 1}
                                       : cpu::lamb_step(s.p.data(), s.g.data(), s.st[0].data(),
                                                        s.st[1].data(), s.n, h, step);
      // The zero tensor (7 elements, p = 0 before the first step) gets trust 1 there; the
      // others a ratio of their own, clipped at 10 at most.
      if (j == 1 && step == 1) CHECK(r.trust == 1.0);
      if (j == 2) CHECK((r.trust > 0 && r.trust <= 10 && r.trust != 1.0));
      list.push_back({s.dp->data(), s.dg->data(), s.dst[0]->data(), s.dst[1]->data(), s.n});
    }
    gpu::lamb_step_dev_multi(list.data(), int64_t(list.size()), dh.data());
    compare(slots, true);
  }
}

}  // namespace

TEST_CASE_TEMPLATE("cuda adam_step_dev_multi matches the CPU adam_step", T, float, double) {
  TG_SKIP_WITHOUT_CUDA();
  SUBCASE("Adam") {
    adam_steps<T>(adam_hyper(false, 0));
  }
  SUBCASE("Adam with L2 weight decay") {
    adam_steps<T>(adam_hyper(false, 0.1));
  }
  SUBCASE("AdamW") {
    adam_steps<T>(adam_hyper(true, 0.1));
  }
}

TEST_CASE_TEMPLATE("cuda rmsprop_step_dev_multi matches the CPU rmsprop_step", T, float, double) {
  TG_SKIP_WITHOUT_CUDA();
  SUBCASE("plain") {
    rmsprop_steps<T>(rms_hyper(false, 0, 0));
  }
  SUBCASE("centered with weight decay") {
    rmsprop_steps<T>(rms_hyper(true, 0, 0.05));
  }
  SUBCASE("momentum") {
    rmsprop_steps<T>(rms_hyper(false, 0.9, 0));
  }
  SUBCASE("centered with momentum") {
    rmsprop_steps<T>(rms_hyper(true, 0.5, 0.01));
  }
}

TEST_CASE_TEMPLATE("cuda lamb_step_dev_multi matches the CPU lamb_step", T, float, double) {
  TG_SKIP_WITHOUT_CUDA();
  SUBCASE("no weight decay") {
    lamb_steps<T>(0);
  }
  SUBCASE("weight decay") {
    lamb_steps<T>(0.1);
  }
}

// The guard is read by the kernels: a NaN or an infinity skips the whole update (parameters and
// every state buffer), a finite value lets it run.
TEST_CASE(
    "cuda adam, rmsprop and lamb multi-tensor steps skip the update when the guard is not "
    "finite") {
  TG_SKIP_WITHOUT_CUDA();
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<int64_t> sizes = {1, 7, 300};
  for (double guard : {std::nan(""), inf, -inf, 2.5}) {
    CAPTURE(guard);
    DeviceBuffer<double> dguard(std::vector<double>{guard});
    const bool runs = std::isfinite(guard);
    {
      auto slots = make_slots<float>(sizes, 2, false);
      new_grads(slots, 1);
      const auto before = snapshot(slots);
      const kn::AdamHyper h = adam_hyper(true, 0.1);
      std::vector<double> hs(gpu::kAdamHyperSlots);
      gpu::adam_hyper_slots(h, 1, hs.data());
      DeviceBuffer<double> dh(hs);
      std::vector<gpu::AdamTensor<float>> list;
      for (auto& s : slots)
        list.push_back({s.dp->data(), s.dg->data(), s.dst[0]->data(), s.dst[1]->data(), s.n});
      gpu::adam_step_dev_multi(list.data(), 3, dh.data(), true, dguard.data());
      CHECK((snapshot(slots) == before) == !runs);
    }
    {
      auto slots = make_slots<float>(sizes, 3, false);
      new_grads(slots, 1);
      const auto before = snapshot(slots);
      std::vector<double> hs(gpu::kRmspropHyperSlots);
      gpu::rmsprop_hyper_slots(rms_hyper(true, 0.9, 0), hs.data());
      DeviceBuffer<double> dh(hs);
      std::vector<gpu::RmspropTensor<float>> list;
      for (auto& s : slots)
        list.push_back({s.dp->data(), s.dg->data(), s.dst[0]->data(), s.dst[1]->data(),
                        s.dst[2]->data(), s.n});
      gpu::rmsprop_step_dev_multi(list.data(), 3, dh.data(), dguard.data());
      CHECK((snapshot(slots) == before) == !runs);
    }
    {
      auto slots = make_slots<float>(sizes, 2, false);
      new_grads(slots, 1);
      const auto before = snapshot(slots);
      std::vector<double> hs(gpu::kLambHyperSlots);
      gpu::lamb_hyper_slots(kn::LambHyper{}, 1, hs.data());
      DeviceBuffer<double> dh(hs);
      std::vector<gpu::LambTensor<float>> list;
      for (auto& s : slots)
        list.push_back({s.dp->data(), s.dg->data(), s.dst[0]->data(), s.dst[1]->data(), s.n});
      gpu::lamb_step_dev_multi(list.data(), 3, dh.data(), dguard.data());
      CHECK((snapshot(slots) == before) == !runs);
    }
  }
}

TEST_CASE("cuda adam, rmsprop and lamb multi-tensor host checks") {
  TG_SKIP_WITHOUT_CUDA();
  DeviceBuffer<float> p(std::vector<float>{1, 2}), g(std::vector<float>{1, 1});
  DeviceBuffer<float> m(std::vector<float>{0, 0}), v(std::vector<float>{0, 0});
  DeviceBuffer<double> hyper(std::vector<double>(16, 0.5));
  const double* no_hyper = nullptr;
  double out[16];
  // The step count, counted after the increment, starts at 1.
  CHECK_THROWS_WITH_AS(gpu::adam_hyper_slots(kn::AdamHyper{}, 0, out),
                       doctest::Contains("the step count must be >= 1"), tg::Error);
  CHECK_THROWS_WITH_AS(gpu::lamb_hyper_slots(kn::LambHyper{}, -3, out),
                       doctest::Contains("the step count must be >= 1"), tg::Error);
  CHECK_THROWS_AS(gpu::adam_hyper_slots(kn::AdamHyper{}, 1, nullptr), tg::Error);
  CHECK_THROWS_AS(gpu::rmsprop_hyper_slots(kn::RmspropHyper{}, nullptr), tg::Error);

  gpu::AdamTensor<float> at{p.data(), g.data(), m.data(), nullptr, 2};
  CHECK_THROWS_WITH_AS(gpu::adam_step_dev_multi(&at, 1, hyper.data(), false),
                       doctest::Contains("tensor 0: the parameter, gradient, exp_avg"), tg::Error);
  at.v = v.data();
  CHECK_THROWS_WITH_AS(gpu::adam_step_dev_multi(&at, 1, no_hyper, false),
                       doctest::Contains("hyper-parameters pointer is null"), tg::Error);
  CHECK_THROWS_WITH_AS(gpu::adam_step_dev_multi<float>(nullptr, 2, hyper.data(), false),
                       doctest::Contains("null tensor list"), tg::Error);
  gpu::AdamTensor<float> an{p.data(), g.data(), m.data(), v.data(), -1};
  CHECK_THROWS_WITH_AS(gpu::adam_step_dev_multi(&an, 1, hyper.data(), false),
                       doctest::Contains("tensor 0: negative size -1"), tg::Error);

  gpu::RmspropTensor<float> rt{p.data(), g.data(), nullptr, nullptr, nullptr, 2};
  CHECK_THROWS_WITH_AS(gpu::rmsprop_step_dev_multi(&rt, 1, hyper.data()),
                       doctest::Contains("tensor 0: the parameter, gradient and square_avg"),
                       tg::Error);
  rt.sq = m.data();
  CHECK_THROWS_WITH_AS(gpu::rmsprop_step_dev_multi(&rt, 1, no_hyper),
                       doctest::Contains("hyper-parameters pointer is null"), tg::Error);
  CHECK_THROWS_WITH_AS(gpu::rmsprop_step_dev_multi(&rt, -1, hyper.data()),
                       doctest::Contains("negative tensor count"), tg::Error);

  gpu::LambTensor<float> lt{p.data(), nullptr, m.data(), v.data(), 2};
  CHECK_THROWS_WITH_AS(gpu::lamb_step_dev_multi(&lt, 1, hyper.data()),
                       doctest::Contains("tensor 0: the parameter, gradient, exp_avg"), tg::Error);
  lt.grad = g.data();
  CHECK_THROWS_WITH_AS(gpu::lamb_step_dev_multi(&lt, 1, no_hyper),
                       doctest::Contains("hyper-parameters pointer is null"), tg::Error);
  // Nothing to do: no tensors, or only empty ones (whose pointers are not read).
  gpu::adam_step_dev_multi<float>(nullptr, 0, hyper.data(), false);
  gpu::LambTensor<float> empty{nullptr, nullptr, nullptr, nullptr, 0};
  gpu::lamb_step_dev_multi(&empty, 1, hyper.data());
  CHECK(p.download() == std::vector<float>{1, 2});
  CHECK(m.download() == std::vector<float>{0, 0});
}
