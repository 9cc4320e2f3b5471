// ParamScheduler: drives optimizer hyper-parameters from schedules of the fit's progress, set
// before each training batch (the course's 05_anneal ParamScheduler).
#include <utility>

#include "learner/callbacks/callbacks.h"

namespace tg {

ParamScheduler::ParamScheduler(std::string param_, Schedule sched_)
    : ParamScheduler(std::map<std::string, Schedule>{{std::move(param_), std::move(sched_)}}) {}

ParamScheduler::ParamScheduler(std::map<std::string, Schedule> scheds_)
    : scheds(std::move(scheds_)) {
  TG_CHECK(!scheds.empty(), "ParamScheduler", "no hyper-parameter given");
  for (const auto& [name, s] : scheds) {
    TG_CHECK(!name.empty(), "ParamScheduler", "an empty hyper-parameter name");
    TG_CHECK(static_cast<bool>(s), "ParamScheduler", "the schedule for '", name, "' is empty");
  }
  param = scheds.begin()->first;
  sched = scheds.begin()->second;
}

void ParamScheduler::before_fit(Learner& l) {
  if (l.context == RunContext::lr_find) return;  // the finder drives lr then
  values.clear();
  values_of.clear();
  // An unknown name fails here, before any training, with the optimizer's list of names.
  ids_.clear();
  for (const auto& [name, s] : scheds) ids_.emplace_back(l.opt->hyper_id(name), &name);
}

void ParamScheduler::before_batch(Learner& l) {
  if (!l.training || l.context == RunContext::lr_find) return;
  auto id = ids_.begin();
  for (const auto& [name, s] : scheds) {
    const double v = s(l.pct_train);
    l.opt->set((id++)->first, v);  // checked by the optimizer, once
    values_of[name].push_back(v);
    if (name == param) values.push_back(v);
  }
}

}  // namespace tg
