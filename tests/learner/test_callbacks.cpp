// The standard callbacks on tiny Learners: Recorder (counts, CSV), TerminateOnNaN,
// EarlyStopping and SaveModel (with a scripted monitor), ProgressBar (plain output, modes) and
// the LR finder (sweep, stop, restore, suggestion).
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <random>
#include <sstream>

#include "base/format.h"
#include "learner/callbacks/callbacks.h"
#include "learner/io/checkpoint.h"
#include "learner_fixture.h"
#include "tensor/grad_mode.h"
#include "test_util.h"

using namespace tg;
using tg::test::has;
using tg::test::messages;
using tg::test::tiny_data;
namespace fs = std::filesystem;

namespace {

using Cbs = std::vector<std::shared_ptr<Callback>>;

// A 4-8-3 MLP learner on tiny_data(n_train, n_valid, bs), SGD with the given options.
std::unique_ptr<Learner> make_learner(DataBunch data, optim::SGDOptions sgd = {.lr = 0.1},
                                      Cbs cbs = {}, LossFn loss = nullptr) {
  Generator gen(5);
  auto model = nn::mlp({4, 8, 3}, gen);
  auto opt = std::make_shared<optim::SGD>(model->parameters(), sgd);
  if (!loss) loss = [](const Tensor& p, const Tensor& y) { return cross_entropy(p, y); };
  return std::make_unique<Learner>(model, opt, loss, std::move(data),
                                   LearnerOptions{.metrics = {accuracy_metric()}}, std::move(cbs));
}
// 16 training examples in 4 batches, 8 validation examples in 2.
std::unique_ptr<Learner> small_learner(Cbs cbs = {}, double lr = 0.1) {
  return make_learner(tiny_data(16, 8, 4), {.lr = lr}, std::move(cbs));
}

// Every message of an exception and of those nested in it, joined by " | ".
template <typename F>
std::string failure_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return messages(e);
  }
  return "<nothing thrown>";
}

// Writes a scripted figure into learn.values after AvgStats (10), before the trackers (40, 45).
struct Script : Callback {
  std::string key;
  std::vector<double> values;
  int epochs_seen = 0;
  Script(std::string k, std::vector<double> v) : key(std::move(k)), values(std::move(v)) {}
  int order() const override { return 15; }
  void after_epoch(Learner& l) override {
    ++epochs_seen;
    l.values[key] = values.at(static_cast<size_t>(l.epoch));
  }
};

// Counts events of the phases; records the context it saw.
struct Counter : Callback {
  int order() const override { return 100; }
  int train_batches = 0, valid_batches = 0, validates = 0, epochs = 0, fits_ended = 0;
  std::vector<RunContext> contexts;
  void before_batch(Learner& l) override {
    ++(l.training ? train_batches : valid_batches);
    contexts.push_back(l.context);
  }
  void after_validate(Learner&) override { ++validates; }
  void before_epoch(Learner&) override { ++epochs; }
  void after_fit(Learner&) override { ++fits_ended; }
};

using tg::test::same_bits;
using tg::test::TempDir;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}
std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}
std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}
std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Clones of a model's parameters, and bit-for-bit comparison.
nn::StateDict snapshot(const nn::Module& m) {
  NoGrad guard;
  nn::StateDict out;
  for (const auto& [k, v] : m.state_dict()) out[k] = v.clone();
  return out;
}

// Sets an environment variable for one scope, restoring the old value.
struct EnvVar {
  std::string name;
  bool had;
  std::string old;
  EnvVar(const char* n, const char* value) : name(n) {
    const char* o = std::getenv(n);
    had = o != nullptr;
    if (had) old = o;
    if (value)
      ::setenv(n, value, 1);
    else
      ::unsetenv(n);
  }
  ~EnvVar() {
    if (had)
      ::setenv(name.c_str(), old.c_str(), 1);
    else
      ::unsetenv(name.c_str());
  }
};

}  // namespace

// --- Recorder ---------------------------------------------------------------------------------

TEST_CASE("callbacks: Recorder records every training batch and every epoch") {
  auto learn = small_learner();
  auto stats = std::make_shared<AvgStats>(false);
  auto rec = std::make_shared<Recorder>();
  learn->fit(3, {stats, rec});
  CHECK(rec->lrs.size() == 12);  // 4 training batches x 3 epochs; none of validation
  CHECK(rec->losses.size() == 12);
  for (double lr : rec->lrs) CHECK(lr == 0.1);
  for (double loss : rec->losses) CHECK(std::isfinite(loss));
  REQUIRE(rec->epochs.size() == 3);
  for (size_t i = 0; i < 3; ++i) CHECK(rec->epochs[i] == stats->history[i]);
  CHECK(rec->losses.front() > rec->losses.back() - 1);  // sane numbers, not garbage
  learn->fit(2, {stats, rec});                          // a new fit starts afresh
  CHECK(rec->lrs.size() == 8);
  CHECK(rec->epochs.size() == 2);
}

TEST_CASE("callbacks: Recorder skips a batch cancelled before its loss") {
  struct SkipSecond : Callback {
    void before_batch(Learner& l) override {
      if (l.training && l.iter == 1) throw CancelBatch();
    }
  };
  struct SkipAfterLoss : Callback {
    void after_loss(Learner& l) override {
      if (l.training && l.iter == 2) throw CancelBatch();
    }
  };
  auto rec = std::make_shared<Recorder>();
  auto learn = small_learner();
  learn->fit(2, {rec, std::make_shared<SkipSecond>()});
  CHECK(rec->losses.size() == 6);  // 3 of 4 batches per epoch had a loss
  // A batch cancelled after its loss still has one: it is recorded.
  learn->fit(1, {rec, std::make_shared<SkipAfterLoss>()});
  CHECK(rec->losses.size() == 4);
}

TEST_CASE("callbacks: Recorder CSV files parse back and no temp file is left") {
  TempDir tmp;
  auto learn = small_learner();
  auto rec = std::make_shared<Recorder>();
  learn->fit(3, {std::make_shared<AvgStats>(false), rec});
  rec->write_csv(tmp / "epochs.csv");
  rec->write_batches_csv(tmp / "batches.csv");
  CHECK(tmp.names() == std::vector<std::string>{"batches.csv", "epochs.csv"});

  auto rows = lines_of(read_file(tmp / "epochs.csv"));
  REQUIRE(rows.size() == 4);
  CHECK(rows[0] == "epoch,epoch_seconds,train_accuracy,train_loss,valid_accuracy,valid_loss");
  auto header = split(rows[0], ',');
  for (size_t e = 0; e < 3; ++e) {
    auto f = split(rows[e + 1], ',');
    REQUIRE(f.size() == header.size());
    CHECK(f[0] == std::to_string(e + 1));
    for (size_t k = 1; k < f.size(); ++k)  // the shortest round-trip text: exact
      CHECK(std::strtod(f[k].c_str(), nullptr) == rec->epochs[e].at(header[k]));
  }

  auto batches = lines_of(read_file(tmp / "batches.csv"));
  REQUIRE(batches.size() == 13);
  CHECK(batches[0] == "iter,lr,loss");
  auto last = split(batches[12], ',');
  REQUIRE(last.size() == 3);
  CHECK(last[0] == "11");
  CHECK(std::strtod(last[1].c_str(), nullptr) == 0.1);
  CHECK(std::strtod(last[2].c_str(), nullptr) == rec->losses[11]);
}

TEST_CASE("callbacks: Recorder CSV takes the union of keys and quotes odd ones") {
  TempDir tmp;
  Recorder rec;
  rec.epochs = {{{"a", 1}}, {{"a", 2.5}, {"b,c", 1e-7}}};
  rec.write_csv(tmp / "e.csv");
  CHECK(read_file(tmp / "e.csv") == "epoch,a,\"b,c\"\n1,1,\n2,2.5,1e-07\n");
  Recorder empty;
  empty.write_csv(tmp / "empty.csv");
  CHECK(read_file(tmp / "empty.csv") == "epoch\n");
  CHECK(has(failure_of([&] { rec.write_csv(tmp / "missing/dir/e.csv"); }), "e.csv"));
}

// --- TerminateOnNaN ---------------------------------------------------------------------------

TEST_CASE("callbacks: TerminateOnNaN stops the fit at the first NaN loss") {
  int calls = 0;
  LossFn loss = [&calls](const Tensor& p, const Tensor& y) {
    Tensor l = cross_entropy(p, y);
    return ++calls >= 3 ? l * std::nan("") : l;  // the third batch goes NaN
  };
  auto learn = make_learner(tiny_data(16, 8, 4), {.lr = 0.1}, {}, loss);
  auto nan = std::make_shared<TerminateOnNaN>();
  std::ostringstream msg;
  nan->out = &msg;
  auto count = std::make_shared<Counter>();
  auto rec = std::make_shared<Recorder>();
  learn->fit(5, {nan, count, rec});
  CHECK(nan->stopped);
  CHECK(count->train_batches == 3);
  CHECK(count->valid_batches == 0);
  CHECK(count->fits_ended == 1);   // after_fit ran: a cancel, not an error
  CHECK(rec->losses.size() == 2);  // the NaN batch stopped before the recorder saw it
  const std::string text = msg.str();
  CHECK(has(text, "nan"));
  CHECK(has(text, "epoch 1, batch 3 (training)"));
  CHECK(std::count(text.begin(), text.end(), '\n') == 1);
  // The fit stopped before the NaN batch's backward and step: every weight is still finite.
  {
    NoGrad off;
    for (const Tensor& p : learn->model->parameters())
      for (float v : p.to_vector<float>()) CHECK(std::isfinite(v));
  }
  // On a fresh model whose losses stay finite, the same callback (stopped reset) lets the
  // fit run to its end.
  calls = -1000;
  auto fresh = make_learner(tiny_data(16, 8, 4), {.lr = 0.1}, {}, loss);
  auto count2 = std::make_shared<Counter>();
  fresh->fit(2, {nan, count2});
  CHECK_FALSE(nan->stopped);
  CHECK(count2->train_batches == 8);
}

TEST_CASE("callbacks: TerminateOnNaN stops a fit blown up by a huge learning rate") {
  auto learn = small_learner({}, 1e30);
  auto nan = std::make_shared<TerminateOnNaN>();
  std::ostringstream msg;
  nan->out = &msg;
  auto count = std::make_shared<Counter>();
  learn->fit(10, {nan, count});
  CHECK(nan->stopped);
  CHECK(count->train_batches + count->valid_batches < 10 * 6);
  CHECK(std::isfinite(learn->loss.item<double>()) == false);
  CHECK(has(msg.str(), "TerminateOnNaN"));
}

// --- EarlyStopping ----------------------------------------------------------------------------

TEST_CASE("callbacks: EarlyStopping stops after patience epochs without improvement") {
  auto script =
      std::make_shared<Script>("valid_loss", std::vector<double>{1.0, 0.8, 0.9, 0.85, 0.7, 0.6});
  auto es = std::make_shared<EarlyStopping>("valid_loss", 2);
  auto count = std::make_shared<Counter>();
  auto learn = small_learner();
  learn->fit(6, {script, es, count});
  CHECK(count->epochs == 4);  // epochs 2 and 3 did not beat 0.8
  CHECK(es->stopped_epoch == 3);
  CHECK(es->best == 0.8);
  CHECK(es->best_epoch == 1);
  CHECK(count->fits_ended == 1);
  // Fit again: the state is reset, so it stops at the same epoch.
  auto again = std::make_shared<Counter>();
  learn->fit(6, {script, es, again});
  CHECK(es->stopped_epoch == 3);
  CHECK(again->epochs == 4);
  // With patience 3 it reaches the improvement at epoch 4 and runs to the end.
  auto patient = std::make_shared<EarlyStopping>("valid_loss", 3);
  auto all = std::make_shared<Counter>();
  learn->fit(6, {script, patient, all});
  CHECK(all->epochs == 6);
  CHECK(patient->stopped_epoch == -1);
  CHECK(patient->best_epoch == 5);
}

// --- ReduceLROnPlateau ------------------------------------------------------------------------

// The lr each epoch ran with, read before it (the reduction applies to the next epoch).
struct LrLog : Callback {
  std::vector<double> lrs;
  void before_epoch(Learner& l) override { lrs.push_back(l.opt->get("lr")); }
};

TEST_CASE(
    "callbacks: ReduceLROnPlateau follows torch's patience, relative threshold and cooldown") {
  // Hand-worked with torch's rules: best 1.0 (epoch 0); 0.9999 is not below 1.0 * (1 - 1e-3),
  // so epochs 1 and 2 are bad; patience 1 -> reduced after epoch 2; epoch 3 improves (0.5);
  // 4, 5 bad -> reduced after epoch 5.
  auto script = std::make_shared<Script>("valid_loss",
                                         std::vector<double>{1.0, 0.9999, 1.2, 0.5, 0.6, 0.6, 0.4});
  auto plateau = std::make_shared<ReduceLROnPlateau>("valid_loss", 0.5, 1, 1e-3);
  auto log = std::make_shared<LrLog>();
  auto learn = small_learner();
  learn->fit(7, {script, plateau, log});
  CHECK(plateau->reduced_at == std::vector<int64_t>{2, 5});
  CHECK(log->lrs == std::vector<double>{0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025});
  CHECK(plateau->best == 0.4);

  // min_lr floors it; cooldown 1 ignores the epoch after a reduction.
  auto flat = std::make_shared<Script>("valid_loss", std::vector<double>(6, 1.0));
  auto floored = std::make_shared<ReduceLROnPlateau>("valid_loss", 0.1, 0, 1e-4, 0.005, 1);
  auto log2 = std::make_shared<LrLog>();
  auto learn2 = small_learner();
  learn2->fit(6, {flat, floored, log2});
  // Epoch 0 sets best; 1 bad (> patience 0) -> 0.01; 2 cooldown; 3 bad -> 0.005 (the floor);
  // 4 cooldown; 5 bad, but the floor leaves nothing to reduce.
  CHECK(floored->reduced_at == std::vector<int64_t>{1, 3});
  const std::vector<double> want{0.1, 0.1, 0.01, 0.01, 0.005, 0.005};
  REQUIRE(log2->lrs.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) CHECK(log2->lrs[i] == doctest::Approx(want[i]));

  // An accuracy is maximised.
  auto acc = std::make_shared<Script>("valid_accuracy", std::vector<double>{0.5, 0.6, 0.6, 0.6});
  auto up = std::make_shared<ReduceLROnPlateau>("valid_accuracy", 0.5, 1);
  auto learn3 = small_learner();
  learn3->fit(4, {acc, up});
  CHECK(up->reduced_at == std::vector<int64_t>{3});
}

TEST_CASE("callbacks: ReduceLROnPlateau carried into a resumed fit continues its count") {
  // A run cut after two epochs of 1.0 (one bad epoch, patience 1): the resumed fit's first
  // epoch, 1.0 again, is the second bad one, so it reduces at once, as the uncut run would.
  auto plateau = std::make_shared<ReduceLROnPlateau>("valid_loss", 0.5, 1);
  plateau->carry({1.0, 1.0});
  CHECK(plateau->reduced_at.empty());
  auto learn = small_learner();
  auto log = std::make_shared<LrLog>();
  learn->fit(2,
             {std::make_shared<Script>("valid_loss", std::vector<double>{1.0, 1.0}), plateau, log});
  CHECK(plateau->reduced_at == std::vector<int64_t>{0});
  CHECK(log->lrs == std::vector<double>{0.1, 0.05});
  // Without the carry the first 1.0 is the best so far, and nothing is reduced in two epochs.
  auto fresh = std::make_shared<ReduceLROnPlateau>("valid_loss", 0.5, 1);
  auto learn2 = small_learner();
  learn2->fit(2, {std::make_shared<Script>("valid_loss", std::vector<double>{1.0, 1.0}), fresh});
  CHECK(fresh->reduced_at.empty());
  // The carry is used once: fitting again starts afresh.
  learn->fit(2, {std::make_shared<Script>("valid_loss", std::vector<double>{1.0, 1.0}), plateau});
  CHECK(plateau->reduced_at.empty());
}

TEST_CASE("callbacks: ReduceLROnPlateau refuses bad settings and a scheduled lr") {
  CHECK_THROWS_WITH_AS(ReduceLROnPlateau("valid_loss", 1.0), doctest::Contains("factor"), Error);
  CHECK_THROWS_WITH_AS(ReduceLROnPlateau("valid_loss", 0.1, -1), doctest::Contains("patience"),
                       Error);
  CHECK_THROWS_WITH_AS(ReduceLROnPlateau(""), doctest::Contains("no monitor"), Error);
  auto learn = small_learner();
  CHECK_THROWS_WITH_AS(learn->fit(1, {std::make_shared<ParamScheduler>("lr", sched_no(0.1)),
                                      std::make_shared<ReduceLROnPlateau>()}),
                       doctest::Contains("ParamScheduler schedules \"lr\""), Error);
  // A monitor that no callback writes is named after the first epoch.
  CHECK_THROWS_WITH_AS(learn->fit(1, {std::make_shared<ReduceLROnPlateau>("nope")}),
                       doctest::Contains("the monitor 'nope'"), Error);
}

TEST_CASE("callbacks: EarlyStopping counts improvements smaller than min_delta as none") {
  const std::vector<double> slow{1.0, 0.95, 0.92, 0.5, 0.4};
  auto learn = small_learner();
  auto count = std::make_shared<Counter>();
  auto es = std::make_shared<EarlyStopping>("valid_loss", 2, 0.1);
  learn->fit(5, {std::make_shared<Script>("valid_loss", slow), es, count});
  CHECK(es->stopped_epoch == 2);
  CHECK(es->best == 1.0);
  CHECK(count->epochs == 3);
  auto plain = std::make_shared<EarlyStopping>("valid_loss", 2);  // min_delta 0: improving
  auto all = std::make_shared<Counter>();
  learn->fit(5, {std::make_shared<Script>("valid_loss", slow), plain, all});
  CHECK(plain->stopped_epoch == -1);
  CHECK(all->epochs == 5);
}

TEST_CASE("callbacks: EarlyStopping maximises accuracy and obeys an explicit mode") {
  const std::vector<double> acc{0.5, 0.6, 0.55, 0.58, 0.9};
  auto learn = small_learner();
  auto es = std::make_shared<EarlyStopping>("valid_accuracy", 2);  // automatic: max
  learn->fit(5, {std::make_shared<Script>("valid_accuracy", acc), es});
  CHECK(es->stopped_epoch == 3);
  CHECK(es->best == 0.6);
  // The same numbers under a name without "acc" are minimised...
  auto min = std::make_shared<EarlyStopping>("score", 2);
  learn->fit(5, {std::make_shared<Script>("score", acc), min});
  CHECK(min->stopped_epoch == 2);
  CHECK(min->best == 0.5);
  // ...unless the mode says max; and Mode::min wins over an "acc" name.
  auto max = std::make_shared<EarlyStopping>("score", 2, 0, Mode::max);
  learn->fit(5, {std::make_shared<Script>("score", acc), max});
  CHECK(max->stopped_epoch == 3);
  auto forced = std::make_shared<EarlyStopping>("valid_accuracy", 2, 0, Mode::min);
  learn->fit(5, {std::make_shared<Script>("valid_accuracy", acc), forced});
  CHECK(forced->stopped_epoch == 2);
}

TEST_CASE("callbacks: EarlyStopping names the available values when the monitor is missing") {
  auto learn = small_learner();
  auto script = std::make_shared<Script>("valid_loss", std::vector<double>{1, 1});
  std::string msg = failure_of([&] {
    learn->fit(2, {script, std::make_shared<EarlyStopping>("valid_los")});
  });
  CHECK(has(msg, "callback EarlyStopping failed in after_epoch"));
  CHECK(has(msg, "'valid_los' is not among the epoch's values [valid_loss]"));
  CHECK(has(failure_of([] { EarlyStopping("valid_loss", 0); }), "patience must be >= 1"));
  CHECK(has(failure_of([] { EarlyStopping("valid_loss", 1, -0.1); }), "min_delta"));
}

// --- SaveModel --------------------------------------------------------------------------------

// After each epoch (after SaveModel): what the checkpoint file says, and the model's weights.
struct FileProbe : Callback {
  std::string path;
  std::vector<std::string> saved_epoch;  // the file's metadata "epoch", "-" when no file
  std::vector<nn::StateDict> weights;
  explicit FileProbe(std::string p) : path(std::move(p)) {}
  int order() const override { return 60; }
  void after_epoch(Learner& l) override {
    weights.push_back(snapshot(*l.model));
    if (!fs::exists(path)) {
      saved_epoch.push_back("-");
      return;
    }
    Metadata meta;
    load_safetensors(path, &meta);
    saved_epoch.push_back(meta.at("epoch"));
  }
};

TEST_CASE("callbacks: SaveModel writes only on improvement, so the file holds the best epoch") {
  TempDir tmp;
  const std::string path = tmp / "best.safetensors";
  auto script =
      std::make_shared<Script>("valid_loss", std::vector<double>{1.0, 0.5, 0.7, 0.4, 0.6});
  auto save = std::make_shared<SaveModel>(path);
  auto probe = std::make_shared<FileProbe>(path);
  auto learn = small_learner();
  learn->fit(5, {script, save, probe});
  // The metadata counts epochs from 1, as the console does; best_epoch is the 0-based index.
  CHECK(probe->saved_epoch == std::vector<std::string>{"1", "2", "2", "4", "4"});
  CHECK(save->best_epoch == 3);
  CHECK(save->best == 0.4);
  Metadata meta;
  TensorMap file = load_safetensors(path, &meta);
  CHECK(meta.at("epoch") == "4");
  CHECK(meta.at("monitor") == "valid_loss");
  CHECK(std::strtod(meta.at("value").c_str(), nullptr) == 0.4);
  for (const auto& [name, t] : probe->weights[3]) CHECK(same_bits(file.at("model." + name), t));
  CHECK(file.count("optim.param_groups.0.lr") == 1);  // the optimizer is saved with it
  CHECK(tmp.names() == std::vector<std::string>{"best.safetensors"});
  // The model itself was left with the last epoch's weights.
  CHECK(same_bits(snapshot(*learn->model), probe->weights[4]));
  CHECK_FALSE(same_bits(probe->weights[3], probe->weights[4]));
}

TEST_CASE("callbacks: SaveModel load_best_at_end restores the best weights") {
  TempDir tmp;
  const std::string path = tmp / "best.safetensors";
  auto script = std::make_shared<Script>("valid_accuracy", std::vector<double>{0.2, 0.9, 0.5, 0.6});
  auto save = std::make_shared<SaveModel>(path, "valid_accuracy", Mode::automatic, true);
  auto probe = std::make_shared<FileProbe>(path);
  auto learn = small_learner();
  learn->fit(4, {script, save, probe});
  CHECK(save->best_epoch == 1);
  CHECK(same_bits(snapshot(*learn->model), probe->weights[1]));
  CHECK_FALSE(same_bits(snapshot(*learn->model), probe->weights[3]));
}

TEST_CASE("callbacks: SaveModel never improving writes nothing, and a missing monitor fails") {
  TempDir tmp;
  const std::string path = tmp / "none.safetensors";
  auto learn = small_learner();
  auto before = snapshot(*learn->model);
  auto script = std::make_shared<Script>("valid_loss", std::vector<double>{NAN, NAN});
  auto save = std::make_shared<SaveModel>(path, "valid_loss", Mode::automatic, true);
  learn->fit(2, {script, save});
  CHECK(save->best_epoch == -1);
  CHECK_FALSE(fs::exists(path));
  CHECK_FALSE(same_bits(snapshot(*learn->model), before));  // trained, nothing reloaded
  std::string msg = failure_of([&] {
    learn->fit(1, {std::make_shared<AvgStats>(false), std::make_shared<SaveModel>(path, "acc")});
  });
  CHECK(has(msg, "callback SaveModel failed in after_epoch"));
  CHECK(has(msg, "'acc' is not among the epoch's values [epoch_seconds, train_accuracy"));
}

// --- ProgressBar ------------------------------------------------------------------------------

TEST_CASE("callbacks: ProgressBar plain output is a header and one aligned row per epoch") {
  std::ostringstream out;
  auto bar = std::make_shared<ProgressBar>(&out, true);
  CHECK_FALSE(bar->interactive());
  auto learn = small_learner();
  learn->fit(3, {std::make_shared<AvgStats>(false), bar});
  const std::string text = out.str();
  CHECK(text.find('\r') == std::string::npos);
  auto rows = lines_of(text);
  REQUIRE(rows.size() == 4);
  CHECK(words(rows[0]) == std::vector<std::string>{"epoch", "train_loss", "train_accuracy",
                                                   "valid_loss", "valid_accuracy", "time"});
  for (int e = 1; e <= 3; ++e) {
    auto w = words(rows[e]);
    REQUIRE(w.size() == 6);
    CHECK(w[0] == std::to_string(e));
    CHECK(has(w[5], ":"));  // m:ss
    // Aligned: each value starts where its column's name does.
    for (const char* col : {"train_loss", "valid_loss", "time"}) {
      size_t at = rows[0].find(col);
      CHECK(rows[e][at] != ' ');
      CHECK(rows[e][at - 1] == ' ');
    }
  }
  // The values are AvgStats' figures.
  std::ostringstream v;
  v << std::fixed << std::setprecision(6) << learn->values.at("valid_loss");
  CHECK(words(rows[3])[3] == v.str());
  // A second fit prints its own header again.
  learn->fit(1, {std::make_shared<AvgStats>(false), bar});
  CHECK(lines_of(out.str()).size() == 6);
}

TEST_CASE("callbacks: ProgressBar is interactive only on a terminal outside CI") {
  std::ostringstream out;
  CHECK_FALSE(ProgressBar(&out, false).interactive());  // a string stream is no terminal
  {
    EnvVar ci("CI", "true");
    CHECK_FALSE(ProgressBar(nullptr, false).interactive());
    CHECK_FALSE(ProgressBar(&std::cout, false).interactive());
  }
  {
    EnvVar ci("CI", "");  // set but empty counts as unset
    CHECK(ProgressBar(&std::cout, false).interactive() == (::isatty(STDOUT_FILENO) == 1));
    CHECK_FALSE(ProgressBar(&std::cout, true).interactive());
  }
  {
    EnvVar ci("CI", nullptr);
    CHECK(ProgressBar(nullptr, false).interactive() == (::isatty(STDOUT_FILENO) == 1));
  }
}

TEST_CASE("callbacks: ProgressBar prints nothing during an LR find") {
  std::ostringstream out;
  auto learn = small_learner();
  learn->add_cb(std::make_shared<AvgStats>(false));
  learn->add_cb(std::make_shared<ProgressBar>(&out, true));
  lr_find(*learn, 1e-4, 1, 10);
  CHECK(out.str().empty());
  learn->fit(1);
  CHECK(lines_of(out.str()).size() == 2);
}

// --- LRFinder ---------------------------------------------------------------------------------

TEST_CASE("callbacks: LRFinder sweeps lr geometrically from start_lr over num_it batches") {
  auto learn = small_learner();
  auto finder = std::make_shared<LRFinder>(1e-5, 1e-1, 10, false);
  auto count = std::make_shared<Counter>();
  learn->fit_in_context(RunContext::lr_find, 3, {finder, count});
  REQUIRE(finder->lrs.size() == 10);
  CHECK(count->train_batches == 10);  // stopped at num_it, inside the third epoch
  for (size_t i = 0; i < 10; ++i)
    CHECK(finder->lrs[i] == doctest::Approx(1e-5 * std::pow(1e4, i / 9.0)).epsilon(1e-12));
  CHECK(finder->lrs.front() == 1e-5);
  CHECK(finder->lrs.back() == doctest::Approx(1e-1).epsilon(1e-12));
  CHECK(finder->losses.size() == 10);
  CHECK(finder->smoothed.size() == 10);
  CHECK(finder->smoothed[0] == doctest::Approx(finder->losses[0]).epsilon(1e-12));  // debiased
}

TEST_CASE("callbacks: lr_find runs enough epochs, skips validation, with context lr_find") {
  auto learn = small_learner();
  auto count = std::make_shared<Counter>();
  learn->add_cb(count);
  LRFindResult r = lr_find(*learn, 1e-4, 1e-1, 10);  // 4 batches an epoch: 3 epochs
  CHECK(r.lrs.size() == 10);
  CHECK(r.losses.size() == 10);
  CHECK(r.smoothed.size() == 10);
  CHECK(count->epochs == 3);
  CHECK(count->train_batches == 10);
  CHECK(count->valid_batches == 0);  // validation cancelled every epoch
  CHECK(count->validates == 2);      // cancelled in epochs 1 and 2; the 3rd ended in training
  for (RunContext c : count->contexts) CHECK(c == RunContext::lr_find);
  CHECK(learn->context == RunContext::none);
  CHECK(learn->cb<LRFinder>() == nullptr);  // the finder lived for that run only
}

TEST_CASE("callbacks: LRFinder stops when the loss diverges") {
  auto learn = make_learner(tiny_data(64, 8, 4), {.lr = 0.1});
  auto finder = std::make_shared<LRFinder>(1e-3, 1e6, 200);
  learn->fit_in_context(RunContext::lr_find, 13, {finder});
  REQUIRE(finder->lrs.size() >= 2);
  CHECK(finder->lrs.size() < 200);
  const double loss = finder->losses.back(), smooth = finder->smoothed.back();
  const double best = *std::min_element(finder->smoothed.begin(), finder->smoothed.end() - 1);
  CHECK((!std::isfinite(loss) || smooth > 4 * best));
  // Without stop_div the same sweep runs to num_it.
  auto all = std::make_shared<LRFinder>(1e-3, 1e6, 30, false);
  learn->fit_in_context(RunContext::lr_find, 13, {all});
  CHECK(all->lrs.size() == 30);
}

TEST_CASE("callbacks: lr_find restores the weights, the optimizer and the loader exactly") {
  auto learn = make_learner(tiny_data(16, 8, 4), {.lr = 0.05, .momentum = 0.9});
  learn->fit(1);  // momentum buffers exist now
  auto weights = snapshot(*learn->model);
  auto opt_state = learn->opt->state_dict();
  const int64_t dl_epoch = learn->data.train_dl.epoch();
  LRFindResult r = lr_find(*learn, 1e-5, 10, 20);
  CHECK(r.lrs.back() > 1e-2);  // the sweep did move the lr far
  CHECK(same_bits(snapshot(*learn->model), weights));
  CHECK(same_bits(learn->opt->state_dict(), opt_state));
  CHECK(learn->opt->get("lr") == 0.05);
  CHECK(learn->data.train_dl.epoch() == dl_epoch);
  // A fresh optimizer (no momentum state yet) is given back without any.
  auto fresh = make_learner(tiny_data(16, 8, 4), {.lr = 0.05, .momentum = 0.9});
  auto empty_state = fresh->opt->state_dict();
  lr_find(*fresh, 1e-5, 1, 12);
  CHECK(fresh->opt->state_dict().size() == empty_state.size());
}

TEST_CASE("callbacks: lr_find restores the weights when the sweep fails with an error") {
  struct FailAt : Callback {
    void after_batch(Learner& l) override {
      if (l.train_iter == 5) throw std::runtime_error("disk full");
    }
  };
  auto learn = make_learner(tiny_data(16, 8, 4), {.lr = 0.05, .momentum = 0.9});
  learn->fit(1);
  auto weights = snapshot(*learn->model);
  auto opt_state = learn->opt->state_dict();
  learn->add_cb(std::make_shared<FailAt>());
  const std::string msg = test::error_of([&] { lr_find(*learn, 1e-5, 10, 20); });
  CHECK(test::has(msg, "disk full"));
  CHECK(same_bits(snapshot(*learn->model), weights));
  CHECK(same_bits(learn->opt->state_dict(), opt_state));
  CHECK(learn->opt->get("lr") == 0.05);
}

TEST_CASE("callbacks: lr_find suggestions lie within the swept range") {
  auto learn = make_learner(tiny_data(64, 8, 8), {.lr = 0.1});
  LRFindResult r = lr_find(*learn, 1e-4, 10, 40);
  REQUIRE(r.lrs.size() >= 5);
  CHECK(r.suggested_lr >= r.lrs.front());
  CHECK(r.suggested_lr <= r.lrs.back());
  CHECK(r.min_lr_over_10 >= r.lrs.front() / 10);
  CHECK(r.min_lr_over_10 <= r.lrs.back() / 10);
}

TEST_CASE("callbacks: the history callbacks sit out an LR find") {
  TempDir tmp;
  const std::string path = tmp / "best.safetensors";
  auto rec = std::make_shared<Recorder>();
  auto sched = std::make_shared<ParamScheduler>("momentum", sched_lin(0.5, 0.9));
  auto es = std::make_shared<EarlyStopping>("valid_loss", 5);
  auto save = std::make_shared<SaveModel>(path);
  auto learn = make_learner(tiny_data(16, 8, 4), {.lr = 0.1, .momentum = 0.5},
                            {std::make_shared<AvgStats>(false), rec, sched, es, save});
  learn->fit(2);
  const auto lrs = rec->lrs;
  const auto epochs = rec->epochs;
  const auto scheduled = sched->values;
  const auto file = read_file(path);
  const int64_t best_epoch = save->best_epoch;
  // 10 batches over 3 epochs: two after_epoch events, with no validation figures.
  LRFindResult r = lr_find(*learn, 1e-4, 1e-1, 10);
  REQUIRE(r.lrs.size() == 10);
  CHECK(r.lrs[9] == doctest::Approx(1e-1));
  CHECK(rec->lrs == lrs);
  CHECK(rec->epochs == epochs);
  CHECK(sched->values == scheduled);
  CHECK(read_file(path) == file);
  CHECK(save->best_epoch == best_epoch);
  CHECK(learn->opt->get("momentum") == scheduled.back());  // restored with the optimizer
}

TEST_CASE("callbacks: LRFinder suggestion is the steepest descent before the minimum") {
  LRFinder f(1e-6, 1, 30);
  for (int i = 0; i < 30; ++i) {
    f.lrs.push_back(1e-6 * std::pow(10.0, i / 5.0));
    // Gentle descent, a cliff between points 12 and 13, the minimum at 20, then up.
    double s = 3.0 - 0.01 * i - (i >= 13 ? 1.0 : 0.0);
    if (i > 20) s = 3.0 - 0.2 - 1.0 + 0.3 * (i - 20);
    f.smoothed.push_back(s);
    f.losses.push_back(s);
  }
  f.smoothed[25] = NAN;  // non-finite points are ignored
  CHECK(f.suggestion() == f.lrs[12]);
  CHECK(f.min_lr_over_10() == doctest::Approx(f.lrs[20] / 10));
  LRFinder few(1e-6, 1, 30);
  few.lrs = {1e-6, 1e-5, 1e-4};
  few.smoothed = few.losses = {1, 0.5, 2};
  CHECK(has(failure_of([&] { few.suggestion(); }), "at least 5"));
  CHECK(has(failure_of([] { LRFinder(0, 1); }), "positive"));
  CHECK(has(failure_of([] { LRFinder(1e-7, 10, 1); }), "num_it must be >= 2"));
}

TEST_CASE("lr_find_chart leaves out the divergence and its note says what and from where") {
  LRFindResult r;
  for (int i = 0; i < 10; ++i) {
    r.lrs.push_back(1e-4 * std::pow(10.0, i * 0.5));
    r.losses.push_back(i < 7 ? 2.0 - 0.1 * i : 10.0 * i);  // batches 8, 9, 10 blow up
    r.smoothed.push_back(i < 7 ? 2.0 - 0.1 * i : 5.0 * i);
  }
  r.suggested_lr = r.lrs[4];
  const Chart c = lr_find_chart(r);
  CHECK(c.log_x);
  REQUIRE(c.series.size() == 3);
  CHECK(c.series[2].name == "suggested lr " + sig(r.suggested_lr, 3));
  for (int i = 7; i < 10; ++i) CHECK(std::isnan(c.series[0].y[i]));
  CHECK(c.series[0].y[6] == doctest::Approx(1.4));
  CHECK(c.note ==
        "3 points of 10 not drawn: loss above 1.5x the starting loss (diverging from batch 8)");
  r.losses.resize(7), r.smoothed.resize(7), r.lrs.resize(7);
  CHECK(lr_find_chart(r).note.empty());  // nothing left out, nothing to say
}
