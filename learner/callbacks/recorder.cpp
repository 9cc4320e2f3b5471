// Recorder: the learning rate and loss of every training batch and the figures of every epoch,
// kept for plots and written as CSV (atomically, through write_file_atomic).
#include <charconv>
#include <cmath>
#include <set>
#include <sstream>

#include "learner/callbacks/callbacks.h"
#include "learner/io/checkpoint.h"
#include "tensor/creation.h"
#include "tensor/grad_mode.h"

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
  device_losses_ = Tensor();
  device_count_ = 0;
}

void Recorder::after_batch(Learner& l) {
  // Record only a loss this batch computed (not one left from a batch before it).
  const bool fresh = l.loss.defined() && l.loss.impl() != seen_loss_.impl();
  seen_loss_ = l.loss;
  if (!l.training || !fresh || l.context == RunContext::lr_find) return;
  lrs.push_back(l.opt->get("lr"));
  if (l.loss.device().is_cuda()) {
    // Kept on the device (one copy kernel) and read once per phase: reading each loss would
    // make every step wait for the GPU.
    NoGrad off;
    if (!device_losses_.defined() || device_count_ == device_losses_.size(0))
      flush_device_losses(),
          device_losses_ = empty({std::max<int64_t>(l.n_iter, 1)}, DType::f32, l.loss.device());
    device_losses_.narrow(0, device_count_++, 1).copy_(l.loss.detach().reshape({1}));
    losses.push_back(std::nan(""));  // filled in by flush_device_losses
    return;
  }
  losses.push_back(l.loss.item<double>());
}

void Recorder::flush_device_losses() {
  if (device_count_ == 0) return;
  const std::vector<double> v = device_losses_.narrow(0, 0, device_count_).to_vector<double>();
  const size_t first = losses.size() - v.size();
  for (size_t i = 0; i < v.size(); ++i) losses[first + i] = v[i];
  device_count_ = 0;
}

void Recorder::after_train(Learner&) {
  flush_device_losses();
}

void Recorder::after_epoch(Learner& l) {
  flush_device_losses();
  if (l.context != RunContext::lr_find) epochs.push_back(l.values);
}

void Recorder::after_fit(Learner&) {
  flush_device_losses();
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
