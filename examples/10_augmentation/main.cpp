// Course step 10, "augmentation" (fastai notebook 10_augmentation, on the CPU): show the model a
// slightly different image every epoch. tg::pad_crop_flip (learner/data/augment.h) pads each
// image by a few pixels and crops a random window of the original size back out (a random
// shift), optionally flipping it left-right; the DataLoader runs it on its prefetch thread, so
// the training step does not wait for it, with a generator keyed by (seed, epoch, batch), so a
// seed gives the same augmented batches every run. The program draws one image and three of its
// crops, then trains the course CNN with and without augmentation from the same init.
//
//   build/bin/10_augmentation [--limit N] [--data DIR] [--seed S] [--bs B] [--lr X]
//                             [--epochs E] [--pad P] [--flip]
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "examples/common/course.h"
#include "learner/callbacks/callbacks.h"
#include "learner/data/augment.h"
#include "learner/learner.h"

namespace {

// One 28x28 image as text: '#' for bright pixels, '+' for mid, '.' for dark.
std::vector<std::string> ascii(const tg::Tensor& img, int64_t side, double fill) {
  const std::vector<float> v = img.to_vector<float>();
  std::vector<std::string> rows;
  for (int64_t i = 0; i < side; ++i) {
    std::string r;
    for (int64_t j = 0; j < side; ++j) {
      const double p = v[static_cast<size_t>(i * side + j)] - fill;  // 0: a black pixel
      r += p > 2 ? '#' : p > 0.7 ? '+' : '.';
    }
    rows.push_back(r);
  }
  return rows;
}

double fit(const course::Data& data, const course::Options& o, int64_t side,
           const tg::BatchTransform& transform) {
  tg::Generator gen(o.seed);
  auto model = tg::nn::course_cnn(side, side, {8, 16, 32, 32}, data.d.c, gen);
  auto opt = std::make_shared<tg::optim::SGD>(model->parameters(),
                                              tg::optim::SGDOptions{.lr = o.lr, .momentum = 0.9});
  tg::DataBunch db = tg::make_databunch(data.d, o.bs, o.seed);
  if (transform) {
    tg::DataLoaderOptions opts = db.train_dl.options();
    opts.transform = transform;  // the training loader only: validation sees the images as they are
    opts.prefetch = true;
    db.train_dl = tg::DataLoader(db.train_dl.dataset(), opts);
  }
  tg::Learner learn(model, opt, tg::cross_entropy, std::move(db),
                    {.metrics = {tg::accuracy_metric()}});
  auto avg = std::make_shared<tg::AvgStats>();
  auto sched = std::make_shared<tg::ParamScheduler>("lr", tg::one_cycle_lr(o.lr));
  learn.fit(o.epochs, {avg, sched});
  return avg->history.back().at("valid_accuracy");
}

}  // namespace

int main(int argc, char** argv) {
  course::Options o;
  o.epochs = 3;
  o.lr = 0.2;
  int64_t pad = 2;
  bool flip = false;
  course::Flags flags("10_augmentation",
                      "random crops of padded images (and optional flips) as a DataLoader batch "
                      "transform on the prefetch thread: one image and three crops, then the "
                      "course CNN trained with and without them.");
  flags.data(o).training(o);
  flags.integer("--pad", pad, "pixels of padding around each image before the random crop", 0, 8);
  flags.toggle("--flip", flip, "also flip left-right with probability 1/2 (not for digits)");
  if (auto rc = flags.parse_or_exit(argc, argv)) return *rc;

  return course::run([&] {
    const course::Data data = course::load_data(o);
    const auto side = static_cast<int64_t>(std::lround(std::sqrt(data.d.x_train.size(1))));
    TG_CHECK(side * side == data.d.x_train.size(1), "10_augmentation",
             "the images must be square, got ", data.d.x_train.size(1), " pixels");
    const double fill = (0 - data.d.norm.mean) / data.d.norm.std;  // a black pixel, normalised
    const tg::AugmentOptions aug{
        .pad = pad, .flip = flip, .height = side, .width = side, .fill = fill};

    // The first training image, and three draws of the transform on it.
    const tg::Tensor first = data.d.x_train.narrow(0, 0, 1).contiguous();
    std::vector<std::vector<std::string>> pics{ascii(first, side, fill)};
    tg::Generator gen(o.seed);
    for (int k = 0; k < 3; ++k)
      pics.push_back(ascii(tg::pad_crop_flip(first, aug, gen), side, fill));
    std::printf("\nthe first training image and three random crops (pad %lld%s):\n",
                static_cast<long long>(pad), flip ? ", flip" : "");
    for (int64_t i = 0; i < side; ++i) {
      for (const auto& p : pics) std::printf("%s   ", p[static_cast<size_t>(i)].c_str());
      std::printf("\n");
    }

    // The same seed gives the same augmented batch, with or without the prefetch thread.
    tg::DataBunch a = tg::make_databunch(data.d, o.bs, o.seed), b = a;
    for (auto* db : {&a, &b}) {
      tg::DataLoaderOptions opts = db->train_dl.options();
      opts.transform = tg::pad_crop_flip(aug);
      opts.prefetch = db == &a;
      db->train_dl = tg::DataLoader(db->train_dl.dataset(), opts);
    }
    auto second_batch = [](tg::DataLoader& dl) {
      auto it = dl.begin();
      ++it;  // made on the prefetch thread while batch 0 was handed out
      return it->x.to_vector<float>();
    };
    const bool same = second_batch(a.train_dl) == second_batch(b.train_dl);
    std::printf("\nbatch 1 with and without the prefetch thread: %s\n",
                same ? "identical" : "DIFFERENT");

    std::printf("\n");
    const double plain = fit(data, o, side, {});
    const double augmented = fit(data, o, side, tg::pad_crop_flip(aug));
    std::printf("\nvalid_accuracy after %lld epoch(s): without augmentation %.4f, with %.4f\n",
                static_cast<long long>(o.epochs), plain, augmented);
    return same ? 0 : 1;
  });
}
