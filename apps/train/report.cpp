// The trainer's outputs besides the progress lines: the --plot charts (drawn with
// learner/io/plot.h), the --summary JSON (base/json.h) and the LR finder's printed summary.
#include "apps/train/report.h"
#include "base/format.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <ostream>
#include <set>

#include "base/json.h"
#include "learner/io/checkpoint.h"
#include "learner/io/plot.h"

namespace tg::train {

namespace {

// The summary keeps the order its keys are set in (documented in docs/trainer.md).
using Json = nlohmann::ordered_json;

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
    out << "lr_find: ran " << plural(n, "batch") << ", lr " << fmt("%.3g", n ? r.lrs.front() : 0)
        << " .. " << fmt("%.3g", n ? r.lrs.back() : 0) << "\n";
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
    out << "suggested_lr " << fmt("%.3g", r.suggested_lr) << "  (" << plural(r.lrs.size(), "batch")
        << ")\n";
  }
}

void write_summary(const std::string& path, const Options& o, const Outcome& r) {
  auto or_null = [](const std::string& s) { return s.empty() ? Json(nullptr) : Json(s); };
  Json config = {{"dataset", o.dataset},
                 {"data", o.data_folder()},
                 {"arch", o.arch},
                 {"epochs", o.epochs},
                 {"bs", o.bs},
                 {"lr", o.lr},
                 {"momentum", o.momentum},
                 {"wd", o.wd},
                 {"schedule", o.schedule},
                 {"seed", o.seed},
                 {"device", o.device},
                 {"limit", o.limit},
                 {"limit_valid", o.limit_valid},
                 {"threads", r.threads},
                 {"resume", or_null(o.resume)},
                 {"save", or_null(o.save)}};

  Json seconds = Json::array();
  for (const auto& e : r.epochs)
    if (auto it = e.find("epoch_seconds"); it != e.end())
      seconds.push_back(number_or_null(it->second));
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
      list.push_back(it == e.end() ? Json(nullptr) : number_or_null(it->second));
    }
    history[k] = std::move(list);
  }
  auto last = [&](const std::string& k) {
    if (r.epochs.empty()) return Json(nullptr);
    auto it = r.epochs.back().find(k);
    return it == r.epochs.back().end() ? Json(nullptr) : number_or_null(it->second);
  };

  Json doc = {{"test_accuracy", number_or_null(r.test_accuracy)},
              {"test_loss", number_or_null(r.test_loss)},
              {"train_loss", last("train_loss")},
              {"valid_loss", last("valid_loss")},
              {"valid_accuracy", last("valid_accuracy")},
              {"epochs_run", r.epochs.size()},
              {"epoch_seconds", std::move(seconds)},
              {"total_seconds", number_or_null(r.total_seconds)},
              {"best_epoch", r.best_epoch >= 0 ? Json(r.best_epoch + 1) : Json(nullptr)},
              {"train_examples", r.train_examples},
              {"test_examples", r.test_examples},
              {"classes", r.classes},
              {"config", std::move(config)},
              {"history", std::move(history)}};
  // Numbers went through number_or_null, so dump_json's refusal of NaN never fires here; it
  // guards against a figure added later without it.
  write_file_atomic(path, dump_json(doc, "--summary '" + path + "'", 2) + "\n");
}

}  // namespace tg::train
