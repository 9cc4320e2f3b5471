// Course step 03, "minibatch training" (fastai notebook 03_minibatch_training): the loss for
// classification written by hand — log_softmax with the logsumexp trick, the negative
// log-likelihood by indexing, cross-entropy, accuracy — then a training loop over minibatches
// written by hand, refactored step by step into what the library offers: parameters(), an
// Optimizer, optim::SGD, and finally a Dataset and a shuffling DataLoader.
//
//   build/bin/03_minibatch_training [--limit N] [--data DIR] [--epochs E] [--bs B] [--lr X]
//
// Every stage starts from the same initial weights (the same --seed), so the first four,
// which see the same batches in the same order, end with exactly the same loss.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <tuple>
#include <vector>

#include "autograd/autograd.h"
#include "examples/common/course.h"
#include "learner/data/data.h"
#include "nn/functional.h"
#include "nn/layers.h"
#include "optim/optimizer.h"
#include "tensor/creation.h"
#include "tensor/ops.h"

namespace {

using tg::Tensor;

// --- the loss, by hand -------------------------------------------------------------------

// The notebook's first try: log(softmax(x)) = x - log(sum(exp(x))). exp overflows float32
// for x > 88, and the result becomes inf - inf = NaN.
Tensor log_softmax_naive(const Tensor& x) {
  return x - tg::log(tg::sum(tg::exp(x), {-1}, /*keepdim=*/true));
}

// logsumexp(x) = m + log(sum(exp(x - m))) with m the largest value of each row: every exp
// is now at most exp(0) = 1. m is taken from a detached copy (a constant for the tape); the
// gradient is still exact, because m cancels out of log_softmax.
Tensor logsumexp(const Tensor& x) {
  Tensor m = tg::ops::reduce(tg::ReduceOp::max, x.detach(), {-1}, /*keepdim=*/true);  // (n, 1)
  return m + tg::log(tg::sum(tg::exp(x - m), {-1}, true));
}
Tensor log_softmax_by_hand(const Tensor& x) {
  return x - logsumexp(x);
}

// The notebook's -input[range(n), target].mean(): each row's log-probability of its label,
// picked with gather (index (n, 1): one column per row), averaged, negated.
double nll(const Tensor& logp, const Tensor& target) {
  Tensor picked = logp.gather(1, target.reshape({-1, 1}));  // (n, 1)
  return -tg::ops::reduce(tg::ReduceOp::mean, picked, {}, false).item<double>();
}

// (argmax(out, 1) == yb).float().mean()
double accuracy(const Tensor& out, const Tensor& yb) {
  Tensor hit = tg::ops::binary(tg::BinaryOp::eq, tg::argmax(out, 1).to(tg::DType::f32),
                               yb.to(tg::DType::f32));
  return tg::ops::reduce(tg::ReduceOp::mean, hit, {}, false).item<double>();
}

// Accuracy of the model on the whole validation set, without recording anything.
double valid_accuracy(tg::nn::Module& model, const tg::ImageData& d) {
  tg::NoGrad no_grad;
  return accuracy(model(d.x_valid), d.y_valid);
}

// One line per epoch: the loss and accuracy of the last batch, as the notebook prints them,
// and the validation accuracy.
void report(const char* stage, int64_t epoch, tg::nn::Module& model, const Tensor& xb,
            const Tensor& yb, const tg::ImageData& d) {
  tg::NoGrad no_grad;
  Tensor out = model(xb);
  std::printf("  %-12s epoch %lld: last batch loss %.4f, accuracy %.4f; valid accuracy %.4f\n",
              stage, static_cast<long long>(epoch + 1), tg::cross_entropy(out, yb).item<double>(),
              accuracy(out, yb), valid_accuracy(model, d));
}

// --- the notebook's own Optimizer, before optim::SGD --------------------------------------

class Optimizer {
 public:
  Optimizer(std::vector<Tensor> params, double lr) : params_(std::move(params)), lr_(lr) {}
  void step() {
    tg::NoGrad no_grad;  // the update must not be recorded on the tape
    for (Tensor& p : params_) tg::ops::axpy_(p, -lr_, p.grad());  // p -= lr * p.grad
  }
  void zero_grad() {
    for (Tensor& p : params_)
      if (p.grad().defined()) p.grad().zero_();
  }

 private:
  std::vector<Tensor> params_;
  double lr_;
};

// --- the notebook's Dataset and DataLoader, before the library's -------------------------

struct Dataset {
  Tensor x, y;
  int64_t size() const { return x.size(0); }
  // train_ds[i : i + n]: a view of rows, no copy.
  std::pair<Tensor, Tensor> rows(int64_t i, int64_t n) const {
    return {x.narrow(0, i, n), y.narrow(0, i, n)};
  }
};

// Yields (xb, yb) batches. With shuffle, a Sampler's job: a fresh permutation of the indices
// every epoch, and a collate that gathers those rows into one batch.
struct DataLoader {
  const Dataset& ds;
  int64_t bs;
  bool shuffle;
  tg::Generator& gen;
  void for_each(const std::function<void(const Tensor& xb, const Tensor& yb)>& f) const {
    Tensor order = shuffle ? tg::randperm(ds.size(), gen) : tg::arange(ds.size(), tg::DType::i32);
    for (int64_t i = 0; i < ds.size(); i += bs) {
      Tensor idx = order.narrow(0, i, std::min(bs, ds.size() - i));
      f(ds.x.index_select(0, idx), ds.y.index_select(0, idx));  // collate
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  course::Options o;
  course::Flags flags("03_minibatch_training",
                      "log_softmax, nll and cross-entropy by hand against the library's, then a "
                      "minibatch training loop by hand, refactored into nn, optim and DataLoader.");
  flags.data(o).training(o).integer("--nh", o.nh, "hidden units");
  if (auto rc = flags.parse_or_exit(argc, argv)) return *rc;

  return course::run([&] {
    const course::Data data = course::load_data(o);
    const tg::ImageData& d = data.d;
    const int64_t n = d.x_train.size(0), bs = o.bs;
    const double lr = o.lr;

    // 1. The loss, by hand, on the untrained model's predictions for the whole training set.
    std::shared_ptr<tg::nn::Sequential> model;
    std::shared_ptr<tg::optim::SGD> opt;
    std::tie(model, opt) = course::get_model(d, o.nh, lr, o.seed);
    std::printf("\nmodel: %s\n", model->str().c_str());
    Tensor xb, yb;
    {
      tg::NoGrad no_grad;  // checks only: nothing to record
      Tensor pred = (*model)(d.x_train);
      std::printf("\n1. log_softmax, nll, cross_entropy by hand (predictions %s)\n",
                  pred.shape_str().c_str());
      Tensor lsm = log_softmax_by_hand(pred);
      std::printf("  log_softmax by hand (logsumexp trick) vs tg::log_softmax: max |diff| %.3g\n",
                  tg::max_abs_diff(lsm, tg::log_softmax(pred)));
      Tensor big = pred * 1000.0;  // logits large enough for exp() to overflow (above 88)
      auto non_finite = [](const Tensor& t) {
        int64_t k = 0;
        for (float v : t.contiguous().to_vector<float>()) k += !std::isfinite(v);
        return static_cast<long long>(k);
      };
      std::printf(
          "  on the logits times 1000: naive log_softmax has %lld non-finite values, "
          "the logsumexp trick %lld\n",
          non_finite(log_softmax_naive(big)), non_finite(log_softmax_by_hand(big)));
      const double by_hand = nll(lsm, d.y_train);
      const double lib_nll = tg::nll_loss(tg::log_softmax(pred), d.y_train).item<double>();
      const double lib_ce = tg::cross_entropy(pred, d.y_train).item<double>();
      std::printf(
          "  nll(log_softmax(pred)) by hand %.6f, tg::nll_loss %.6f, tg::cross_entropy %.6f\n",
          by_hand, lib_nll, lib_ce);
      const bool agree = std::abs(by_hand - lib_nll) < 1e-5 && std::abs(by_hand - lib_ce) < 1e-5;
      std::printf(agree ? "  hand-written and library loss agree\n"
                        : "  HAND-WRITTEN AND LIBRARY LOSS DIFFER\n");
      if (!agree) return 1;

      // 2. One minibatch: predictions, loss, accuracy.
      xb = d.x_train.narrow(0, 0, std::min(bs, n));
      yb = d.y_train.narrow(0, 0, xb.size(0));
      Tensor preds = (*model)(xb);
      std::printf(
          "\n2. one minibatch of %lld: preds %s, loss %.4f, accuracy by hand %.4f "
          "(tg::nn::functional::accuracy %.4f)\n",
          static_cast<long long>(xb.size(0)), preds.shape_str().c_str(),
          tg::cross_entropy(preds, yb).item<double>(), accuracy(preds, yb),
          tg::nn::functional::accuracy(preds, yb).item<double>());
    }

    // 3. The training loop by hand: slice a batch with narrow, forward, loss, backward, then
    //    update each layer's weight and bias under NoGrad and zero their gradients.
    std::printf("\n3. training loop by hand, lr %g, batch size %lld, %lld epoch(s)\n", lr,
                static_cast<long long>(bs), static_cast<long long>(o.epochs));
    for (int64_t epoch = 0; epoch < o.epochs; ++epoch) {
      for (int64_t i = 0; i < (n - 1) / bs + 1; ++i) {
        const int64_t start = i * bs, len = std::min(bs, n - start);
        xb = d.x_train.narrow(0, start, len);
        yb = d.y_train.narrow(0, start, len);
        Tensor loss = tg::cross_entropy((*model)(xb), yb);
        tg::backward(loss);
        tg::NoGrad no_grad;
        for (size_t l = 0; l < model->size(); ++l) {
          auto* lin = dynamic_cast<tg::nn::Linear*>(&(*model)[l]);  // hasattr(l, 'weight')
          if (lin == nullptr) continue;
          tg::ops::axpy_(lin->weight, -lr, lin->weight.grad());  // weight -= lr * weight.grad
          tg::ops::axpy_(lin->bias, -lr, lin->bias.grad());
          lin->weight.grad().zero_();
          lin->bias.grad().zero_();
        }
      }
      report("by hand", epoch, *model, xb, yb, d);
    }

    // 4. The same with model.parameters() and model.zero_grad(): no need to know the layers.
    std::printf("\n4. with parameters() and zero_grad()\n");
    std::tie(model, opt) = course::get_model(d, o.nh, lr, o.seed);
    for (int64_t epoch = 0; epoch < o.epochs; ++epoch) {
      for (int64_t i = 0; i < (n - 1) / bs + 1; ++i) {
        const int64_t start = i * bs, len = std::min(bs, n - start);
        xb = d.x_train.narrow(0, start, len);
        yb = d.y_train.narrow(0, start, len);
        tg::backward(tg::cross_entropy((*model)(xb), yb));
        {
          tg::NoGrad no_grad;
          for (Tensor& p : model->parameters()) tg::ops::axpy_(p, -lr, p.grad());
        }
        model->zero_grad();
      }
      report("parameters", epoch, *model, xb, yb, d);
    }

    // 5. The update moved into an Optimizer: opt.step(), opt.zero_grad().
    std::printf("\n5. with a hand-written Optimizer, then tg::optim::SGD\n");
    std::tie(model, opt) = course::get_model(d, o.nh, lr, o.seed);
    Optimizer my_opt(model->parameters(), lr);
    for (int64_t epoch = 0; epoch < o.epochs; ++epoch) {
      for (int64_t i = 0; i < (n - 1) / bs + 1; ++i) {
        const int64_t start = i * bs, len = std::min(bs, n - start);
        xb = d.x_train.narrow(0, start, len);
        yb = d.y_train.narrow(0, start, len);
        tg::backward(tg::cross_entropy((*model)(xb), yb));
        my_opt.step();
        my_opt.zero_grad();
      }
      report("Optimizer", epoch, *model, xb, yb, d);
    }
    std::tie(model, opt) = course::get_model(d, o.nh, lr, o.seed);  // opt is a tg::optim::SGD
    for (int64_t epoch = 0; epoch < o.epochs; ++epoch) {
      for (int64_t i = 0; i < (n - 1) / bs + 1; ++i) {
        const int64_t start = i * bs, len = std::min(bs, n - start);
        xb = d.x_train.narrow(0, start, len);
        yb = d.y_train.narrow(0, start, len);
        tg::backward(tg::cross_entropy((*model)(xb), yb));
        opt->step();
        opt->zero_grad();
      }
      report("optim::SGD", epoch, *model, xb, yb, d);
    }

    // 6. Dataset and DataLoader: the loop no longer does index arithmetic, and the training
    //    set is shuffled every epoch (the validation set would not need to be).
    std::printf("\n6. with a hand-written Dataset and shuffling DataLoader\n");
    std::tie(model, opt) = course::get_model(d, o.nh, lr, o.seed);
    Dataset train_ds{d.x_train, d.y_train};
    std::printf("  train_ds.rows(0, 5): x %s, y %s\n",
                train_ds.rows(0, 5).first.shape_str().c_str(),
                train_ds.rows(0, 5).second.shape_str().c_str());
    tg::Generator gen(o.seed);
    DataLoader train_dl{train_ds, bs, /*shuffle=*/true, gen};
    for (int64_t epoch = 0; epoch < o.epochs; ++epoch) {
      train_dl.for_each([&](const Tensor& x, const Tensor& y) {
        tg::backward(tg::cross_entropy((*model)(x), y));
        opt->step();
        opt->zero_grad();
        xb = x;
        yb = y;
      });
      report("my loader", epoch, *model, xb, yb, d);
    }

    std::printf("\n7. with tg::Dataset and tg::DataLoader (shuffle, seed %llu)\n",
                static_cast<unsigned long long>(o.seed));
    std::tie(model, opt) = course::get_model(d, o.nh, lr, o.seed);
    auto ds = std::make_shared<tg::Dataset>(d.x_train, d.y_train);
    tg::DataLoader dl(ds, {.batch_size = bs, .shuffle = true, .seed = o.seed});
    std::printf("  %lld examples, %lld batches of %lld per epoch\n",
                static_cast<long long>(dl.size()), static_cast<long long>(dl.num_batches()),
                static_cast<long long>(bs));
    for (int64_t epoch = 0; epoch < o.epochs; ++epoch) {
      for (const tg::Batch& b : dl) {
        tg::backward(tg::cross_entropy((*model)(b.x), b.y));
        opt->step();
        opt->zero_grad();
        xb = b.x;
        yb = b.y;
      }
      report("DataLoader", epoch, *model, xb, yb, d);
    }
    return 0;
  });
}
