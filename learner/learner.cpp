// Learner: fit() as nested levels — fit, epoch, train/validate, batch, backward, step — each
// run by with_events(), which fires the level's before_ event, runs its body, turns the
// level's own Cancel exception into after_cancel_, and fires after_.
#include "learner/learner.h"

#include <algorithm>
#include <sstream>

#include "autograd/functions.h"
#include "autograd/tape.h"
#include "learner/callbacks/callbacks.h"
#include "nn/loss.h"
#include "tensor/ops.h"

namespace tg {

Learner::Learner(std::shared_ptr<nn::Module> model_, std::shared_ptr<optim::Optimizer> opt_,
                 LossFn loss_func_, DataBunch data_, LearnerOptions options,
                 std::vector<std::shared_ptr<Callback>> cbs)
    : model(std::move(model_)),
      opt(std::move(opt_)),
      loss_func(std::move(loss_func_)),
      data(std::move(data_)),
      metrics(std::move(options.metrics)) {
  TG_CHECK(model != nullptr, "Learner", "no model given");
  TG_CHECK(opt != nullptr, "Learner", "no optimizer given");
  TG_CHECK(static_cast<bool>(loss_func), "Learner", "no loss function given");
  using LossPtr = Tensor (*)(const Tensor&, const Tensor&);
  const LossPtr* f = loss_func.target<LossPtr>();
  if ((f && *f == &tg::cross_entropy) || loss_func.target<nn::CrossEntropyLoss>())
    activation = [](const Tensor& logits) { return ops::softmax(logits); };
  if (options.train_eval) add_cb(std::make_shared<TrainEval>());
  for (auto& cb : cbs) add_cb(std::move(cb));
  event(Event::after_create);
}

void Learner::add_cb(std::shared_ptr<Callback> cb) {
  TG_CHECK(cb != nullptr, "Learner::add_cb", "null callback");
  const Callback& c = *cb;
  for (const auto& have : cbs_)
    TG_CHECK(typeid(*have) != typeid(c), "Learner::add_cb", "a callback of type ", cb->name(),
             " is already present; a Learner holds one callback of each type");
  // Sorted by order, ties in insertion order: insert after every callback of order <= ours.
  auto pos = std::upper_bound(cbs_.begin(), cbs_.end(), cb->order(),
                              [](int o, const auto& x) { return o < x->order(); });
  cbs_.insert(pos, std::move(cb));
}

void Learner::run_end() {
  auto fs = std::move(run_end_);
  run_end_.clear();
  for (auto it = fs.rbegin(); it != fs.rend(); ++it) {
    try {
      (*it)();
    } catch (...) {  // run from a destructor: the cleanups only restore state
    }
  }
}

void Learner::remove_cb(const Callback* cb) {
  std::erase_if(cbs_, [cb](const auto& c) { return c.get() == cb; });
}

namespace {
// Runs cb's handler for e; anything but a Cancel is wrapped with where it happened.
void run_handler(Learner& l, Callback& cb, Event e) {
  try {
    cb.handle(e, l);
  } catch (const CancelException&) {
    throw;
  } catch (...) {
    // Name where it happened, repeat the cause's message, and keep the cause nested.
    std::ostringstream os;
    os << "callback " << cb.name() << " failed in " << event_name(e) << " (epoch " << l.epoch
       << ", iter " << l.iter << ", " << (l.training ? "training" : "validating") << ", context "
       << context_name(l.context) << ")";
    try {
      throw;
    } catch (const std::exception& inner) {
      os << ": " << inner.what();
    } catch (...) {
      os << ": unknown exception";
    }
    std::throw_with_nested(Error(os.str()));
  }
}
}  // namespace

void Learner::event(Event e) {
  // Copy: a handler may add or remove callbacks.
  std::vector<std::shared_ptr<Callback>> cbs = cbs_;
  for (const auto& cb : cbs) run_handler(*this, *cb, e);
}

void Learner::event_for(Event e, GraphMode mode) {
  std::vector<std::shared_ptr<Callback>> cbs = cbs_;
  for (const auto& cb : cbs)
    if (cb->graph_mode() == mode) run_handler(*this, *cb, e);
}

// flush: the phase levels (fit, epoch, train, validate) make the tally current before their
// after_ events, however their body ended, so those events read current figures.
template <typename Cancel, typename F>
void Learner::with_events(Event before, Event after_cancel, Event after, F&& body, bool flush) {
  try {
    event(before);
    body();
  } catch (const Cancel&) {
    if (flush) tally.flush();
    event(after_cancel);
  }
  if (flush) tally.flush();
  event(after);
}

void Learner::backward_level(const std::function<void()>& body) {
  with_events<CancelBackward>(Event::before_backward, Event::after_cancel_backward,
                              Event::after_backward, body);
}

void Learner::step_level(const std::function<void()>& body) {
  with_events<CancelStep>(Event::before_step, Event::after_cancel_step, Event::after_step, body);
}

void Learner::record_batch(bool loss_summed) {
  tally.add(loss, pred, yb, static_cast<double>(xb.size(0)), loss_summed);
  // On a GPU the step's kernel skips the update once the running loss sum is not finite.
  if (guard_nonfinite_steps) opt->set_nonfinite_guard(tally.device_loss_sum());
}

void EagerStep::train_batch(Learner& l) {
  l.pred = (*l.model)(l.xb);
  l.event(Event::after_pred);
  l.loss = l.loss_func(l.pred, l.yb);
  l.record_batch();
  l.event(Event::after_loss);
  l.backward_level([&] { backward(l.loss); });
  l.step_level([&] { l.opt->step(); });
  l.opt->zero_grad(/*set_to_none=*/true);  // the next backward writes .grad afresh
}

void Learner::reset_state() {
  dl = nullptr;
  xb = yb = pred = loss = Tensor();
  epochs = start_epoch = epoch = iter = n_iter = train_iter = 0;
  pct_train = 0;
  training = false;
  values.clear();
  tally = Tally();
  guard_nonfinite_steps = false;
}

std::vector<std::shared_ptr<Callback>> Learner::add_for_run(
    std::vector<std::shared_ptr<Callback>> cbs) {
  std::vector<std::shared_ptr<Callback>> added;
  try {
    for (auto& cb : cbs) {
      add_cb(cb);
      added.push_back(cb);
    }
  } catch (...) {
    for (auto& cb : added) remove_cb(cb.get());
    throw;
  }
  return added;
}

namespace {
// Removes the callbacks of one run and resets the context however the run ends.
struct RunGuard {
  Learner& learn;
  std::vector<std::shared_ptr<Callback>> added;
  BatchStep* step = nullptr;  // whose end_fit is due
  ~RunGuard() {
    if (step) {
      try {
        step->end_fit(learn);
      } catch (...) {  // a destructor must not throw; end_fit only releases
      }
    }
    for (auto& cb : added) learn.remove_cb(cb.get());
    learn.run_end();
    learn.context = RunContext::none;
    learn.dl = nullptr;
    learn.training = false;
    learn.opt->set_nonfinite_guard(Tensor());  // the tally it points at belongs to this run
  }
};

[[noreturn]] void stray_cancel(const CancelException& c, const char* where) {
  TG_FAIL("Learner", c.level(), " was thrown outside the level it cancels (during ", where,
          "); throw it from an event inside that level");
}
}  // namespace

void Learner::fit(int64_t n_epochs, std::vector<std::shared_ptr<Callback>> extra_cbs,
                  int64_t start_epoch) {
  fit_in_context(RunContext::fit, n_epochs, std::move(extra_cbs), start_epoch);
}

void Learner::fit_in_context(RunContext ctx, int64_t n_epochs,
                             std::vector<std::shared_ptr<Callback>> extra_cbs, int64_t start) {
  TG_CHECK(n_epochs >= 0, "fit", "the number of epochs must be >= 0, got ", n_epochs);
  TG_CHECK(start >= 0 && start <= n_epochs, "fit", "start_epoch ", start,
           " is outside the fit's 0..", n_epochs, " epochs");
  TG_CHECK(context == RunContext::none, "fit", "the Learner is already running (",
           context_name(context), "); a callback cannot start another fit");
  TG_CHECK(data.train_dl.dataset() != nullptr, "fit", "the DataBunch has no training data");
  RunGuard guard{*this, add_for_run(std::move(extra_cbs))};
  reset_state();
  context = ctx;
  epochs = n_epochs;
  start_epoch = start;
  TG_CHECK(step != nullptr, "fit", "learn.step is null (the default is an EagerStep)");
  try {
    with_events<CancelFit>(
        Event::before_fit, Event::after_cancel_fit, Event::after_fit,
        [&] {
          guard.step = step.get();
          step->begin_fit(*this);
          for (epoch = start_epoch; epoch < epochs; ++epoch) do_epoch();
        },
        /*flush=*/true);
  } catch (const CancelException& c) {
    stray_cancel(c, "fit");
  }
}

void Learner::do_epoch() {
  with_events<CancelEpoch>(
      Event::before_epoch, Event::after_cancel_epoch, Event::after_epoch,
      [&] {
        do_train();
        do_validate(&data.valid_dl);
      },
      /*flush=*/true);
}

// Each phase starts a new tally and flushes it before its after_ events.
void Learner::do_train() {
  training = true;
  dl = &data.train_dl;
  tally.begin(&metrics, /*keep_losses=*/true);
  with_events<CancelTrain>(
      Event::before_train, Event::after_cancel_train, Event::after_train, [&] { all_batches(); },
      /*flush=*/true);
}

void Learner::do_validate(DataLoader* loader) {
  NoGrad guard;
  training = false;
  dl = loader;
  tally.begin(&metrics, /*keep_losses=*/false);
  with_events<CancelValidate>(
      Event::before_validate, Event::after_cancel_validate, Event::after_validate,
      [&] { all_batches(); }, /*flush=*/true);
}

void Learner::all_batches() {
  n_iter = dl->dataset() ? dl->num_batches() : 0;
  iter = 0;
  if (n_iter == 0) return;
  for (const Batch& b : *dl) {
    xb = b.x;
    yb = b.y;
    one_batch();
    ++iter;
  }
}

void Learner::one_batch() {
  pred = loss = Tensor();  // undefined until this batch computes them: never last batch's
  with_events<CancelBatch>(Event::before_batch, Event::after_cancel_batch, Event::after_batch, [&] {
    if (training) return step->train_batch(*this);
    pred = (*model)(xb);
    event(Event::after_pred);
    loss = loss_func(pred, yb);
    record_batch();
    event(Event::after_loss);
  });
}

void Learner::run_validation(RunContext ctx, DataLoader* loader,
                             std::vector<std::shared_ptr<Callback>> cbs) {
  TG_CHECK(context == RunContext::none, context_name(ctx), "the Learner is already running (",
           context_name(context), ")");
  RunGuard guard{*this, add_for_run(std::move(cbs))};
  reset_state();
  context = ctx;
  DataLoader* src = loader ? loader : &data.valid_dl;
  TG_CHECK(src->dataset() != nullptr, context_name(ctx), "no data (the loader is empty)");
  try {
    do_validate(src);
  } catch (const CancelException& c) {
    stray_cancel(c, context_name(ctx));
  }
}

namespace {

// Keeps every batch's predictions and targets.
struct GatherPreds : Callback {
  std::vector<Tensor> preds, targets;
  int order() const override { return 1000; }
  void after_pred(Learner& l) override {
    preds.push_back(l.pred);
    targets.push_back(l.yb);
  }
};

Tensor concat_rows(const std::vector<Tensor>& parts) {
  if (parts.empty()) return Tensor();
  Shape s = parts[0].shape();
  int64_t rows = 0;
  for (const Tensor& p : parts) rows += p.size(0);
  s[0] = rows;
  Tensor out = empty(s, parts[0].dtype(), parts[0].device());
  int64_t at = 0;
  for (const Tensor& p : parts) {
    out.narrow(0, at, p.size(0)).copy_(p);
    at += p.size(0);
  }
  return out;
}

}  // namespace

std::map<std::string, double> Learner::validate(DataLoader* loader,
                                                std::vector<std::shared_ptr<Callback>> extra_cbs) {
  run_validation(RunContext::validate, loader, std::move(extra_cbs));
  std::map<std::string, double> out;  // the tally of the validation pass, flushed at its end
  out["loss"] = tally.mean_loss();
  for (size_t i = 0; i < metrics.size(); ++i) out[metrics[i].name] = tally.metric_mean(i);
  return out;
}

Learner::Preds Learner::get_preds(DataLoader* loader, bool raw) {
  auto gather = std::make_shared<GatherPreds>();
  run_validation(RunContext::get_preds, loader, {gather});
  NoGrad guard;
  Tensor preds = concat_rows(gather->preds);
  if (!raw && activation && preds.defined()) preds = activation(preds);
  Tensor decoded = preds.defined() && preds.dim() == 2 ? ops::argmax(preds, 1) : Tensor();
  return {preds, concat_rows(gather->targets), decoded};
}

}  // namespace tg
