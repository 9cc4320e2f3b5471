// The trainer's part of a resumable run (resume.h).
#include "apps/train/resume.h"

#include <cmath>
#include <limits>

#include "base/error.h"
#include "base/format.h"
#include "base/json.h"

namespace tg::train {

namespace {

using Json = nlohmann::json;

double json_double(const Json& j, const std::string& what, const char* field) {
  TG_CHECK(j.is_number(), "--resume", what, ": '", field, "' must be a number, got ", j.dump());
  return j.get<double>();
}

}  // namespace

nlohmann::ordered_json settings_json(const Options& o) {
  return {{"model", o.model},
          {"dataset", o.dataset},
          {"data", o.data_folder()},
          {"arch", o.arch},
          {"channels", o.channels},
          {"stage_convs", o.stage_convs},
          {"epochs", o.epochs},
          {"bs", o.bs},
          {"lr", o.lr},
          {"momentum", o.momentum},
          {"wd", o.wd},
          {"opt", o.opt},
          {"beta2", o.beta2},
          {"eps", o.eps},
          {"schedule", o.schedule},
          {"seed", o.seed},
          {"limit", o.limit},
          {"limit_valid", o.limit_valid},
          {"pad_crop", o.pad_crop},
          {"flip", o.flip},
          {"mixup", o.mixup},
          {"label_smoothing", o.label_smoothing},
          {"clip_value", o.clip_value}};
}

std::string settings_text(const Options& o) {
  return dump_json(settings_json(o), "run.settings");
}

Options adopt_settings(const Options& o, const Metadata& meta, int64_t done) {
  const std::string what = "'" + o.resume + "'";
  auto it = meta.find(kSettingsKey);
  TG_CHECK(it != meta.end(), "--resume", what, ": a train state without the run's settings ('",
           kSettingsKey, "'); it was not written by tapegrad-train --save-last");
  const Json s = parse_json(it->second, "--resume " + what + ": " + kSettingsKey);
  const char* op = "--resume";
  Options r = o;
  r.model = s.contains("model") ? json_string(s.at("model"), op, "model") : "mlp";
  r.dataset = json_string(s.at("dataset"), op, "dataset");
  r.data_dir = json_string(s.at("data"), op, "data");
  r.arch.clear();
  for (const Json& v : json_array(s.at("arch"), op, "arch"))
    r.arch.push_back(json_int64(v, op, "arch"));
  if (s.contains("channels")) {  // absent in files from before --channels: the course's
    r.channels.clear();
    for (const Json& v : json_array(s.at("channels"), op, "channels"))
      r.channels.push_back(json_int64(v, op, "channels"));
  }
  // Absent in files from before --stage-convs: one conv per stage.
  r.stage_convs =
      s.contains("stage_convs") ? json_int64(s.at("stage_convs"), op, "stage_convs") : 1;
  r.epochs = json_int64(s.at("epochs"), op, "epochs");
  r.bs = json_int64(s.at("bs"), op, "bs");
  r.lr = json_double(s.at("lr"), what, "lr");
  r.momentum = json_double(s.at("momentum"), what, "momentum");
  r.wd = json_double(s.at("wd"), what, "wd");
  // Absent in files from before --opt: SGD's run.
  r.opt = s.contains("opt") ? json_string(s.at("opt"), op, "opt") : "sgd";
  r.beta2 = s.contains("beta2") ? json_double(s.at("beta2"), what, "beta2") : Options{}.beta2;
  r.eps = s.contains("eps") ? json_double(s.at("eps"), what, "eps") : Options{}.eps;
  r.schedule = json_string(s.at("schedule"), op, "schedule");
  r.seed = json_uint64(s.at("seed"), op, "seed");
  r.limit = json_int64(s.at("limit"), op, "limit");
  r.limit_valid = json_int64(s.at("limit_valid"), op, "limit_valid");
  // The training tricks: absent in files from before them (all off then).
  r.pad_crop = s.contains("pad_crop") ? json_int64(s.at("pad_crop"), op, "pad_crop") : 0;
  r.flip = s.contains("flip") && s.at("flip").is_boolean() && s.at("flip").get<bool>();
  r.mixup = s.contains("mixup") ? json_double(s.at("mixup"), what, "mixup") : 0;
  r.label_smoothing = s.contains("label_smoothing")
                          ? json_double(s.at("label_smoothing"), what, "label_smoothing")
                          : 0;
  r.clip_value = s.contains("clip_value") ? json_double(s.at("clip_value"), what, "clip_value") : 0;

  // A flag given again must agree with the run it continues.
  auto agree = [&](const char* flag, bool same, const std::string& was, const std::string& now) {
    if (o.given.count(flag) == 0 || same) return;
    throw UsageError("--resume " + o.resume + " continues a run of " + flag + " " + was + "; " +
                     flag + " " + now +
                     " would start another run (to start from its weights with other settings, "
                     "resume from a --save file)");
  };
  const bool data_given = o.given.count("--data") || o.given.count("--dataset");
  if (data_given && o.data_folder() != r.data_folder())
    throw UsageError("--resume " + o.resume + " continues a run on the data in '" +
                     r.data_folder() + "'; this command names '" + o.data_folder() + "'");
  agree("--model", o.model == r.model, r.model, o.model);
  agree("--arch", o.arch == r.arch, arch_str(r.arch), arch_str(o.arch));
  agree("--channels", o.channels == r.channels, arch_str(r.channels), arch_str(o.channels));
  agree("--stage-convs", o.stage_convs == r.stage_convs, std::to_string(r.stage_convs),
        std::to_string(o.stage_convs));
  agree("--bs", o.bs == r.bs, std::to_string(r.bs), std::to_string(o.bs));
  agree("--lr", o.lr == r.lr, num(r.lr), num(o.lr));
  agree("--momentum", o.momentum == r.momentum, num(r.momentum), num(o.momentum));
  agree("--wd", o.wd == r.wd, num(r.wd), num(o.wd));
  agree("--opt", o.opt == r.opt, r.opt, o.opt);
  agree("--beta2", o.beta2 == r.beta2, num(r.beta2), num(o.beta2));
  agree("--eps", o.eps == r.eps, num(r.eps), num(o.eps));
  agree("--schedule", o.schedule == r.schedule, r.schedule, o.schedule);
  agree("--seed", o.seed == r.seed, std::to_string(r.seed), std::to_string(o.seed));
  agree("--limit", o.limit == r.limit, std::to_string(r.limit), std::to_string(o.limit));
  agree("--limit-valid", o.limit_valid == r.limit_valid, std::to_string(r.limit_valid),
        std::to_string(o.limit_valid));
  agree("--pad-crop", o.pad_crop == r.pad_crop, std::to_string(r.pad_crop),
        std::to_string(o.pad_crop));
  agree("--flip", o.flip == r.flip, r.flip ? "on" : "off", o.flip ? "on" : "off");
  agree("--mixup", o.mixup == r.mixup, num(r.mixup), num(o.mixup));
  agree("--label-smoothing", o.label_smoothing == r.label_smoothing, num(r.label_smoothing),
        num(o.label_smoothing));
  agree("--clip-value", o.clip_value == r.clip_value, num(r.clip_value), num(o.clip_value));
  if (o.given.count("--epochs") && o.epochs != r.epochs) {
    if (r.schedule != "const" && r.schedule != "plateau")
      throw UsageError("--resume " + o.resume + " continues a run of --epochs " +
                       std::to_string(r.epochs) + " under --schedule " + r.schedule +
                       ", whose schedule depends on the run's length; --epochs " +
                       std::to_string(o.epochs) + " would change every remaining step");
    if (o.epochs < done)
      throw UsageError("--resume " + o.resume + ": the run has done " + plural(done, "epoch") +
                       " already; --epochs " + std::to_string(o.epochs) + " is fewer");
    r.epochs = o.epochs;
  }
  return r;
}

std::string history_text(const History& h) {
  Json list = Json::array();
  for (const auto& e : h) {
    Json row = Json::object();
    for (const auto& [k, v] : e) row[k] = std::isfinite(v) ? Json(v) : Json(nullptr);
    list.push_back(std::move(row));
  }
  return dump_json(list, "run.history");
}

History parse_history(const std::string& text, const std::string& path) {
  const std::string what = "--resume '" + path + "': " + kHistoryKey;
  const Json j = parse_json(text, what);
  History h;
  for (const Json& row : json_array(j, "--resume", kHistoryKey)) {
    std::map<std::string, double> e;
    for (const auto& [k, v] : json_object(row, "--resume", kHistoryKey))
      e[k] =
          v.is_null() ? std::numeric_limits<double>::quiet_NaN() : json_double(v, what, "figure");
    h.push_back(std::move(e));
  }
  return h;
}

}  // namespace tg::train
