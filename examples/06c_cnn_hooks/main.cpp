// Course step 06c, "CNN and hooks" (fastai notebook 06_cuda_cnn_hooks_init, on the CPU): the
// course's convolutional net without batchnorm, trained for an epoch twice with its activations
// watched by forward hooks (tg::nn::ActivationStats). With PyTorch's default init
// (kaiming_uniform with a = sqrt(5)) the activations shrink layer after layer and many units
// start near zero; with kaiming_normal (fan_in, the ReLU gain) every layer starts near unit std,
// and the first batches train better. The per-layer means and stds are printed and, with
// --plot, drawn as SVG (the notebook's plots of means and stds against the batch). The hooks
// also keep a histogram of |x| per layer and batch (40 bins over [0, 10], the course's
// telemetry); --out DIR gets, per init, its "colorful dimension" heat maps (x = batch, y = bin,
// colour = log(1 + count)) and the fraction of near-zero activations against the batch.
//
//   build/bin/06c_cnn_hooks [--limit N] [--data DIR] [--bs B] [--lr X] [--plot PATH.svg]
//                           [--out DIR]
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "base/file.h"
#include "base/format.h"
#include "examples/common/course.h"
#include "learner/callbacks/callbacks.h"
#include "learner/io/plot.h"
#include "learner/learner.h"
#include "nn/hooks.h"
#include "nn/init.h"
#include "nn/layers.h"

namespace {

// The notebook's get_cnn_model: (N, 784) viewed as (N, 1, 28, 28), four conv + ReLU layers
// (8, 16, 32, 32 channels; kernel 5 then 3; stride 2; padding k/2), average pool, Linear.
// Returns the model and its ReLU layers, the outputs the hooks watch.
std::shared_ptr<tg::nn::Sequential> cnn(int64_t side, int64_t classes, bool kaiming,
                                        tg::Generator& gen,
                                        std::vector<std::shared_ptr<tg::nn::Module>>& relus) {
  auto model = std::make_shared<tg::nn::Sequential>();
  model->push_back(std::make_shared<tg::nn::Lambda>(
      [side](const tg::Tensor& x) {
        return tg::reshape(x, {-1, 1, side, side});
      },
      "view"));
  int64_t in = 1;
  for (int64_t out : {8, 16, 32, 32}) {
    const int64_t k = in == 1 ? 5 : 3;
    auto conv = std::make_shared<tg::nn::Conv2d>(in, out, k, 2, k / 2, 1, 1, true, gen);
    if (kaiming) {  // the fix: unit variance through each conv + ReLU
      tg::nn::init::kaiming_normal_(conv->weight, gen);
      tg::nn::init::zeros_(conv->bias);
    }
    model->push_back(conv);
    auto relu = std::make_shared<tg::nn::ReLU>();
    model->push_back(relu);
    relus.push_back(relu);
    in = out;
  }
  model->push_back(std::make_shared<tg::nn::AdaptiveAvgPool2d>(1));
  model->push_back(std::make_shared<tg::nn::Flatten>());
  model->push_back(std::make_shared<tg::nn::Linear>(in, classes, true, gen));
  return model;
}

struct Run {
  std::vector<std::vector<double>> means, stds, near_zero;
  std::vector<std::vector<std::vector<int64_t>>> hists;  // [layer][batch][bin] of |x|
  double valid_accuracy = 0;
};

Run train(const course::Data& data, const course::Options& o, bool kaiming) {
  tg::Generator gen(o.seed);
  std::vector<std::shared_ptr<tg::nn::Module>> relus;
  const auto side = static_cast<int64_t>(std::lround(std::sqrt(data.d.x_train.size(1))));
  auto model = cnn(side, data.d.c, kaiming, gen, relus);
  auto opt =
      std::make_shared<tg::optim::SGD>(model->parameters(), tg::optim::SGDOptions{.lr = o.lr});
  tg::nn::ActivationStats stats(relus);
  tg::Learner learn(model, opt, tg::cross_entropy, tg::make_databunch(data.d, o.bs, o.seed),
                    {.metrics = {tg::accuracy_metric()}});
  auto avg = std::make_shared<tg::AvgStats>();
  learn.fit(1, {avg});
  stats.remove();
  Run r{stats.means(), stats.stds(), stats.near_zero(), stats.histograms(),
        avg->history.back().at("valid_accuracy")};
  return r;
}

void report(const char* title, const Run& r, int64_t train_batches) {
  std::printf("\n%s: valid_accuracy %.4f after one epoch\n", title, r.valid_accuracy);
  std::printf("  %-8s %22s %22s %12s\n", "", "first batch mean / std", "last train batch",
              "near zero");
  for (size_t i = 0; i < r.means.size(); ++i) {
    const size_t last = static_cast<size_t>(train_batches - 1);  // validation batches follow
    std::printf("  layer %zu  %10.4f / %-9.4f  %10.4f / %-9.4f  %5.1f%% -> %4.1f%%\n", i + 1,
                r.means[i][0], r.stds[i][0], r.means[i][last], r.stds[i][last],
                100 * r.near_zero[i][0], 100 * r.near_zero[i][last]);
  }
  // From the histograms: how far out |x| reaches (the top of the highest non-empty bin of 40
  // over [0, 10]; "10+" when the last is used) and the share in the lowest bin, |x| < 0.25.
  auto reach = [](const std::vector<int64_t>& h) {
    size_t top = 0;
    for (size_t b = 0; b < h.size(); ++b)
      if (h[b] > 0) top = b + 1;
    return top == h.size() ? std::string("10+") : tg::fixed(0.25 * static_cast<double>(top), 2);
  };
  auto lowest = [](const std::vector<int64_t>& h) {
    int64_t n = 0;
    for (int64_t c : h) n += c;
    return n ? 100.0 * static_cast<double>(h[0]) / static_cast<double>(n) : 0.0;
  };
  std::printf("  histogram of |x|: reach and share below 0.25, first -> last train batch\n");
  for (size_t i = 0; i < r.hists.size(); ++i) {
    const size_t last = static_cast<size_t>(train_batches - 1);
    std::printf("  layer %zu   |x| up to %5s -> %5s    %5.1f%% -> %4.1f%%\n", i + 1,
                reach(r.hists[i][0]).c_str(), reach(r.hists[i][last]).c_str(),
                lowest(r.hists[i][0]), lowest(r.hists[i][last]));
  }
}

// Per layer, one series of the std against the training batch.
std::vector<tg::Series> std_series(const Run& r, int64_t train_batches) {
  std::vector<tg::Series> out;
  for (size_t i = 0; i < r.stds.size(); ++i) {
    tg::Series s{"layer " + std::to_string(i + 1), {}, {}};
    for (int64_t b = 0; b < train_batches; ++b) {
      s.x.push_back(static_cast<double>(b + 1));
      s.y.push_back(r.stds[i][static_cast<size_t>(b)]);
    }
    out.push_back(std::move(s));
  }
  return out;
}

// The course's get_hist as heat maps, one panel per layer: column b is training batch b + 1,
// row j the histogram bin [0.25 j, 0.25 (j + 1)) of |x|, colour log(1 + count).
std::string hist_svg(const Run& r, int64_t train_batches, const std::string& init) {
  std::vector<tg::HeatMap> maps;
  for (size_t i = 0; i < r.hists.size(); ++i) {
    tg::HeatMap m{init + ": layer " + std::to_string(i + 1) + ", histogram of |x|",
                  "batch",
                  "|x|",
                  {},
                  0.5,
                  static_cast<double>(train_batches) + 0.5,
                  0,
                  10,
                  true};
    for (int64_t b = 0; b < train_batches; ++b) {
      std::vector<double> col;
      for (int64_t c : r.hists[i][static_cast<size_t>(b)]) col.push_back(std::log1p(c));
      m.columns.push_back(std::move(col));
    }
    m.note = "log(1 + count)";
    maps.push_back(std::move(m));
  }
  return tg::svg_heatmaps(maps);
}

// Per layer, the fraction of activations with |x| < 0.5 against the training batch (the
// course's get_min).
tg::Chart near_zero_chart(const Run& r, int64_t train_batches, const std::string& init) {
  tg::Chart c{init + ": fraction of |x| < 0.5", "batch", "fraction", {}};
  for (size_t i = 0; i < r.near_zero.size(); ++i) {
    tg::Series s{"layer " + std::to_string(i + 1), {}, {}};
    for (int64_t b = 0; b < train_batches; ++b) {
      s.x.push_back(static_cast<double>(b + 1));
      s.y.push_back(r.near_zero[i][static_cast<size_t>(b)]);
    }
    c.series.push_back(std::move(s));
  }
  c.integer_x = true;
  return c;
}

void write(const std::string& path, const std::string& svg) {
  course::make_parent_dir(path);
  tg::write_file_atomic(path, svg);
  std::printf("wrote %s\n", path.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  course::Options o;
  o.lr = 0.4;  // the notebook's, with SGD without momentum
  course::Flags flags("06c_cnn_hooks",
                      "the course's CNN trained for an epoch with default and with kaiming init, "
                      "its ReLU outputs watched by forward hooks (ActivationStats): per-layer "
                      "means, stds and the fraction of near-zero activations.");
  flags.data(o);
  flags.integer("--bs", o.bs, "batch size").real("--lr", o.lr, "learning rate");
  flags.text("--plot", "PATH", o.plot, "write the per-layer stds of both runs as SVG");
  std::string out = "out/06c_cnn_hooks";
  flags.text("--out", "DIR", out,
             "folder for the telemetry SVGs: per init the histograms of |x| per layer and batch "
             "(hist_default.svg, hist_kaiming.svg) and near_zero.svg");
  if (auto rc = flags.parse_or_exit(argc, argv)) return *rc;

  return course::run([&] {
    const course::Data data = course::load_data(o);
    const Run plain = train(data, o, /*kaiming=*/false);
    const Run fixed = train(data, o, /*kaiming=*/true);
    const int64_t batches = tg::make_databunch(data.d, o.bs, o.seed).train_dl.num_batches();
    report("PyTorch's default init (kaiming_uniform, a = sqrt(5))", plain, batches);
    report("kaiming_normal init (fan_in, ReLU gain)", fixed, batches);
    std::printf(
        "\nthe first batch's std in the last layer: %.4f with the default init, %.4f with "
        "kaiming\n",
        plain.stds.back()[0], fixed.stds.back()[0]);
    if (!o.plot.empty()) {
      course::make_parent_dir(o.plot);
      tg::Chart a{"default init: std of each ReLU output", "batch", "std",
                  std_series(plain, batches)};
      tg::Chart b{"kaiming init: std of each ReLU output", "batch", "std",
                  std_series(fixed, batches)};
      a.integer_x = b.integer_x = true;
      tg::write_file_atomic(o.plot, tg::svg_panels({a, b}));
      std::printf("wrote %s\n", o.plot.c_str());
    }
    if (!out.empty()) {
      const std::string dir = out + "/";
      write(dir + "hist_default.svg", hist_svg(plain, batches, "default init"));
      write(dir + "hist_kaiming.svg", hist_svg(fixed, batches, "kaiming init"));
      write(dir + "near_zero.svg",
            tg::svg_panels({near_zero_chart(plain, batches, "default init"),
                            near_zero_chart(fixed, batches, "kaiming init")}));
    }
    return 0;
  });
}
