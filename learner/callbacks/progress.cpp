// ProgressBar: on a terminal, a bar redrawn in place while training (batches done, loss, ETA);
// everywhere, a table with one aligned row per epoch. Plain mode (not a terminal, CI set, or
// forced) prints only the table, so logs stay free of '\r'. Silent during an LR find.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "base/format.h"
#include "learner/callbacks/callbacks.h"

namespace tg {

namespace {

using Clock = std::chrono::steady_clock;

bool is_terminal(const std::ostream* out) {
  if (out == &std::cout) return isatty(fileno(stdout)) == 1;
  if (out == &std::cerr || out == &std::clog) return isatty(fileno(stderr)) == 1;
  return false;
}

bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && ci[0] != '\0';
}

// m:ss, or h:mm:ss from an hour on.
std::string clock_time(double seconds) {
  if (!(seconds >= 0) || seconds > 1e7) return "-:--";
  const long s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

// The table's columns: the train figures (loss first), the valid ones, then any others;
// epoch_seconds is shown as time instead.
std::vector<std::string> columns_of(const std::map<std::string, double>& values) {
  std::vector<std::string> cols;
  auto group = [&](const std::string& prefix) {
    if (values.count(prefix + "loss")) cols.push_back(prefix + "loss");
    for (const auto& [k, v] : values)
      if (k.rfind(prefix, 0) == 0 && k != prefix + "loss") cols.push_back(k);
  };
  group("train_");
  group("valid_");
  for (const auto& [k, v] : values)
    if (k.rfind("train_", 0) != 0 && k.rfind("valid_", 0) != 0 && k != "epoch_seconds")
      cols.push_back(k);
  return cols;
}

constexpr int kMinWidth = 8;
int width_of(const std::string& name) {
  return static_cast<int>(name.size()) > kMinWidth ? static_cast<int>(name.size()) : kMinWidth;
}

}  // namespace

ProgressBar::ProgressBar(std::ostream* out, bool force_plain)
    : out_(out ? out : &std::cout), interactive_(!force_plain && !in_ci() && is_terminal(out_)) {}

void ProgressBar::before_fit(Learner&) {
  header_done_ = false;
  columns_.clear();
  drawn_ = 0;
}

void ProgressBar::before_epoch(Learner&) {
  epoch_start_ = Clock::now();
}

void ProgressBar::before_train(Learner&) {
  phase_start_ = last_draw_ = Clock::now();
  drawn_ = 0;
}

void ProgressBar::after_batch(Learner& l) {
  if (!interactive_ || !l.training || l.context == RunContext::lr_find) return;
  const int64_t done = l.iter + 1, total = l.n_iter;
  const auto now = Clock::now();
  // At most ~10 redraws a second, and always the last batch.
  if (done < total && drawn_ > 0 && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  const double elapsed = std::chrono::duration<double>(now - phase_start_).count();
  const double eta = done > 0 ? elapsed / static_cast<double>(done) * (total - done) : 0;
  constexpr int kBar = 20;
  const int filled = total > 0 ? static_cast<int>(kBar * done / total) : 0;
  std::ostringstream line;
  line << "epoch " << (l.epoch + 1) << "/" << l.epochs << "  [" << std::string(filled, '#')
       << std::string(kBar - filled, '-') << "]  " << done << "/" << total;
  if (l.loss.defined()) line << "  loss " << tg::fixed(l.loss.item<double>(), 4);
  line << "  eta " << clock_time(eta);
  std::string s = line.str();
  const size_t width = s.size();
  if (width < drawn_) s += std::string(drawn_ - width, ' ');  // cover a longer previous line
  *out_ << '\r' << s << std::flush;
  drawn_ = width;
}

void ProgressBar::clear_line() {
  if (drawn_ == 0) return;
  *out_ << '\r' << std::string(drawn_, ' ') << '\r' << std::flush;
  drawn_ = 0;
}

void ProgressBar::after_train(Learner&) {
  clear_line();
}

void ProgressBar::after_epoch(Learner& l) {
  if (l.context == RunContext::lr_find) return;
  clear_line();
  std::ostringstream row;  // formatted apart, so the caller's stream keeps its flags
  if (!header_done_) {
    columns_ = columns_of(l.values);
    row << std::left << std::setw(kMinWidth) << "epoch";
    for (const auto& c : columns_) row << "  " << std::setw(width_of(c)) << c;
    row << "  time\n";
    header_done_ = true;
  }
  row << std::left << std::setw(kMinWidth) << (l.epoch + 1);
  for (const auto& c : columns_) {
    auto it = l.values.find(c);
    row << "  " << std::setw(width_of(c))
        << (it != l.values.end() ? tg::fixed(it->second, 6) : "-");
  }
  row << "  " << clock_time(std::chrono::duration<double>(Clock::now() - epoch_start_).count());
  *out_ << row.str() << std::endl;
}

void ProgressBar::after_fit(Learner&) {
  clear_line();
}

}  // namespace tg
