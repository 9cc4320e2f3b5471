// Course step 07, "batchnorm" (fastai notebook 07_batchnorm, on the CPU): the course's CNN
// (four conv + ReLU blocks, kaiming_normal init) trained for an epoch at a high learning rate
// five times, with no normalisation after each ReLU, with BatchNorm2d, LayerNorm (over
// channels, height and width), GroupNorm (4 groups) and instance norm (GroupNorm with one
// group per channel). A forward hook on the last block's output (ActivationStats) shows what
// each does to the activations the classifier sees; the validation accuracy shows which of
// them the high learning rate suits. Batchnorm is what lets the course raise it.
//
//   build/bin/07_batchnorm [--limit N] [--data DIR] [--seed S] [--bs B] [--lr X] [--only NAME]
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "examples/common/course.h"
#include "learner/callbacks/callbacks.h"
#include "learner/learner.h"
#include "nn/hooks.h"
#include "nn/init.h"
#include "nn/layers.h"

namespace {

enum class Norm { none, batch, layer, group, instance };

struct Variant {
  Norm norm;
  const char* key;  // for --only
  const char* title;
};

const Variant kVariants[] = {
    {Norm::none, "none", "no normalisation"},
    {Norm::batch, "batchnorm", "BatchNorm2d"},
    {Norm::layer, "layernorm", "LayerNorm over (C, H, W)"},
    {Norm::group, "groupnorm", "GroupNorm, 4 groups"},
    {Norm::instance, "instancenorm", "instance norm (GroupNorm, C groups)"},
};

// The notebook's get_cnn_model with conv_layer(..., bn=True) generalised to any norm: per
// block Conv2d (kernel 5 then 3, stride 2, padding k/2; a bias only without a norm, which
// would cancel it) -> ReLU -> the norm; then AdaptiveAvgPool2d(1), Flatten, Linear. Convs get
// kaiming_normal, as the course's init_cnn. Returns the model and each block's last module.
std::shared_ptr<tg::nn::Sequential> cnn(int64_t side, int64_t classes, Norm norm,
                                        tg::Generator& gen,
                                        std::vector<std::shared_ptr<tg::nn::Module>>& blocks) {
  auto model = std::make_shared<tg::nn::Sequential>();
  model->push_back(std::make_shared<tg::nn::Lambda>(
      [side](const tg::Tensor& x) {
        return tg::reshape(x, {-1, 1, side, side});
      },
      "view"));
  int64_t in = 1, size = side;
  for (int64_t out : {8, 16, 32, 32}) {
    const int64_t k = in == 1 ? 5 : 3;
    auto conv =
        std::make_shared<tg::nn::Conv2d>(in, out, k, 2, k / 2, 1, 1, norm == Norm::none, gen);
    tg::nn::init::kaiming_normal_(conv->weight, gen);
    if (conv->bias.defined()) tg::nn::init::zeros_(conv->bias);
    model->push_back(conv);
    size = (size + 2 * (k / 2) - k) / 2 + 1;  // the conv's output side
    std::shared_ptr<tg::nn::Module> last = std::make_shared<tg::nn::ReLU>();
    model->push_back(last);
    switch (norm) {
      case Norm::none:
        break;
      case Norm::batch:
        last = std::make_shared<tg::nn::BatchNorm2d>(out);
        break;
      case Norm::layer:
        last = std::make_shared<tg::nn::LayerNorm>(tg::Shape{out, size, size});
        break;
      case Norm::group:
        last = std::make_shared<tg::nn::GroupNorm>(4, out);
        break;
      case Norm::instance:
        last = std::make_shared<tg::nn::GroupNorm>(out, out);
        break;
    }
    if (norm != Norm::none) model->push_back(last);
    blocks.push_back(last);
    in = out;
  }
  model->push_back(std::make_shared<tg::nn::AdaptiveAvgPool2d>(1));
  model->push_back(std::make_shared<tg::nn::Flatten>());
  model->push_back(std::make_shared<tg::nn::Linear>(in, classes, true, gen));
  return model;
}

struct Result {
  double valid_accuracy = 0, valid_loss = 0;
  double first_mean = 0, first_std = 0, last_mean = 0, last_std = 0;  // last block's output
};

Result train(const course::Data& data, const course::Options& o, Norm norm) {
  tg::Generator gen(o.seed);
  std::vector<std::shared_ptr<tg::nn::Module>> blocks;
  const auto side = static_cast<int64_t>(std::lround(std::sqrt(data.d.x_train.size(1))));
  auto model = cnn(side, data.d.c, norm, gen, blocks);
  auto opt =
      std::make_shared<tg::optim::SGD>(model->parameters(), tg::optim::SGDOptions{.lr = o.lr});
  tg::nn::ActivationStats stats({blocks.back()}, 0.5, {.bins = 0});
  auto bunch = tg::make_databunch(data.d, o.bs, o.seed);
  const auto train_batches = static_cast<size_t>(bunch.train_dl.num_batches());
  tg::Learner learn(model, opt, tg::cross_entropy, std::move(bunch),
                    {.metrics = {tg::accuracy_metric()}});
  auto avg = std::make_shared<tg::AvgStats>();
  learn.fit(o.epochs, {avg});
  stats.remove();
  // The training batches of the last epoch end at this index (validation batches follow).
  const auto& means = stats.means()[0];
  const auto& stds = stats.stds()[0];
  const size_t per_epoch = means.size() / static_cast<size_t>(o.epochs);
  const size_t last = means.size() - per_epoch + train_batches - 1;
  Result r;
  r.valid_accuracy = avg->history.back().at("valid_accuracy");
  r.valid_loss = avg->history.back().at("valid_loss");
  r.first_mean = means[0] + 0.0, r.first_std = stds[0];  // + 0.0: no "-0.0000"
  r.last_mean = means[last] + 0.0, r.last_std = stds[last];
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  course::Options o;
  o.lr = 1.0;  // high: the notebook raises the lr to 1 and beyond once batchnorm is in
  std::string only;
  course::Flags flags("07_batchnorm",
                      "the course's CNN trained at a high learning rate without normalisation "
                      "and with BatchNorm, LayerNorm, GroupNorm and instance norm: validation "
                      "accuracy and the last block's activation statistics per variant.");
  flags.data(o).training(o);
  flags.text("--only", "NAME", only,
             "run one variant: none, batchnorm, layernorm, groupnorm or instancenorm", "all");
  if (auto rc = flags.parse_or_exit(argc, argv)) return *rc;

  return course::run([&] {
    bool known = only.empty();
    for (const Variant& v : kVariants) known = known || only == v.key;
    TG_CHECK(known, "07_batchnorm", "--only: unknown variant '", only,
             "' (none, batchnorm, layernorm, groupnorm, instancenorm)");
    const course::Data data = course::load_data(o);
    std::vector<std::pair<const Variant*, Result>> results;
    for (const Variant& v : kVariants) {
      if (!only.empty() && only != v.key) continue;
      std::printf("\n%s, lr %g:\n", v.title, o.lr);
      results.emplace_back(&v, train(data, o, v.norm));
    }
    std::printf("\n%-38s %10s %10s   %-24s %-24s\n", "last block's output:", "valid_acc",
                "valid_loss", "first batch mean / std", "last train batch");
    for (const auto& [v, r] : results)
      std::printf("%-38s %10.4f %10.4f   %9.4f / %-12.4f %9.4f / %-12.4f\n", v->title,
                  r.valid_accuracy, r.valid_loss, r.first_mean, r.first_std, r.last_mean,
                  r.last_std);
    return 0;
  });
}
