// Course step 09b, "Learner" (fastai notebook 09b_learner): the Runner of step 04c and the
// container Learner of step 04a folded into one class, the library's tg::Learner. This program
// tours it: callbacks given to the constructor (they stay) and callbacks given to one fit (they
// leave when it ends, however it ends), add_cb / remove_cb / cb<T>(), learn.validate() and
// learn.get_preds(), the run context a callback can ask for, and what a trained Learner offers:
// summary(), predict(), ClassificationInterpretation, export_learner / load_learner.
//
//   build/bin/09b_learner [--limit N] [--data DIR] [--epochs E] [--bs B] [--lr X]
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "examples/common/course.h"
#include "learner/callbacks/callbacks.h"
#include "learner/export.h"
#include "learner/inference.h"
#include "learner/learner.h"
#include "nn/functional.h"

namespace {

std::string names(const tg::Learner& learn) {
  std::string s;
  for (const auto& cb : learn.cbs())
    s += (s.empty() ? "" : ", ") + cb->name() + " (" + std::to_string(cb->order()) + ")";
  return s;
}

// Says what the Learner is doing each time a run starts: learn.context is fit, lr_find,
// validate or get_preds. (fastai callbacks guess it from which other callbacks are present.)
class ContextReporter : public tg::Callback {
 public:
  // name() defaults to the demangled type name, which for a class in an anonymous namespace
  // reads "(anonymous namespace)::ContextReporter"; a short one is nicer in messages.
  std::string name() const override { return "ContextReporter"; }
  void before_fit(tg::Learner& l) override {
    std::printf("  [ContextReporter] before_fit: context %s, %lld epoch(s)\n",
                tg::context_name(l.context), static_cast<long long>(l.epochs));
  }
  void before_validate(tg::Learner& l) override {
    if (l.context == tg::RunContext::validate || l.context == tg::RunContext::get_preds)
      std::printf("  [ContextReporter] before_validate: context %s, %lld batches\n",
                  tg::context_name(l.context), static_cast<long long>(l.dl->num_batches()));
  }
};

// A callback for one fit: it shows it is there while the fit runs.
class ShowCallbacks : public tg::Callback {
 public:
  std::string name() const override { return "ShowCallbacks"; }
  void before_fit(tg::Learner& l) override {
    std::printf("  [ShowCallbacks] during the fit: %s\n", names(l).c_str());
  }
};

}  // namespace

int main(int argc, char** argv) {
  course::Options o;
  course::Flags flags("09b_learner",
                      "tg::Learner: callbacks for the Learner vs for one fit, add_cb / "
                      "remove_cb / cb<T>(), validate(), get_preds() and the run context.");
  flags.data(o).training(o).integer("--nh", o.nh, "hidden units");
  if (auto rc = flags.parse_or_exit(argc, argv)) return *rc;

  return course::run([&] {
    const course::Data data = course::load_data(o);
    auto [model, opt] = course::get_model(data.d, o.nh, o.lr, o.seed);

    // 1. Model, optimizer, loss, data and metrics in; callbacks given here stay for good.
    //    TrainEval comes by itself (LearnerOptions::train_eval).
    tg::Learner learn(model, opt, tg::cross_entropy, tg::make_databunch(data.d, o.bs, o.seed),
                      {.metrics = {tg::accuracy_metric()}},
                      {std::make_shared<tg::AvgStats>(), std::make_shared<ContextReporter>()});
    std::printf("\n1. the Learner's callbacks (order): %s\n", names(learn).c_str());

    // 2. Callbacks for one fit.
    std::printf("\n2. learn.fit(%lld, {ShowCallbacks})\n", static_cast<long long>(o.epochs));
    learn.fit(o.epochs, {std::make_shared<ShowCallbacks>()});
    std::printf("  after the fit: %s\n", names(learn).c_str());
    std::printf("  learn.values: valid_loss %.4f, valid_accuracy %.4f\n",
                learn.values.at("valid_loss"), learn.values.at("valid_accuracy"));

    // 3. add_cb, cb<T>(), remove_cb.
    std::printf("\n3. add_cb(Recorder), cb<Recorder>(), remove_cb<Recorder>()\n");
    learn.add_cb(std::make_shared<tg::Recorder>());
    std::printf("  added: %s\n", names(learn).c_str());
    learn.fit(1);
    std::printf("  learn.cb<Recorder>()->losses.size() = %zu (one per training batch)\n",
                learn.cb<tg::Recorder>()->losses.size());
    try {
      learn.add_cb(std::make_shared<tg::Recorder>());
    } catch (const tg::Error& e) {
      std::printf("  a second Recorder is refused: %s\n", e.what());
    }
    const bool removed = learn.remove_cb<tg::Recorder>();
    std::printf("  remove_cb<Recorder>() -> %s; cb<Recorder>() is now %s\n",
                removed ? "true" : "false", learn.cb<tg::Recorder>() ? "set" : "nullptr");

    // 4. validate() and get_preds(): the validation phase alone, no training.
    std::printf("\n4. learn.validate() and learn.get_preds()\n");
    std::map<std::string, double> v = learn.validate();
    std::printf("  validate(): loss %.4f, accuracy %.4f\n", v.at("loss"), v.at("accuracy"));
    tg::Learner::Preds p = learn.get_preds();
    const double acc = tg::nn::functional::accuracy(p.preds, p.targets).item<double>();
    std::printf("  get_preds(): preds %s, targets %s; their accuracy %.4f (%s validate())\n",
                p.preds.shape_str().c_str(), p.targets.shape_str().c_str(), acc,
                std::abs(acc - v.at("accuracy")) < 1e-6 ? "same as" : "DIFFERENT FROM");

    // 5. The context of an LR find (the finder restores the weights when done).
    std::printf("\n5. tg::lr_find(learn, 1e-4, 1, 20)\n");
    tg::LRFindResult r = tg::lr_find(learn, 1e-4, 1, 20);
    std::printf("  swept %zu batches, lr %.3g to %.3g; the weights are restored after\n",
                r.lrs.size(), r.lrs.front(), r.lrs.back());
    std::printf("  learn.context is back to %s\n", tg::context_name(learn.context));

    // 6. The conveniences of a trained Learner (learner/inference.h, learner/export.h).
    std::printf("\n6. learn.summary(), learn.predict(), ClassificationInterpretation, export\n");
    std::printf("%s", learn.summary().c_str());
    // predict takes a raw item (pixels as in the files): undo the data's normalisation.
    const tg::Normalization& norm = learn.data.norm;
    tg::Tensor raw = data.d.x_valid.select(0, 0) * norm.std + norm.mean;
    tg::Prediction pred = learn.predict(raw);
    const int32_t decoded0 = p.decoded.to_vector<int32_t>()[0];
    std::printf("  predict(test item 0 as raw pixels): class %s, probability %.4f (%s get_preds)\n",
                pred.label.c_str(), pred.probs[static_cast<size_t>(pred.index)],
                pred.index == decoded0 ? "same as" : "DIFFERENT FROM");
    auto interp = tg::ClassificationInterpretation::from_learner(learn);
    const auto mc = interp.most_confused();
    std::printf("  interpretation: accuracy %.4f; most confused %s\n", interp.accuracy(),
                mc.empty() ? "none"
                           : (interp.label(mc[0].actual) + " -> " + interp.label(mc[0].predicted) +
                              " (" + std::to_string(mc[0].count) + " items)")
                                 .c_str());
    const std::string path = (std::filesystem::temp_directory_path() /
                              ("09b_learner-" + std::to_string(::getpid()) + ".safetensors"))
                                 .string();
    tg::export_learner(learn, path);
    tg::LoadedLearner shipped = tg::load_learner(path);
    std::filesystem::remove(path);
    const tg::Prediction again = shipped.predict(raw);
    std::printf("  export_learner + load_learner: %s (%s predictions)\n",
                shipped.model->str().substr(0, 10).c_str(),
                again.probs == pred.probs ? "the same" : "DIFFERENT");
    return 0;
  });
}
