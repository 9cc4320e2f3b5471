// AdaptiveThreads (callbacks.h): probe, hold, probe again.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "base/error.h"
#include "learner/callbacks/callbacks.h"

namespace tg {

AdaptiveThreads::AdaptiveThreads(int max_threads_, int64_t probe_, int64_t hold_,
                                 double min_seconds_)
    : max_threads(max_threads_), probe(probe_), hold(hold_), min_seconds(min_seconds_) {
  TG_CHECK(max_threads >= 0, "AdaptiveThreads", "max_threads must be >= 0, got ", max_threads);
  TG_CHECK(probe >= 2, "AdaptiveThreads", "probe must be >= 2 batches, got ", probe);
  TG_CHECK(hold >= 1, "AdaptiveThreads", "hold must be >= 1 batch, got ", hold);
  TG_CHECK(min_seconds >= 0 && min_seconds < 60, "AdaptiveThreads",
           "min_seconds must be in [0, 60), got ", min_seconds);
}

void AdaptiveThreads::before_fit(Learner& l) {
  const int saved = omp_get_max_threads();
  l.at_run_end([saved] { omp_set_num_threads(saved); });
  const int top = max_threads > 0 ? max_threads : saved;
  candidates.clear();
  for (int t = top; t >= 1; t /= 2) candidates.push_back(t);
  choices.clear();
  current_ = top;
  hold_now_ = hold;
  if (candidates.size() == 1) {  // one thread: nothing to choose
    probing_ = false;
    left_ = -1;
    omp_set_num_threads(current_);
    return;
  }
  start_probe();
}

void AdaptiveThreads::start_probe() {
  probing_ = true;
  cand_ = 0;
  done_ = 0;
  sum_.assign(candidates.size(), 0.0);
  count_.assign(candidates.size(), 0);
  omp_set_num_threads(candidates[0]);
}

void AdaptiveThreads::before_batch(Learner& l) {
  omp_set_num_threads(l.training && probing_ ? candidates[cand_] : current_);
  t0_ = std::chrono::steady_clock::now();
}

void AdaptiveThreads::after_batch(Learner& l) {
  if (!l.training || left_ < 0) return;
  const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  if (!probing_) {
    if (--left_ <= 0) start_probe();
    return;
  }
  if (done_ > 0) {  // the first batch after a switch wakes a new team: not counted
    sum_[cand_] += dt;
    ++count_[cand_];
  }
  ++done_;
  if (count_[cand_] < probe - 1 || sum_[cand_] < min_seconds) return;
  if (++cand_ < candidates.size()) {  // next candidate
    done_ = 0;
    return;
  }
  // Every candidate measured: keep the fastest.
  Choice c{l.train_iter, current_, {}};
  size_t best = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    c.means.push_back(sum_[i] / double(count_[i]));
    if (c.means[i] < c.means[best]) best = i;
  }
  const int chosen = candidates[best];
  hold_now_ = chosen == current_ && !choices.empty() ? std::min(hold_now_ * 2, 16 * hold) : hold;
  current_ = chosen;
  c.threads = chosen;
  choices.push_back(std::move(c));
  probing_ = false;
  left_ = hold_now_;
  omp_set_num_threads(current_);
}

}  // namespace tg
