// Course step 04a, "fit" (the start of fastai notebook 04_callbacks): the notebook bundles the
// data into a DataBunch and everything a training needs into a Learner — at this point a plain
// container with no behaviour — and writes fit(epochs, learn) with a training loop and a
// validation loop, printing the validation loss and accuracy after each epoch.
//
//   build/bin/04a_fit [--limit N] [--data DIR] [--epochs E] [--bs B] [--lr X]
#include <cstdio>
#include <functional>
#include <memory>
#include <tuple>
#include <utility>

#include "autograd/autograd.h"
#include "examples/common/course.h"
#include "learner/data/data.h"
#include "nn/functional.h"
#include "nn/module.h"
#include "optim/optimizer.h"

namespace {

// The notebook's Learner: "a container for the four things we need to train". No methods.
// (The library's tg::Learner of step 09b grows out of this.)
struct Learner {
  std::shared_ptr<tg::nn::Module> model;
  std::shared_ptr<tg::optim::Optimizer> opt;
  std::function<tg::Tensor(const tg::Tensor&, const tg::Tensor&)> loss_func;
  tg::DataBunch data;
};

// The notebook's get_dls: the training set shuffled, the validation set in order with twice
// the batch size (no gradients are kept there, so the memory allows it).
tg::DataBunch get_databunch(const tg::ImageData& d, int64_t bs, uint64_t seed) {
  tg::DataBunch db;
  db.train_dl = tg::DataLoader(std::make_shared<tg::Dataset>(d.x_train, d.y_train),
                               {.batch_size = bs, .shuffle = true, .seed = seed});
  db.valid_dl =
      tg::DataLoader(std::make_shared<tg::Dataset>(d.x_valid, d.y_valid), {.batch_size = bs * 2});
  db.c = d.c;
  return db;
}

// Returns the last epoch's validation loss and accuracy.
std::pair<double, double> fit(int64_t epochs, Learner& learn) {
  double valid_loss = 0, valid_acc = 0;
  for (int64_t epoch = 0; epoch < epochs; ++epoch) {
    learn.model->train();
    for (const tg::Batch& b : learn.data.train_dl) {
      tg::Tensor loss = learn.loss_func((*learn.model)(b.x), b.y);
      tg::backward(loss);
      learn.opt->step();
      learn.opt->zero_grad();
    }

    learn.model->eval();
    tg::NoGrad no_grad;
    // The notebook sums per-batch means and divides by the number of batches, which is a
    // little off when the last batch is smaller; weighting by the batch size is exact.
    double tot_loss = 0, tot_acc = 0, n = 0;
    for (const tg::Batch& b : learn.data.valid_dl) {
      tg::Tensor pred = (*learn.model)(b.x);
      const double bs = static_cast<double>(b.x.size(0));
      tot_loss += bs * learn.loss_func(pred, b.y).item<double>();
      tot_acc += bs * tg::nn::functional::accuracy(pred, b.y).item<double>();
      n += bs;
    }
    valid_loss = tot_loss / n;
    valid_acc = tot_acc / n;
    std::printf("epoch %lld: valid loss %.4f, accuracy %.4f\n", static_cast<long long>(epoch + 1),
                valid_loss, valid_acc);
  }
  return {valid_loss, valid_acc};
}

}  // namespace

int main(int argc, char** argv) {
  course::Options o;
  o.epochs = 2;
  course::Flags flags("04a_fit",
                      "a DataBunch, a Learner as a plain container, and fit(epochs, learn) with "
                      "a training and a validation loop.");
  flags.data(o).training(o).integer("--nh", o.nh, "hidden units");
  if (auto rc = flags.parse_or_exit(argc, argv)) return *rc;

  return course::run([&] {
    const course::Data data = course::load_data(o);
    auto [model, opt] = course::get_model(data.d, o.nh, o.lr, o.seed);
    Learner learn{model, opt, tg::cross_entropy, get_databunch(data.d, o.bs, o.seed)};
    std::printf(
        "learner: a %lld-%lld-%lld MLP, SGD lr %g, cross_entropy; %lld training batches "
        "of %lld, %lld validation batches of %lld\n",
        static_cast<long long>(data.d.x_train.size(1)), static_cast<long long>(o.nh),
        static_cast<long long>(data.d.c), o.lr,
        static_cast<long long>(learn.data.train_dl.num_batches()), static_cast<long long>(o.bs),
        static_cast<long long>(learn.data.valid_dl.num_batches()),
        static_cast<long long>(o.bs * 2));
    auto [loss, acc] = fit(o.epochs, learn);
    std::printf("fit returned: valid loss %.4f, accuracy %.4f\n", loss, acc);
    return 0;
  });
}
