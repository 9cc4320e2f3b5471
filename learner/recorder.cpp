// Recorder: the learning rate and loss of every training batch and the figures of every epoch,
// kept for plots and written as CSV (atomically, through write_file_atomic).
#include <charconv>
#include <set>
#include <sstream>

#include "learner/callbacks.h"
#include "learner/checkpoint.h"

namespace tg {

namespace {

// Shortest text that reads back to the same double ("0.1", "1e-07", "nan", "inf").
std::string num(double v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

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
  seen_loss_ = Tensor();
}

void Recorder::after_batch(Learner& l) {
  // Record only a loss this batch computed (not one left from a batch before it).
  const bool fresh = l.loss.defined() && l.loss.impl() != seen_loss_.impl();
  seen_loss_ = l.loss;
  if (!l.training || !fresh || l.context == RunContext::lr_find) return;
  lrs.push_back(l.opt->get("lr"));
  losses.push_back(l.loss.item<double>());
}

void Recorder::after_epoch(Learner& l) {
  if (l.context != RunContext::lr_find) epochs.push_back(l.values);
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
