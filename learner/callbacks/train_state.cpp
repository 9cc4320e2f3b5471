// The train state: a checkpoint with the counters a resume needs (train_state.h).
#include "learner/callbacks/train_state.h"

#include <charconv>
#include <system_error>
#include <utility>

#include "base/error.h"
#include "learner/io/checkpoint.h"
#include "learner/learner.h"

namespace tg {

namespace {

constexpr const char* kDone = "state.epochs_done";
constexpr const char* kEpochs = "state.epochs";
constexpr const char* kLoader = "state.loader_epoch";

int64_t read_count(const std::string& path, const Metadata& meta, const char* key) {
  auto it = meta.find(key);
  TG_CHECK(it != meta.end(), "load_train_state", "'", path, "': no '", key, "' in its metadata");
  int64_t v = -1;
  const std::string& s = it->second;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  TG_CHECK(ec == std::errc() && end == s.data() + s.size() && v >= 0, "load_train_state", "'", path,
           "': '", key, "' is '", s, "', not a count");
  return v;
}

}  // namespace

bool is_train_state(const Metadata& meta) {
  return meta.count(kDone) && meta.count(kEpochs) && meta.count(kLoader);
}

void save_train_state(const std::string& path, const Learner& l, const Metadata& extra) {
  Metadata meta = extra;
  meta[kDone] = std::to_string(l.epoch + 1);
  meta[kEpochs] = std::to_string(l.epochs);
  meta[kLoader] = std::to_string(l.data.train_dl.epoch());
  save_checkpoint(path, *l.model, l.opt.get(), meta);
}

TrainState load_train_state(const std::string& path, Learner& l) {
  Metadata meta = load_checkpoint(path, *l.model, l.opt.get());
  TG_CHECK(is_train_state(meta), "load_train_state", "'", path,
           "' holds weights but no train state (epochs done, schedule position, shuffle): it "
           "was not written by SaveState (tapegrad-train --save-last)");
  TrainState s;
  s.epochs_done = read_count(path, meta, kDone);
  s.epochs = read_count(path, meta, kEpochs);
  s.loader_epoch = read_count(path, meta, kLoader);
  TG_CHECK(s.epochs_done <= s.epochs, "load_train_state", "'", path, "': ", s.epochs_done,
           " epochs done of a fit of ", s.epochs);
  for (const char* k : {kDone, kEpochs, kLoader}) meta.erase(k);
  s.meta = std::move(meta);
  l.data.train_dl.set_epoch(s.loader_epoch);
  return s;
}

SaveState::SaveState(std::string path_, std::function<Metadata(const Learner&)> extra_)
    : path(std::move(path_)), extra(std::move(extra_)) {
  TG_CHECK(!path.empty(), "SaveState", "no path given");
}

void SaveState::after_epoch(Learner& l) {
  if (l.context != RunContext::fit) return;  // lr_find's weights are thrown away
  save_train_state(path, l, extra ? extra(l) : Metadata{});
  saved_epochs = l.epoch + 1;
}

}  // namespace tg
