// A resumable fit: SaveState writes the train state after every epoch, load_train_state takes
// it back, and fit(n, cbs, start_epoch) continues; the weights are those of the unbroken fit,
// bit for bit. StopOnSignal turns SIGINT/SIGTERM into a cancel; SaveModel::carry keeps a
// resumed run's best.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "learner/callbacks/callbacks.h"
#include "learner/callbacks/interrupt.h"
#include "learner/callbacks/train_state.h"
#include "learner/io/checkpoint.h"
#include "learner_fixture.h"
#include "test_util.h"

using namespace tg;

namespace {

namespace fs = std::filesystem;

// A folder of this process's own, removed when the tests end.
struct TempDir {
  fs::path path = fs::temp_directory_path() / ("tg_resume_" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string temp_path(const std::string& name) {
  static TempDir dir;
  return (dir.path / name).string();
}

// SGD with momentum and weight decay under a one-cycle schedule: every piece of state a
// resume must restore changes the numbers (the buffers, the schedule's position, the shuffle).
std::unique_ptr<Learner> learner() {
  Generator gen(5);
  auto model = nn::mlp({4, 8, 3}, gen);
  auto opt = std::make_shared<optim::SGD>(
      model->parameters(), optim::SGDOptions{.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-3});
  return std::make_unique<Learner>(
      model, opt, [](const Tensor& p, const Tensor& y) { return cross_entropy(p, y); },
      test::tiny_data(24, 8, 4), LearnerOptions{.metrics = {accuracy_metric()}});
}

std::vector<std::shared_ptr<Callback>> schedule() {
  return {std::make_shared<ParamScheduler>(
      std::map<std::string, Schedule>{{"lr", one_cycle_lr(0.1)}, {"momentum", one_cycle_mom()}})};
}

// Cancels the fit at the start of epoch `at` (0-based), as a kill between epochs would.
struct StopAtEpoch : Callback {
  explicit StopAtEpoch(int64_t e) : at(e) {}
  void before_epoch(Learner& l) override {
    if (l.epoch == at) throw CancelFit();
  }
  int64_t at;
};

std::map<std::string, std::vector<float>> weights(const Learner& l) {
  std::map<std::string, std::vector<float>> w;
  for (const auto& [k, t] : l.model->state_dict()) {
    Tensor c = t.contiguous();
    w[k].assign(c.data<float>(), c.data<float>() + c.numel());
  }
  return w;
}

}  // namespace

TEST_CASE("resume: 2 epochs, a saved state, a fresh Learner and 2 more are the 4-epoch fit") {
  auto full = learner();
  full->fit(4, schedule());

  const std::string path = temp_path("state.safetensors");
  auto first = learner();
  auto cbs = schedule();
  auto saver = std::make_shared<SaveState>(path, [](const Learner&) {
    return Metadata{{"note", "kept"}};
  });
  cbs.push_back(saver);
  cbs.push_back(std::make_shared<StopAtEpoch>(2));
  first->fit(4, cbs);
  CHECK(saver->saved_epochs == 2);

  auto second = learner();  // new weights, new optimizer: everything comes from the file
  const TrainState s = load_train_state(path, *second);
  CHECK(s.epochs_done == 2);
  CHECK(s.epochs == 4);
  CHECK(s.loader_epoch == 2);
  CHECK(s.meta.at("note") == "kept");
  second->fit(s.epochs, schedule(), s.epochs_done);
  CHECK(second->epoch == 4);
  CHECK(weights(*second) == weights(*full));

  // Each part of the state matters, so the comparison above can fail: the same resume with
  // the first epoch's shuffle again, or from epoch 0 of the schedule, ends elsewhere.
  auto reshuffled = learner();
  load_train_state(path, *reshuffled);
  reshuffled->data.train_dl.set_epoch(0);
  reshuffled->fit(4, schedule(), 2);
  CHECK(weights(*reshuffled) != weights(*full));
  auto restarted = learner();
  load_train_state(path, *restarted);
  restarted->fit(2, schedule());
  CHECK(weights(*restarted) != weights(*full));
}

TEST_CASE("resume: a fit cancelled inside an epoch saves only the epochs it finished") {
  const std::string path = temp_path("state_mid.safetensors");
  auto l = learner();
  struct StopInEpoch2 : Callback {
    void after_batch(Learner& l) override {
      if (l.epoch == 1 && l.training && l.iter == 2) throw CancelFit();
    }
  };
  l->fit(4, {std::make_shared<SaveState>(path), std::make_shared<StopInEpoch2>()});
  auto r = learner();
  CHECK(load_train_state(path, *r).epochs_done == 1);
}

TEST_CASE("resume: load_train_state refuses a checkpoint without a train state, by name") {
  const std::string path = temp_path("plain.safetensors");
  auto l = learner();
  save_checkpoint(path, *l->model, l->opt.get(), {{"epoch", "3"}});
  CHECK(test::error_of([&] { load_train_state(path, *l); })
            .find("holds weights but no train "
                  "state") != std::string::npos);
  CHECK_THROWS_AS(l->fit(2, {}, 3), Error);  // start_epoch beyond the fit
}

TEST_CASE("resume: SaveModel::carry keeps the earlier run's best file") {
  const std::string path = temp_path("best.safetensors");
  auto l = learner();
  auto saver = std::make_shared<SaveModel>(path, "valid_accuracy");
  saver->carry(2.0);  // no accuracy beats it
  auto stats = std::make_shared<AvgStats>();
  l->fit(2, {stats, saver});
  CHECK_FALSE(fs::exists(path));
  CHECK(saver->best == 2.0);
  CHECK(saver->best_epoch == -1);
  l->fit(1, {stats, saver});  // once only: the next fit starts afresh and saves
  CHECK(fs::exists(path));
  CHECK(saver->best_epoch == 0);
}

TEST_CASE("interrupt: the first SIGINT cancels the fit after its batch, after_fit runs") {
  StopOnSignal::install();
  StopOnSignal::reset();
  struct RaiseAt : Callback {
    void after_batch(Learner& l) override {
      if (l.training && l.train_iter == 3) std::raise(SIGINT);
    }
    void after_fit(Learner&) override { ended = true; }
    bool ended = false;
  };
  auto raiser = std::make_shared<RaiseAt>();
  auto rec = std::make_shared<Recorder>();
  auto l = learner();
  l->fit(10, {std::make_shared<StopOnSignal>(), raiser, rec});
  CHECK(StopOnSignal::received() == SIGINT);
  CHECK(raiser->ended);
  CHECK(rec->losses.size() == 3);  // the batch in flight finished; no later one started
  StopOnSignal::reset();
  CHECK(StopOnSignal::received() == 0);
}

TEST_CASE("interrupt: a second signal ends the process at once") {
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    StopOnSignal::install();
    StopOnSignal::reset();
    std::raise(SIGTERM);  // recorded
    std::raise(SIGTERM);  // the default action: the process ends here
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGTERM);
}
