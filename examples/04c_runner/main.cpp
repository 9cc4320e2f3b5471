// Course step 04c, "Runner" (fastai notebook 04_callbacks, second half): the training loop
// moves into a Runner that keeps its state (xb, yb, pred, loss, epoch, in_train, ...) where
// every callback can read it, calls each event on every callback sorted by order, and knows
// its callbacks by name. TrainEvalCallback and AvgStatsCallback are written here as the course
// writes them; then the library's tg::TrainEval and tg::AvgStats, which are the same two
// callbacks, train the same model from the same start to the same numbers.
//
//   build/bin/04c_runner [--limit N] [--data DIR] [--epochs E] [--bs B] [--lr X]
#include <cxxabi.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <typeinfo>
#include <vector>

#include "autograd/autograd.h"
#include "examples/common/course.h"
#include "learner/callbacks/callbacks.h"
#include "learner/data/data.h"
#include "learner/learner.h"
#include "nn/functional.h"
#include "nn/module.h"
#include "optim/optimizer.h"

namespace {

using tg::Tensor;

// Step 04a's container.
struct Learner {
  std::shared_ptr<tg::nn::Module> model;
  std::shared_ptr<tg::optim::Optimizer> opt;
  std::function<Tensor(const Tensor&, const Tensor&)> loss_func;
  tg::DataBunch data;
};

class Runner;

// "TrainEvalCallback" -> "train_eval": the class name without "Callback", in snake case.
std::string camel2snake(const std::string& name) {
  std::string out;
  for (size_t i = 0; i < name.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(name[i]);
    if (std::isupper(c) && i > 0) out += '_';
    out += static_cast<char>(std::tolower(c));
  }
  return out;
}

// A callback's hooks now return "stop?": true means skip the rest (the opposite of step 04b's
// CallbackHandler). Python finds a hook by name with getattr; C++ names it with a pointer to
// a member function, so a misspelt hook does not compile.
class Callback {
 public:
  virtual ~Callback() = default;
  virtual int order() const { return 0; }  // the notebook's _order
  void set_runner(Runner* r) { run = r; }

  // The C++ type name, demangled ("(anonymous namespace)::AvgStatsCallback"), without its
  // namespace and its "Callback" suffix, in snake case: "avg_stats".
  std::string name() const {
    int status = 0;
    char* d = abi::__cxa_demangle(typeid(*this).name(), nullptr, nullptr, &status);
    std::string n = status == 0 && d ? d : typeid(*this).name();
    std::free(d);
    if (auto colon = n.rfind("::"); colon != std::string::npos) n = n.substr(colon + 2);
    if (n.size() > 8 && n.ends_with("Callback")) n.resize(n.size() - 8);
    return camel2snake(n.empty() ? "callback" : n);
  }

  virtual bool begin_fit() { return false; }
  virtual bool after_fit() { return false; }
  virtual bool begin_epoch() { return false; }
  virtual bool begin_validate() { return false; }
  virtual bool after_epoch() { return false; }
  virtual bool begin_batch() { return false; }
  virtual bool after_pred() { return false; }
  virtual bool after_loss() { return false; }
  virtual bool after_backward() { return false; }
  virtual bool after_step() { return false; }
  virtual bool after_batch() { return false; }

 protected:
  // Python's __getattr__ forwards self.model to self.run.model; C++ says run-> explicitly.
  Runner* run = nullptr;
};

using Hook = bool (Callback::*)();

class Runner {
 public:
  explicit Runner(std::vector<std::shared_ptr<Callback>> cbs);

  // The state callbacks read and write.
  Learner* learn = nullptr;
  Tensor xb, yb, pred, loss;
  int64_t epochs = 0, epoch = 0, iters = 0;  // iters: batches in the current loader
  double n_epochs = 0;                       // fractional epochs done (TrainEvalCallback)
  int64_t n_iter = 0;                        // training batches done (TrainEvalCallback)
  bool in_train = false, stop = false;

  const std::vector<std::shared_ptr<Callback>>& cbs() const { return cbs_; }
  // Python's setattr(self, cb.name, cb) lets run.avg_stats find a callback; here, by type.
  template <typename T>
  T* get() const {
    for (const auto& cb : cbs_)
      if (auto* t = dynamic_cast<T*>(cb.get())) return t;
    return nullptr;
  }

  void fit(int64_t n, Learner& l) {
    epochs = n;
    learn = &l;
    loss = Tensor();
    for (auto& cb : cbs_) cb->set_runner(this);
    // Python's try/finally: after_fit runs however the loop ends, an exception included.
    try {
      epochs_loop();
    } catch (...) {
      (*this)(&Callback::after_fit);
      learn = nullptr;
      throw;
    }
    (*this)(&Callback::after_fit);
    learn = nullptr;
  }

  // Calls hook on every callback, in order; the first that answers true stops the round.
  bool operator()(Hook hook) {
    for (auto& cb : cbs_)
      if (((*cb).*hook)()) return true;
    return false;
  }

 private:
  void epochs_loop() {
    if ((*this)(&Callback::begin_fit)) return;
    for (epoch = 0; epoch < epochs; ++epoch) {
      if (!(*this)(&Callback::begin_epoch)) all_batches(learn->data.train_dl);
      {
        tg::NoGrad no_grad;
        if (!(*this)(&Callback::begin_validate)) all_batches(learn->data.valid_dl);
      }
      if ((*this)(&Callback::after_epoch)) break;
    }
  }
  void one_batch(const Tensor& x, const Tensor& y) {
    xb = x;
    yb = y;
    if ((*this)(&Callback::begin_batch)) return;
    pred = (*learn->model)(xb);
    if ((*this)(&Callback::after_pred)) return;
    loss = learn->loss_func(pred, yb);
    if ((*this)(&Callback::after_loss) || !in_train) return;
    tg::backward(loss);
    if ((*this)(&Callback::after_backward)) return;
    learn->opt->step();
    if ((*this)(&Callback::after_step)) return;
    learn->opt->zero_grad();
  }
  void all_batches(tg::DataLoader& dl) {
    iters = dl.num_batches();
    for (const tg::Batch& b : dl) {
      if (stop) break;
      one_batch(b.x, b.y);
      (*this)(&Callback::after_batch);
    }
    stop = false;
  }

  std::vector<std::shared_ptr<Callback>> cbs_;
};

// Train/eval mode for each phase, and the progress counters.
class TrainEvalCallback : public Callback {
 public:
  bool begin_fit() override {
    run->n_epochs = 0;
    run->n_iter = 0;
    return false;
  }
  bool after_batch() override {
    if (!run->in_train) return false;
    run->n_epochs += 1.0 / static_cast<double>(run->iters);
    ++run->n_iter;
    return false;
  }
  bool begin_epoch() override {
    run->n_epochs = static_cast<double>(run->epoch);
    run->learn->model->train();
    run->in_train = true;
    return false;
  }
  bool begin_validate() override {
    run->learn->model->eval();
    run->in_train = false;
    return false;
  }
};

Runner::Runner(std::vector<std::shared_ptr<Callback>> cbs) {
  cbs_.push_back(std::make_shared<TrainEvalCallback>());  // every Runner has one
  for (auto& cb : cbs) cbs_.push_back(std::move(cb));
  // Sorted by order once here (the notebook sorts at every call); stable: ties keep the order
  // they were given in.
  std::stable_sort(cbs_.begin(), cbs_.end(),
                   [](const auto& a, const auto& b) { return a->order() < b->order(); });
}

using MetricFn = std::function<double(const Tensor& pred, const Tensor& yb)>;

// Loss and metrics of one phase, summed with batch-size weights.
class AvgStats {
 public:
  AvgStats(std::vector<MetricFn> metrics, bool in_train)
      : metrics_(std::move(metrics)), in_train_(in_train) {}
  void reset() {
    tot_loss = 0;
    count = 0;
    tot_mets.assign(metrics_.size(), 0.0);
  }
  std::vector<double> avg_stats() const {
    std::vector<double> out{tot_loss / count};
    for (double m : tot_mets) out.push_back(m / count);
    return out;
  }
  void accumulate(const Runner& run) {
    const double bn = static_cast<double>(run.xb.size(0));
    tot_loss += run.loss.item<double>() * bn;
    count += bn;
    for (size_t i = 0; i < metrics_.size(); ++i) tot_mets[i] += metrics_[i](run.pred, run.yb) * bn;
  }
  std::string str() const {  // the notebook's __repr__
    if (count == 0) return "";
    std::string s = in_train_ ? "train: [" : "valid: [";
    for (double v : avg_stats()) s += (s.back() == '[' ? "" : ", ") + std::to_string(v);
    return s + "]";
  }
  double tot_loss = 0, count = 0;
  std::vector<double> tot_mets;

 private:
  std::vector<MetricFn> metrics_;
  bool in_train_;
};

class AvgStatsCallback : public Callback {
 public:
  explicit AvgStatsCallback(std::vector<MetricFn> metrics)
      : train_stats(metrics, true), valid_stats(metrics, false) {}
  int order() const override { return 1; }
  bool begin_epoch() override {
    train_stats.reset();
    valid_stats.reset();
    return false;
  }
  bool after_loss() override {
    tg::NoGrad no_grad;
    (run->in_train ? train_stats : valid_stats).accumulate(*run);
    return false;
  }
  bool after_epoch() override {
    std::printf("epoch %lld  %s  %s\n", static_cast<long long>(run->epoch + 1),
                train_stats.str().c_str(), valid_stats.str().c_str());
    return false;
  }
  AvgStats train_stats, valid_stats;
};

double accuracy(const Tensor& pred, const Tensor& yb) {
  return tg::nn::functional::accuracy(pred, yb).item<double>();
}

}  // namespace

int main(int argc, char** argv) {
  course::Options o;
  o.epochs = 2;
  course::Flags flags("04c_runner",
                      "a Runner with callbacks that have an order and a name: TrainEvalCallback "
                      "and AvgStatsCallback, then the library's tg::TrainEval and tg::AvgStats "
                      "on the same start.");
  flags.data(o).training(o).integer("--nh", o.nh, "hidden units");
  if (auto rc = flags.parse_or_exit(argc, argv)) return *rc;

  return course::run([&] {
    const course::Data data = course::load_data(o);

    // The Runner adds TrainEvalCallback itself and sorts them all by order.
    auto stats = std::make_shared<AvgStatsCallback>(std::vector<MetricFn>{accuracy});
    Runner run({stats});
    std::printf("\nthe Runner's callbacks, sorted by order:\n");
    for (const auto& cb : run.cbs())
      std::printf("  order %2d  %s\n", cb->order(), cb->name().c_str());
    std::printf("run.get<AvgStatsCallback>() finds '%s'\n",
                run.get<AvgStatsCallback>()->name().c_str());

    auto [model, opt] = course::get_model(data.d, o.nh, o.lr, o.seed);
    Learner learn{model, opt, tg::cross_entropy, tg::make_databunch(data.d, o.bs, o.seed)};
    std::printf("\nrun.fit(%lld, learn), printing [loss, accuracy] per phase:\n",
                static_cast<long long>(o.epochs));
    run.fit(o.epochs, learn);
    std::printf("TrainEvalCallback counted %lld training batches, %.2f epochs\n",
                static_cast<long long>(run.n_iter), run.n_epochs);
    const std::vector<double> ours = stats->valid_stats.avg_stats();

    // The library: the Runner and the container are one tg::Learner, which adds tg::TrainEval
    // itself; tg::AvgStats is AvgStatsCallback, writing learn.values and printing a line.
    auto [model2, opt2] = course::get_model(data.d, o.nh, o.lr, o.seed);
    tg::Learner lib(model2, opt2, tg::cross_entropy, tg::make_databunch(data.d, o.bs, o.seed),
                    {.metrics = {tg::accuracy_metric()}}, {std::make_shared<tg::AvgStats>()});
    std::printf("\nthe library's tg::Learner, same weights and batches; its callbacks:\n");
    for (const auto& cb : lib.cbs())
      std::printf("  order %3d  %s\n", cb->order(), cb->name().c_str());
    lib.fit(o.epochs);
    const double lib_loss = lib.values.at("valid_loss"), lib_acc = lib.values.at("valid_accuracy");
    std::printf(
        "\nvalid loss: Runner %.6f, tg::Learner %.6f; valid accuracy: Runner %.4f, "
        "tg::Learner %.4f\n",
        ours[0], lib_loss, ours[1], lib_acc);
    const bool same = std::abs(ours[0] - lib_loss) < 1e-5 && std::abs(ours[1] - lib_acc) < 1e-9;
    std::printf(same ? "the Runner and tg::Learner agree\n"
                     : "THE RUNNER AND tg::Learner DIFFER\n");
    return same ? 0 : 1;
  });
}
