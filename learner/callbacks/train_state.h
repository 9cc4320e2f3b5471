// A run's whole state at the end of an epoch, for a resume that reproduces the unbroken run
// bit for bit: the model, the optimizer's state (momentum buffers), the epochs done and the
// fit's length (so the schedules' positions follow), the training loader's epoch (its shuffle
// is drawn from (seed, epoch)), and whatever the caller adds (its settings, the history).
//
//   learn.fit(4, {std::make_shared<tg::SaveState>("last.safetensors")});   // killed in epoch 3
//   ...
//   tg::TrainState s = tg::load_train_state("last.safetensors", learn);    // a fresh Learner
//   learn.fit(s.epochs, cbs, s.epochs_done);   // epochs 3 and 4: the weights of the 4-epoch fit
//
// The file is a checkpoint (learner/io/checkpoint.h: "model." and "optim." keys) whose metadata
// also holds "state.epochs_done", "state.epochs" and "state.loader_epoch"; it is written
// atomically, so a kill leaves the previous epoch's state or the new one, never half of one.
// A state is taken between epochs only: a run stopped inside an epoch resumes at its start.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "learner/callback.h"
#include "learner/io/safetensors.h"

namespace tg {

class Learner;

struct TrainState {
  int64_t epochs_done = 0;   // epochs completed: the resumed fit starts at this epoch
  int64_t epochs = 0;        // of the fit, all of it
  int64_t loader_epoch = 0;  // the training DataLoader's epoch counter
  Metadata meta;             // the file's other metadata (the caller's keys)
};

// Whether the checkpoint's metadata is that of a train state.
bool is_train_state(const Metadata& meta);
// Writes learn's model, optimizer and state (epochs_done = l.epoch + 1) with extra metadata.
void save_train_state(const std::string& path, const Learner& l, const Metadata& extra = {});
// Loads a train state into learn's model and optimizer and sets its training loader's epoch.
// Refuses a checkpoint without one (a SaveModel file) by name, and a state that is not
// consistent (epochs_done outside 0..epochs).
TrainState load_train_state(const std::string& path, Learner& l);

// Writes the train state after every epoch of a fit (not of lr_find), so that an interrupted
// run loses at most the epoch it was in. extra: metadata to add, asked for at each write.
class SaveState : public Callback {
 public:
  explicit SaveState(std::string path, std::function<Metadata(const Learner&)> extra = {});
  int order() const override { return 36; }  // after AvgStats and SaveModel
  void after_epoch(Learner& l) override;
  std::string path;
  std::function<Metadata(const Learner&)> extra;
  int64_t saved_epochs = 0;  // epochs_done of the latest write, 0 before any
};

}  // namespace tg
