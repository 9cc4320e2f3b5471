// What a --save-last file holds beyond the library's train state (learner/callbacks/
// train_state.h), and how --resume takes it back: the run's settings, the per-epoch history and
// the --save best so far, as JSON in the checkpoint's metadata.
//
// Resuming a --save-last file continues that run: its settings replace the defaults, and a flag
// given again must agree with them, since a different --bs, --lr, --arch, ... would not
// continue the run but start another (UsageError naming the flag). --epochs may grow under
// --schedule const (whose schedule does not depend on the length): 2 epochs, then --resume with
// --epochs 4, is the 4-epoch run.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "apps/train/options.h"
#include "base/json.h"
#include "learner/io/safetensors.h"

namespace tg::train {

using History = std::vector<std::map<std::string, double>>;  // one map of figures per epoch

// The metadata keys the trainer adds to a train state.
inline constexpr const char* kSettingsKey = "run.settings";
inline constexpr const char* kHistoryKey = "run.history";
inline constexpr const char* kBestKey = "run.best";             // --save's best value
inline constexpr const char* kBestEpochKey = "run.best_epoch";  // and its epoch, from 0
inline constexpr const char* kBestPathKey = "run.best_path";    // and the file, absolute

// The settings that decide the run's numbers, in a fixed order (the --summary's config starts
// from them), and as the JSON text a --save-last file holds.
nlohmann::ordered_json settings_json(const Options& o);
std::string settings_text(const Options& o);
// o with the settings of a --save-last file (meta: its metadata; done: its epochs done);
// refuses a flag in o.given that disagrees (UsageError).
Options adopt_settings(const Options& o, const Metadata& meta, int64_t done);
// The history as JSON text (non-finite figures as null) and back (null as NaN).
std::string history_text(const History& h);
History parse_history(const std::string& text, const std::string& path);

}  // namespace tg::train
