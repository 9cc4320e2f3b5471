// The trainer's outputs besides the progress lines: the --plot charts (drawn with
// learner/io/plot.h), the --summary JSON (base/json.h) and the LR finder's printed summary.
#include "apps/train/report.h"
#include "apps/train/resume.h"
#include "base/format.h"

#include <algorithm>
#include <cmath>
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
  for (Chart& c : charts) c.integer_x = true;  // batches and epochs: 1, 2, 3, never 1.5
  write_file_atomic(path, svg_panels(charts));
}

void write_lr_plot(const std::string& path, const LRFindResult& r) {
  write_file_atomic(path, svg_panels({lr_find_chart(r)}));
}

void print_lr_find(std::ostream& out, const LRFindResult& r, bool quiet) {
  if (!quiet) {
    const size_t n = r.lrs.size();
    out << "lr_find: ran " << plural(n, "batch") << ", lr " << tg::sig(n ? r.lrs.front() : 0, 3)
        << " .. " << tg::sig(n ? r.lrs.back() : 0, 3) << "\n";
    out << "  lr          loss      smoothed\n";
    const size_t step = std::max<size_t>(1, n / 12);
    auto cell = [](std::string s, size_t width) {  // left-aligned in width columns
      if (s.size() < width) s.resize(width, ' ');
      return s;
    };
    for (size_t i = 0; i < n; i += step)
      out << "  " << cell(tg::sig(r.lrs[i], 3), 10) << "  " << cell(tg::fixed(r.losses[i], 4), 8)
          << "  " << tg::fixed(r.smoothed[i], 4) << "\n";
    out << "min_lr_over_10 " << tg::sig(r.min_lr_over_10, 3)
        << "  (a tenth of the lr at the smoothed loss's minimum)\n";
    out << "suggested_lr " << tg::sig(r.suggested_lr, 3)
        << "  (where the smoothed loss falls fastest)\n";
  } else {
    out << "suggested_lr " << tg::sig(r.suggested_lr, 3) << "  (" << plural(r.lrs.size(), "batch")
        << ")\n";
  }
}

void write_summary(const std::string& path, const Options& o, const Outcome& r) {
  auto or_null = [](const std::string& s) { return s.empty() ? Json(nullptr) : Json(s); };
  // The run's settings (those a --save-last file keeps), the device after the seed, then what
  // does not change the numbers.
  const Json settings = settings_json(o);  // named: items() refers into it
  Json config = Json::object();
  for (const auto& [k, v] : settings.items()) {
    config[k] = v;
    if (k == "seed") config["device"] = o.device;
  }
  config["threads"] = r.threads;
  config["fixed_threads"] = o.fixed_threads;
  config["resume"] = or_null(o.resume);
  config["save"] = or_null(o.save);
  config["save_last"] = or_null(o.save_last);

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

  Json choices = Json::array();  // [training batch, threads] per AdaptiveThreads probe
  for (const auto& [iter, threads] : r.thread_choices)
    choices.push_back(Json::array({iter, threads}));
  Json doc = {{"test_accuracy", number_or_null(r.test_accuracy)},
              {"test_loss", number_or_null(r.test_loss)},
              {"train_loss", last("train_loss")},
              {"valid_loss", last("valid_loss")},
              {"valid_accuracy", last("valid_accuracy")},
              {"epochs_run", r.epochs.size()},
              {"interrupted", r.interrupted.empty() ? Json(false) : Json(r.interrupted)},
              {"resumed_after_epoch", r.resumed_after},
              {"epoch_seconds", std::move(seconds)},
              {"total_seconds", number_or_null(r.total_seconds)},
              {"thread_choices", choices},
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
