// AdaptiveThreads: the thread count of each training step chosen by timing. The timings are
// made deterministic here by a callback that sleeps in the steps run on one thread count,
// standing in for a busy core.
#include <doctest/doctest.h>
#include <omp.h>

#include <chrono>
#include <thread>

#include "learner/callbacks/callbacks.h"
#include "learner_fixture.h"

using namespace tg;
using tg::test::tiny_data;
using tg::test::tiny_learner;

namespace {

// Sleeps in every training step that runs on `slow_threads` threads, and counts the steps on
// each thread count.
struct SlowOn : Callback {
  explicit SlowOn(int t, int other_ms = 0) : slow_threads(t), other_ms(other_ms) {}
  void before_step(Learner&) override {
    const int t = omp_get_max_threads();
    ++steps_on[t];
    std::this_thread::sleep_for(std::chrono::milliseconds(t == slow_threads ? 4 : other_ms));
  }
  int slow_threads, other_ms;
  std::map<int, int> steps_on;
};

std::vector<std::vector<float>> weights(const Learner& l) {
  std::vector<std::vector<float>> w;
  for (const Tensor& p : l.model->parameters()) w.push_back(p.to_vector<float>());
  return w;
}

}  // namespace

TEST_CASE("AdaptiveThreads: candidates halve from the maximum, bad settings are refused") {
  const int saved = omp_get_max_threads();
  for (auto [max, want] : std::vector<std::pair<int, std::vector<int>>>{
           {5, {5, 2, 1}}, {2, {2, 1}}, {16, {16, 8, 4, 2, 1}}, {1, {1}}}) {
    auto at = std::make_shared<AdaptiveThreads>(max, 2, 3, 0.0);
    auto learn = tiny_learner({at}, tiny_data(8, 2, 2));
    learn->fit(1);
    CHECK(at->candidates == want);
    CHECK(omp_get_max_threads() == saved);  // restored after the fit
  }
  CHECK_THROWS_WITH_AS(AdaptiveThreads(-1), doctest::Contains("max_threads must be >= 0"),
                       tg::Error);
  CHECK_THROWS_WITH_AS(AdaptiveThreads(2, 1), doctest::Contains("probe must be >= 2"), tg::Error);
  CHECK_THROWS_WITH_AS(AdaptiveThreads(2, 3, 0), doctest::Contains("hold must be >= 1"), tg::Error);
  CHECK_THROWS_WITH_AS(AdaptiveThreads(2, 3, 4, -1.0), doctest::Contains("min_seconds"), tg::Error);
}

TEST_CASE("AdaptiveThreads: a probe lasts at least min_seconds on each candidate") {
  auto at = std::make_shared<AdaptiveThreads>(2, 2, 1000, /*min_seconds=*/0.02);
  auto slow_cb = std::make_shared<SlowOn>(2, 1);  // 4 ms per step on 2 threads, 1 ms on 1
  auto learn = tiny_learner({at, slow_cb}, tiny_data(120, 2, 2));
  learn->fit(1);
  REQUIRE(at->choices.size() == 1);
  CHECK(at->choices[0].threads == 1);
  // 0.02 s of 4 ms steps: at most 5 timed steps on 2 threads, plus the one not counted; of
  // 1 ms steps, at least 20 on 1 thread, far more than `probe`.
  CHECK(slow_cb->steps_on[2] >= 2);
  CHECK(slow_cb->steps_on[2] <= 6);
  CHECK(slow_cb->steps_on[1] >= 21);
}

TEST_CASE("AdaptiveThreads: a slow thread count is left for the fast one, and probed less") {
  for (int slow : {2, 1}) {
    CAPTURE(slow);
    const int fast = 3 - slow;
    auto at = std::make_shared<AdaptiveThreads>(2, /*probe=*/3, /*hold=*/4, /*min_seconds=*/0.0);
    auto slow_cb = std::make_shared<SlowOn>(slow);
    auto learn = tiny_learner({at, slow_cb}, tiny_data(160, 2, 2));  // 80 steps per epoch
    learn->fit(2);
    REQUIRE(at->choices.size() >= 3);
    for (const AdaptiveThreads::Choice& c : at->choices) {
      CHECK(c.threads == fast);
      REQUIRE(c.means.size() == 2);
      const double slow_mean = c.means[slow == 2 ? 0 : 1];
      const double fast_mean = c.means[slow == 2 ? 1 : 0];
      CHECK(slow_mean > fast_mean);
      CHECK(slow_mean >= 0.004);
    }
    // The same choice each time: the holds double (4, 8, 16, ...).
    for (size_t i = 2; i < at->choices.size(); ++i)
      CHECK(at->choices[i].train_iter - at->choices[i - 1].train_iter >
            at->choices[i - 1].train_iter - at->choices[i - 2].train_iter);
    // Only probes ran on the slow count: 3 steps per probe.
    CHECK(slow_cb->steps_on[slow] <= 3 * int(at->choices.size() + 1));
    CHECK(slow_cb->steps_on[fast] > slow_cb->steps_on[slow]);
  }
}

TEST_CASE("AdaptiveThreads: the same weights as a fit on a fixed thread count") {
  const int saved = omp_get_max_threads();
  omp_set_num_threads(2);
  auto fixed = tiny_learner({}, tiny_data(64, 2, 4));
  fixed->fit(2);
  auto at = std::make_shared<AdaptiveThreads>(2, 2, 3, 0.0);
  auto adaptive = tiny_learner({at, std::make_shared<SlowOn>(2)}, tiny_data(64, 2, 4));
  adaptive->fit(2);
  CHECK(!at->choices.empty());
  CHECK(weights(*fixed) == weights(*adaptive));
  CHECK(omp_get_max_threads() == 2);
  omp_set_num_threads(saved);
}
