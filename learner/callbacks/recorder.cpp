// Recorder: the learning rate and loss of every training batch and the figures of every epoch,
// kept for plots and written as CSV (atomically, through write_file_atomic).
#include <cmath>
#include <set>
#include <sstream>

#include "base/file.h"
#include "base/format.h"
#include "learner/callbacks/callbacks.h"

namespace tg {

namespace {

// A CSV field, quoted when it holds a comma, a quote or a line break (RFC 4180).
std::string field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

// An LR find is not part of the history: the Recorder keeps what it had.
void Recorder::before_fit(Learner& l) {
  if (l.context == RunContext::lr_find) return;
  lrs.clear();
  losses.clear();
  epochs.clear();
  pending_.clear();
  seen_ = 0;
  lr_id_ = l.opt->hyper_id("lr");
}

void Recorder::after_batch(Learner& l) {
  if (!l.training || l.context == RunContext::lr_find) return;
  // Only a batch that added a loss to the tally (one cancelled before its loss did not).
  if (l.iter == 0) seen_ = 0;  // a new training phase: a new tally
  if (l.tally.batches() <= seen_) return;
  seen_ = l.tally.batches();
  lrs.push_back(l.opt->get(lr_id_));
  pending_.push_back(seen_ - 1);
}

// The tally is current here (the Learner flushed it): the pending batches' losses are known.
void Recorder::take_losses(Learner& l) {
  for (int64_t i : pending_) losses.push_back(l.tally.batch_loss(i));
  pending_.clear();
}

void Recorder::after_train(Learner& l) {
  if (l.context != RunContext::lr_find) take_losses(l);
}

void Recorder::after_epoch(Learner& l) {
  if (l.context != RunContext::lr_find) epochs.push_back(l.values);
}

void Recorder::after_fit(Learner& l) {
  if (l.context != RunContext::lr_find) take_losses(l);  // a fit stopped inside a train phase
}

void Recorder::write_csv(const std::string& path) const {
  std::set<std::string> keys;
  for (const auto& e : epochs)
    for (const auto& [k, v] : e) keys.insert(k);
  std::ostringstream os;
  os << "epoch";
  for (const auto& k : keys) os << ',' << field(k);
  os << '\n';
  for (size_t i = 0; i < epochs.size(); ++i) {
    os << (i + 1);
    for (const auto& k : keys) {
      os << ',';
      auto it = epochs[i].find(k);
      if (it != epochs[i].end()) os << num(it->second);  // a missing figure stays empty
    }
    os << '\n';
  }
  write_file_atomic(path, os.str());
}

void Recorder::write_batches_csv(const std::string& path) const {
  std::ostringstream os;
  os << "iter,lr,loss\n";
  for (size_t i = 0; i < losses.size(); ++i)
    os << i << ',' << num(lrs[i]) << ',' << num(losses[i]) << '\n';
  write_file_atomic(path, os.str());
}

}  // namespace tg
