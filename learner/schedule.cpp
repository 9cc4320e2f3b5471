// Schedules (the course's 05_anneal): small closures from training progress pos in [0, 1] to a
// hyper-parameter value, and combine_scheds, which strings several of them along the fit.
#include "learner/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "base/error.h"

namespace tg {

Schedule sched_no(double value) {
  return [value](double) { return value; };
}

Schedule sched_lin(double start, double end) {
  return [start, end](double pos) { return start + pos * (end - start); };
}

// fastai's sched_cos: start + (1 + cos(pi * (1 - pos))) * (end - start) / 2, so that pos 0
// gives start and pos 1 gives end, with zero slope at both ends.
Schedule sched_cos(double start, double end) {
  return [start, end](double pos) {
    return start + (1 + std::cos(std::numbers::pi * (1 - pos))) * (end - start) / 2;
  };
}

Schedule sched_exp(double start, double end) {
  TG_CHECK(start != 0 && end / start > 0, "sched_exp",
           "start and end must be non-zero and of the same sign, got ", start, " and ", end);
  return [start, end](double pos) { return start * std::pow(end / start, pos); };
}

Schedule combine_scheds(const std::vector<double>& pcts, const std::vector<Schedule>& scheds) {
  const char* op = "combine_scheds";
  TG_CHECK(!pcts.empty(), op, "no schedules given");
  TG_CHECK(pcts.size() == scheds.size(), op, "got ", pcts.size(), " fractions but ", scheds.size(),
           " schedules");
  double total = 0;
  for (size_t i = 0; i < pcts.size(); ++i) {
    TG_CHECK(std::isfinite(pcts[i]) && pcts[i] > 0, op, "fraction ", i, " must be positive, got ",
             pcts[i]);
    TG_CHECK(static_cast<bool>(scheds[i]), op, "schedule ", i, " is empty");
    total += pcts[i];
  }
  TG_CHECK(std::abs(total - 1) <= 1e-6, op, "the fractions must sum to 1, they sum to ", total);
  // ends[i]: where piece i stops; the last one is exactly 1 whatever the rounding.
  std::vector<double> ends(pcts.size());
  double at = 0;
  for (size_t i = 0; i < pcts.size(); ++i) ends[i] = (at += pcts[i]);
  ends.back() = 1;
  return [pcts, scheds, ends](double pos) {
    TG_CHECK(!std::isnan(pos), "combine_scheds", "the position is NaN");
    pos = std::clamp(pos, 0.0, 1.0);
    // The first piece whose end is beyond pos; a boundary belongs to the piece it starts.
    size_t i = 0;
    while (i + 1 < ends.size() && pos >= ends[i]) ++i;
    const double start = ends[i] - pcts[i];
    return scheds[i](std::clamp((pos - start) / pcts[i], 0.0, 1.0));
  };
}

Schedule one_cycle_lr(double max_lr, double pct_start, double div, double final_div) {
  const char* op = "one_cycle_lr";
  TG_CHECK(max_lr > 0, op, "max_lr must be positive, got ", max_lr);
  TG_CHECK(pct_start > 0 && pct_start < 1, op, "pct_start must be in (0, 1), got ", pct_start);
  TG_CHECK(div > 0 && final_div > 0, op, "div and final_div must be positive, got ", div, " and ",
           final_div);
  return combine_scheds(
      {pct_start, 1 - pct_start},
      {sched_cos(max_lr / div, max_lr), sched_cos(max_lr, max_lr / (div * final_div))});
}

Schedule one_cycle_mom(double high, double low, double pct_start) {
  TG_CHECK(pct_start > 0 && pct_start < 1, "one_cycle_mom", "pct_start must be in (0, 1), got ",
           pct_start);
  return combine_scheds({pct_start, 1 - pct_start}, {sched_cos(high, low), sched_cos(low, high)});
}

Schedule sched_step(double start, std::vector<double> milestones, double gamma) {
  TG_CHECK(std::isfinite(gamma) && gamma > 0, "sched_step", "gamma must be a positive number, got ",
           gamma);
  for (size_t i = 0; i < milestones.size(); ++i) {
    TG_CHECK(milestones[i] > 0 && milestones[i] < 1, "sched_step",
             "milestones must be fractions of training in (0, 1), got ", milestones[i]);
    TG_CHECK(i == 0 || milestones[i] > milestones[i - 1], "sched_step",
             "milestones must increase, got ", milestones[i - 1], " then ", milestones[i]);
  }
  return [start, milestones = std::move(milestones), gamma](double pos) {
    double v = start;
    for (double m : milestones)
      if (pos >= m) v *= gamma;
    return v;
  };
}

}  // namespace tg
