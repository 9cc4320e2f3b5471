// Learner: fit() as nested levels — fit, epoch, train/validate, batch, backward, step — each
// run by with_events(), which fires the level's before_ event, runs its body, turns the
// level's own Cancel exception into after_cancel_, and fires after_.
#include "learner/learner.h"

#include <algorithm>
#include <sstream>

#include "autograd/tape.h"
#include "learner/callbacks/callbacks.h"
#include "tensor/ops.h"

namespace tg {

Metric accuracy_metric() {
  // One kernel for int32 labels of (n, classes) logits; any other layout through the ops.
  auto acc = [](const Tensor& pred, const Tensor& y) {
    if (pred.dim() == 2 && y.dim() == 1 && y.dtype() == DType::i32) return ops::accuracy(pred, y);
    Tensor hit = ops::binary(BinaryOp::eq, ops::argmax(pred, -1).to(DType::f32), y.to(DType::f32));
    return ops::reduce(ReduceOp::mean, hit, {}, false);
  };
  return {"accuracy", [acc](const Tensor& p, const Tensor& y) { return acc(p, y).item<double>(); },
          acc};
}

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

void Learner::remove_cb(const Callback* cb) {
  std::erase_if(cbs_, [cb](const auto& c) { return c.get() == cb; });
}

void Learner::event(Event e) {
  // Copy: a handler may add or remove callbacks.
  std::vector<std::shared_ptr<Callback>> cbs = cbs_;
  for (const auto& cb : cbs) {
    try {
      cb->handle(e, *this);
    } catch (const CancelException&) {
      throw;
    } catch (...) {
      // Name where it happened, repeat the cause's message, and keep the cause nested.
      std::ostringstream os;
      os << "callback " << cb->name() << " failed in " << event_name(e) << " (epoch " << epoch
         << ", iter " << iter << ", " << (training ? "training" : "validating") << ", context "
         << context_name(context) << ")";
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
}

template <typename Cancel, typename F>
void Learner::with_events(Event before, Event after_cancel, Event after, F&& body) {
  try {
    event(before);
    body();
  } catch (const Cancel&) {
    event(after_cancel);
  }
  event(after);
}

void Learner::reset_state() {
  dl = nullptr;
  xb = yb = pred = loss = Tensor();
  epochs = epoch = iter = n_iter = train_iter = 0;
  pct_train = 0;
  training = false;
  values.clear();
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
  ~RunGuard() {
    for (auto& cb : added) learn.remove_cb(cb.get());
    learn.context = RunContext::none;
    learn.dl = nullptr;
    learn.training = false;
  }
};

[[noreturn]] void stray_cancel(const CancelException& c, const char* where) {
  TG_FAIL("Learner", c.level(), " was thrown outside the level it cancels (during ", where,
          "); throw it from an event inside that level");
}
}  // namespace

void Learner::fit(int64_t n_epochs, std::vector<std::shared_ptr<Callback>> extra_cbs) {
  fit_in_context(RunContext::fit, n_epochs, std::move(extra_cbs));
}

void Learner::fit_in_context(RunContext ctx, int64_t n_epochs,
                             std::vector<std::shared_ptr<Callback>> extra_cbs) {
  TG_CHECK(n_epochs >= 0, "fit", "the number of epochs must be >= 0, got ", n_epochs);
  TG_CHECK(context == RunContext::none, "fit", "the Learner is already running (",
           context_name(context), "); a callback cannot start another fit");
  TG_CHECK(data.train_dl.dataset() != nullptr, "fit", "the DataBunch has no training data");
  RunGuard guard{*this, add_for_run(std::move(extra_cbs))};
  reset_state();
  context = ctx;
  epochs = n_epochs;
  try {
    with_events<CancelFit>(Event::before_fit, Event::after_cancel_fit, Event::after_fit, [&] {
      for (epoch = 0; epoch < epochs; ++epoch) do_epoch();
    });
  } catch (const CancelException& c) {
    stray_cancel(c, "fit");
  }
}

void Learner::do_epoch() {
  with_events<CancelEpoch>(Event::before_epoch, Event::after_cancel_epoch, Event::after_epoch, [&] {
    do_train();
    do_validate(&data.valid_dl);
  });
}

void Learner::do_train() {
  training = true;
  dl = &data.train_dl;
  with_events<CancelTrain>(Event::before_train, Event::after_cancel_train, Event::after_train,
                           [&] { all_batches(); });
}

void Learner::do_validate(DataLoader* loader) {
  NoGrad guard;
  training = false;
  dl = loader;
  with_events<CancelValidate>(Event::before_validate, Event::after_cancel_validate,
                              Event::after_validate, [&] { all_batches(); });
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
    pred = (*model)(xb);
    event(Event::after_pred);
    loss = loss_func(pred, yb);
    event(Event::after_loss);
    if (!training) return;
    with_events<CancelBackward>(Event::before_backward, Event::after_cancel_backward,
                                Event::after_backward, [&] { backward(loss); });
    with_events<CancelStep>(Event::before_step, Event::after_cancel_step, Event::after_step,
                            [&] { opt->step(); });
    opt->zero_grad(/*set_to_none=*/true);  // the next backward writes .grad afresh
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

// Size-weighted sums of the loss and the metrics over a validation run.
struct SumStats : Callback {
  const std::vector<Metric>* metrics = nullptr;
  double n = 0, loss = 0;
  std::vector<double> m;
  int order() const override { return 1000; }
  void after_loss(Learner& l) override {
    double bs = static_cast<double>(l.xb.size(0));
    n += bs;
    loss += bs * l.loss.item<double>();
    m.resize(metrics->size());
    for (size_t i = 0; i < metrics->size(); ++i) m[i] += bs * (*metrics)[i].fn(l.pred, l.yb);
  }
};

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
  auto sums = std::make_shared<SumStats>();
  sums->metrics = &metrics;
  extra_cbs.push_back(sums);
  run_validation(RunContext::validate, loader, std::move(extra_cbs));
  std::map<std::string, double> out;
  out["loss"] = sums->n > 0 ? sums->loss / sums->n : 0.0;
  for (size_t i = 0; i < metrics.size(); ++i)
    out[metrics[i].name] = sums->n > 0 && i < sums->m.size() ? sums->m[i] / sums->n : 0.0;
  return out;
}

Learner::Preds Learner::get_preds(DataLoader* loader) {
  auto gather = std::make_shared<GatherPreds>();
  run_validation(RunContext::get_preds, loader, {gather});
  NoGrad guard;
  return {concat_rows(gather->preds), concat_rows(gather->targets)};
}

}  // namespace tg
