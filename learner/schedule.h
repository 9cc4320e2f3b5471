// Schedules: functions from training progress (0 at the start of fit, 1 at the end) to the
// value of a hyper-parameter, as in the course's 05_anneal notebook.
//
//   auto lr = tg::combine_scheds({0.3, 0.7}, {tg::sched_cos(0.01, 0.5), tg::sched_cos(0.5, 1e-4)});
//   learn.fit(3, {std::make_shared<tg::ParamScheduler>("lr", lr)});
#pragma once

#include <functional>
#include <vector>

namespace tg {

using Schedule = std::function<double(double pos)>;

Schedule sched_no(double value);               // constant
Schedule sched_lin(double start, double end);  // straight line
Schedule sched_cos(double start, double end);  // half cosine: flat at both ends
Schedule sched_exp(double start, double end);  // geometric: start * (end/start)^pos
// Runs scheds[i] over a fraction pcts[i] of training (pcts must be positive and sum to 1),
// each seeing its own 0..1 progress.
Schedule combine_scheds(const std::vector<double>& pcts, const std::vector<Schedule>& scheds);
// fastai's one-cycle for the learning rate: cosine from max/div to max over pct_start, then
// cosine down to max/(div*final_div).
Schedule one_cycle_lr(double max_lr, double pct_start = 0.25, double div = 25,
                      double final_div = 1e4);
// Step decay, torch.optim.lr_scheduler.MultiStepLR over the fit's progress: start * gamma^k,
// k the number of milestones <= pos. Milestones are fractions of training in (0, 1), strictly
// increasing; gamma > 0. sched_step(0.1, {0.5, 0.75}) is 0.1, then 0.01 from half way, then 0.001.
Schedule sched_step(double start, std::vector<double> milestones, double gamma = 0.1);
// and its momentum companion: cosine from high to low, then back to high.
Schedule one_cycle_mom(double high = 0.95, double low = 0.85, double pct_start = 0.25);

}  // namespace tg
