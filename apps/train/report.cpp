// The trainer's outputs besides the progress lines: the --plot charts (drawn with
// learner/io/plot.h), the --summary JSON (learner/io/json.h) and the LR finder's printed summary.
#include "apps/train/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <ostream>
#include <set>

#include "learner/io/checkpoint.h"
#include "learner/io/json.h"
#include "learner/io/plot.h"

namespace tg::train {

namespace {

// One figure per epoch (x = 1, 2, ...), skipping epochs that lack it.
Series per_epoch(const std::string& key, const std::vector<std::map<std::string, double>>& epochs) {
  Series s{key, {}, {}};
  for (size_t i = 0; i < epochs.size(); ++i)
    if (auto it = epochs[i].find(key); it != epochs[i].end()) {
      s.x.push_back(static_cast<double>(i + 1));
      s.y.push_back(it->second);
    }
  return s;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// A number JSON can hold: NaN and infinities (a diverged loss) become null.
Json number_or_null(double v) {
  return std::isfinite(v) ? Json(v) : Json(nullptr);
}

}  // namespace

void write_training_plot(const std::string& path, const Recorder& rec,
                         const std::vector<std::map<std::string, double>>& epochs) {
  Series batches{"train_loss", {}, rec.losses};
  for (size_t i = 0; i < rec.losses.size(); ++i) batches.x.push_back(static_cast<double>(i + 1));
  std::vector<Chart> charts;
  charts.push_back({"loss per batch", "batch", "loss", {batches}});
  charts.push_back({"loss per epoch",
                    "epoch",
                    "loss",
                    {per_epoch("train_loss", epochs), per_epoch("valid_loss", epochs)}});
  charts.push_back({"accuracy per epoch",
                    "epoch",
                    "accuracy",
                    {per_epoch("train_accuracy", epochs), per_epoch("valid_accuracy", epochs)}});
  write_file_atomic(path, svg_panels(charts));
}

void write_lr_plot(const std::string& path, const LRFindResult& r) {
  // The divergence at the end would squash the interesting part: points above 1.5x the
  // starting loss are left out (the chart breaks the line there).
  const double cap =
      r.smoothed.empty() ? std::numeric_limits<double>::infinity() : 1.5 * r.smoothed.front();
  auto capped = [&](std::vector<double> v) {
    for (double& x : v)
      if (!(x <= cap)) x = std::numeric_limits<double>::quiet_NaN();
    return v;
  };
  std::vector<Series> series = {{"loss", r.lrs, capped(r.losses)},
                                {"smoothed loss", r.lrs, capped(r.smoothed)}};
  // The suggestion as a vertical line across the drawn range.
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const Series& s : series)
    for (double v : s.y)
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  if (lo <= hi)
    series.push_back({"suggested lr " + fmt("%.3g", r.suggested_lr),
                      {r.suggested_lr, r.suggested_lr},
                      {lo, hi}});
  write_file_atomic(path, svg_chart("LR finder", "learning rate (log scale)", "training loss",
                                    series, /*log_x=*/true));
}

void print_lr_find(std::ostream& out, const LRFindResult& r, bool quiet) {
  if (!quiet) {
    const size_t n = r.lrs.size();
    out << "lr_find: " << n << " batches, lr " << fmt("%.3g", n ? r.lrs.front() : 0) << " .. "
        << fmt("%.3g", n ? r.lrs.back() : 0) << "\n";
    out << "  lr          loss      smoothed\n";
    const size_t step = std::max<size_t>(1, n / 12);
    for (size_t i = 0; i < n; i += step)
      out << "  " << fmt("%-10.3g", r.lrs[i]) << "  " << fmt("%-8.4f", r.losses[i]) << "  "
          << fmt("%.4f", r.smoothed[i]) << "\n";
    out << "min_lr_over_10 " << fmt("%.3g", r.min_lr_over_10)
        << "  (a tenth of the lr at the smoothed loss's minimum)\n";
    out << "suggested_lr " << fmt("%.3g", r.suggested_lr)
        << "  (where the smoothed loss falls fastest)\n";
  } else {
    out << "suggested_lr " << fmt("%.3g", r.suggested_lr) << "\n";
  }
}

void write_summary(const std::string& path, const Options& o, const Outcome& r) {
  Json arch = Json::array();
  for (int64_t v : o.arch) arch.push(v);
  Json config = Json::object();
  config.set("dataset", o.dataset)
      .set("data", o.data_folder())
      .set("arch", std::move(arch))
      .set("epochs", o.epochs)
      .set("bs", o.bs)
      .set("lr", o.lr)
      .set("momentum", o.momentum)
      .set("wd", o.wd)
      .set("schedule", o.schedule)
      .set("seed", o.seed)
      .set("device", o.device)
      .set("limit", o.limit)
      .set("limit_valid", o.limit_valid)
      .set("threads", r.threads)
      .set("resume", o.resume.empty() ? Json(nullptr) : Json(o.resume))
      .set("save", o.save.empty() ? Json(nullptr) : Json(o.save));

  Json seconds = Json::array();
  for (const auto& e : r.epochs)
    if (auto it = e.find("epoch_seconds"); it != e.end()) seconds.push(number_or_null(it->second));
  // Every other figure AvgStats kept, one list each, in name order.
  std::set<std::string> keys;
  for (const auto& e : r.epochs)
    for (const auto& [k, v] : e)
      if (k != "epoch_seconds") keys.insert(k);
  Json history = Json::object();
  for (const auto& k : keys) {
    Json list = Json::array();
    for (const auto& e : r.epochs) {
      auto it = e.find(k);
      list.push(it == e.end() ? Json(nullptr) : number_or_null(it->second));
    }
    history.set(k, std::move(list));
  }
  auto last = [&](const std::string& k) {
    if (r.epochs.empty()) return Json(nullptr);
    auto it = r.epochs.back().find(k);
    return it == r.epochs.back().end() ? Json(nullptr) : number_or_null(it->second);
  };

  Json doc = Json::object();
  doc.set("test_accuracy", number_or_null(r.test_accuracy))
      .set("test_loss", number_or_null(r.test_loss))
      .set("train_loss", last("train_loss"))
      .set("valid_loss", last("valid_loss"))
      .set("valid_accuracy", last("valid_accuracy"))
      .set("epochs_run", static_cast<int64_t>(r.epochs.size()))
      .set("epoch_seconds", std::move(seconds))
      .set("total_seconds", number_or_null(r.total_seconds))
      .set("best_epoch", r.best_epoch >= 0 ? Json(r.best_epoch + 1) : Json(nullptr))
      .set("train_examples", r.train_examples)
      .set("test_examples", r.test_examples)
      .set("classes", r.classes)
      .set("config", std::move(config))
      .set("history", std::move(history));
  write_file_atomic(path, doc.dump(2) + "\n");
}

}  // namespace tg::train
