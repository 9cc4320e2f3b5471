// Course step 04b, "CallbackHandler" (fastai notebook 04_callbacks): fit() of step 04a, now
// asking a CallbackHandler before and after every part of training. Each hook returns a bool:
// true means "go on", false means "skip this part" — the course's first design, with its
// older names begin_fit, begin_epoch, begin_validate, begin_batch. A TestCallback stops the
// training after 10 iterations by setting learn.stop.
//
//   build/bin/04b_callback_handler [--limit N] [--data DIR] [--epochs E] [--stop-after K]
//
// (The library's Learner uses before_* names and exceptions instead of bools: see step 05b.)
#include <cstdio>
#include <functional>
#include <memory>
#include <vector>

#include "autograd/autograd.h"
#include "examples/common/course.h"
#include "learner/data/data.h"
#include "nn/functional.h"
#include "nn/module.h"
#include "optim/optimizer.h"

namespace {

using tg::Tensor;

// Step 04a's Learner, plus the stop flag the callbacks set.
struct Learner {
  std::shared_ptr<tg::nn::Module> model;
  std::shared_ptr<tg::optim::Optimizer> opt;
  std::function<Tensor(const Tensor&, const Tensor&)> loss_func;
  tg::DataBunch data;
  bool stop = false;
};

// A callback: every hook answers "go on?". The default answers yes and keeps what it is given.
class Callback {
 public:
  virtual ~Callback() = default;
  virtual bool begin_fit(Learner& learn) {
    learn_ = &learn;
    return true;
  }
  virtual bool after_fit() { return true; }
  virtual bool begin_epoch(int64_t epoch) {
    epoch_ = epoch;
    return true;
  }
  virtual bool begin_validate() { return true; }
  virtual bool after_epoch() { return true; }
  virtual bool begin_batch(const Tensor& xb, const Tensor& yb) {
    xb_ = xb;
    yb_ = yb;
    return true;
  }
  virtual bool after_loss(const Tensor& loss) {
    loss_ = loss;
    return true;
  }
  virtual bool after_backward() { return true; }
  virtual bool after_step() { return true; }

 protected:
  Learner* learn_ = nullptr;
  int64_t epoch_ = 0;
  Tensor xb_, yb_, loss_;
};

// Calls every callback's hook and combines the answers; it also does what every training
// needs (train/eval mode, knowing whether we are training) so that fit() stays short.
// `res = res && cb->hook()` is the notebook's `res = res and cb.hook()`: once one callback
// says no, the later ones are not even asked (&& short-circuits, as Python's `and` does).
class CallbackHandler {
 public:
  explicit CallbackHandler(std::vector<std::shared_ptr<Callback>> cbs = {})
      : cbs_(std::move(cbs)) {}

  bool begin_fit(Learner& learn) {
    learn_ = &learn;
    in_train_ = true;
    learn.stop = false;
    bool res = true;
    for (auto& cb : cbs_) res = res && cb->begin_fit(learn);
    return res;
  }
  bool after_fit() {
    bool res = !in_train_;
    for (auto& cb : cbs_) res = res && cb->after_fit();
    return res;
  }
  bool begin_epoch(int64_t epoch) {
    learn_->model->train();
    in_train_ = true;
    bool res = true;
    for (auto& cb : cbs_) res = res && cb->begin_epoch(epoch);
    return res;
  }
  bool begin_validate() {
    learn_->model->eval();
    in_train_ = false;
    bool res = true;
    for (auto& cb : cbs_) res = res && cb->begin_validate();
    return res;
  }
  bool after_epoch() {
    bool res = true;
    for (auto& cb : cbs_) res = res && cb->after_epoch();
    return res;
  }
  bool begin_batch(const Tensor& xb, const Tensor& yb) {
    bool res = true;
    for (auto& cb : cbs_) res = res && cb->begin_batch(xb, yb);
    return res;
  }
  // Validation batches stop here: no backward, no step.
  bool after_loss(const Tensor& loss) {
    bool res = in_train_;
    for (auto& cb : cbs_) res = res && cb->after_loss(loss);
    return res;
  }
  bool after_backward() {
    bool res = true;
    for (auto& cb : cbs_) res = res && cb->after_backward();
    return res;
  }
  bool after_step() {
    bool res = true;
    for (auto& cb : cbs_) res = res && cb->after_step();
    return res;
  }
  // Reads and clears learn.stop (the notebook's try/finally).
  bool do_stop() {
    const bool stop = learn_->stop;
    learn_->stop = false;
    return stop;
  }

 private:
  std::vector<std::shared_ptr<Callback>> cbs_;
  Learner* learn_ = nullptr;
  bool in_train_ = false;
};

void one_batch(const Tensor& xb, const Tensor& yb, Learner& learn, CallbackHandler& cb) {
  if (!cb.begin_batch(xb, yb)) return;
  Tensor loss = learn.loss_func((*learn.model)(xb), yb);
  if (!cb.after_loss(loss)) return;
  tg::backward(loss);
  if (cb.after_backward()) learn.opt->step();
  if (cb.after_step()) learn.opt->zero_grad();
}

void all_batches(tg::DataLoader& dl, Learner& learn, CallbackHandler& cb) {
  for (const tg::Batch& b : dl) {
    one_batch(b.x, b.y, learn, cb);
    if (cb.do_stop()) return;
  }
}

void fit(int64_t epochs, Learner& learn, CallbackHandler& cb) {
  if (!cb.begin_fit(learn)) return;
  for (int64_t epoch = 0; epoch < epochs; ++epoch) {
    if (!cb.begin_epoch(epoch)) continue;
    all_batches(learn.data.train_dl, learn, cb);
    if (cb.begin_validate()) {
      tg::NoGrad no_grad;
      all_batches(learn.data.valid_dl, learn, cb);
    }
    if (cb.do_stop() || !cb.after_epoch()) break;
  }
  cb.after_fit();
}

// The notebook's TestCallback: counts the optimizer steps and asks to stop after `limit`.
class TestCallback : public Callback {
 public:
  explicit TestCallback(int64_t limit) : limit_(limit) {}
  bool begin_fit(Learner& learn) override {
    Callback::begin_fit(learn);
    n_iters = 0;
    return true;
  }
  bool after_step() override {
    ++n_iters;
    std::printf("%lld ", static_cast<long long>(n_iters));
    if (n_iters >= limit_) learn_->stop = true;
    return true;
  }
  int64_t n_iters = 0;

 private:
  int64_t limit_;
};

// A callback that observes instead of steering: it averages the loss after_loss hands it, and
// counts the calls it gets during validation. There are none: the handler's after_loss starts
// from res = in_train, false while validating, and `res && cb->after_loss(loss)` then never
// calls the callback — the notebook's short-circuit, faithfully reproduced. (Nor could it
// report accuracy: no hook is given the predictions. The Runner of step 04c keeps both in its
// state, where every callback can read them.)
class LossStats : public Callback {
 public:
  bool begin_epoch(int64_t epoch) override {
    Callback::begin_epoch(epoch);
    in_valid_ = false;
    sum_ = n_ = 0;
    valid_calls_ = 0;
    return true;
  }
  bool begin_validate() override {
    in_valid_ = true;
    return true;
  }
  bool after_loss(const Tensor& loss) override {
    Callback::after_loss(loss);
    if (in_valid_) {
      ++valid_calls_;
      return true;
    }
    const double bs = static_cast<double>(xb_.size(0));
    sum_ += bs * loss.item<double>();
    n_ += bs;
    return true;
  }
  bool after_epoch() override {
    std::printf(
        "epoch %lld: train loss %.4f (mean over the epoch); after_loss calls while "
        "validating: %lld\n",
        static_cast<long long>(epoch_ + 1), sum_ / n_, static_cast<long long>(valid_calls_));
    return true;
  }

 private:
  bool in_valid_ = false;
  double sum_ = 0, n_ = 0;
  int64_t valid_calls_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  course::Options o;
  o.epochs = 1;  // as the notebook: with more, see the chapter on what learn.stop does
  int64_t stop_after = 10;
  course::Flags flags("04b_callback_handler",
                      "fit() with a CallbackHandler whose hooks (begin_fit, begin_epoch, "
                      "begin_validate, begin_batch, after_loss, after_backward, after_step, "
                      "after_epoch, after_fit) return bool; a TestCallback stops after 10 "
                      "iterations.");
  flags.data(o).training(o).integer("--stop-after", stop_after,
                                    "iterations after which TestCallback stops");
  if (auto rc = flags.parse_or_exit(argc, argv)) return *rc;

  return course::run([&] {
    const course::Data data = course::load_data(o);
    auto make_learner = [&] {
      auto [model, opt] = course::get_model(data.d, o.nh, o.lr, o.seed);
      return Learner{model, opt, tg::cross_entropy, tg::make_databunch(data.d, o.bs, o.seed)};
    };

    std::printf("\nfit(%lld, learn, CallbackHandler({LossStats})): nothing stops it\n",
                static_cast<long long>(o.epochs));
    Learner learn = make_learner();
    CallbackHandler observe({std::make_shared<LossStats>()});
    fit(o.epochs, learn, observe);

    std::printf("\nfit(%lld, learn, CallbackHandler({TestCallback(%lld)})): it sets learn.stop\n",
                static_cast<long long>(o.epochs), static_cast<long long>(stop_after));
    learn = make_learner();
    auto test = std::make_shared<TestCallback>(stop_after);
    CallbackHandler cbh({test});
    fit(o.epochs, learn, cbh);
    std::printf("\niterations run: %lld (of %lld per epoch)\n",
                static_cast<long long>(test->n_iters),
                static_cast<long long>(learn.data.train_dl.num_batches()));
    return 0;
  });
}
