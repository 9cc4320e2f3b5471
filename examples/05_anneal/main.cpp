// Course step 05, "anneal" (fastai notebook 05_anneal): hyper-parameters that change during
// training. Schedules map the progress of the fit (0 at the start, 1 at the end) to a value:
// sched_no, sched_lin, sched_cos, sched_exp, pieces strung together by combine_scheds, and
// the one-cycle policy. A ParamScheduler callback sets the optimizer's lr (and momentum) from
// them before every training batch, a Recorder keeps the lr and the loss of every batch, and
// the curves are drawn as SVG.
//
//   build/bin/05_anneal [--limit N] [--data DIR] [--epochs E] [--plot out/05_anneal_lr.svg]
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "examples/common/course.h"
#include "learner/callbacks/callbacks.h"
#include "learner/io/checkpoint.h"
#include "learner/io/plot.h"
#include "learner/learner.h"
#include "learner/schedule.h"

namespace {

// A schedule sampled at n + 1 evenly spaced positions 0, 1/n, ..., 1.
tg::Series sample(const std::string& name, const tg::Schedule& f, int n = 100) {
  tg::Series s{name, {}, {}};
  for (int i = 0; i <= n; ++i) {
    const double pos = static_cast<double>(i) / n;
    s.x.push_back(pos);
    s.y.push_back(f(pos));
  }
  return s;
}

// The value every quarter of the way through a per-batch record.
void print_quarters(const char* what, const std::vector<double>& v) {
  std::printf("  %-9s", what);
  for (double q : {0.0, 0.25, 0.5, 0.75, 1.0}) {
    const size_t i = static_cast<size_t>(std::lround(q * static_cast<double>(v.size() - 1)));
    std::printf("  batch %4zu: %-9.4g", i, v[i]);
  }
  std::printf("\n");
}

tg::Series per_batch(const std::string& name, const std::vector<double>& v) {
  tg::Series s{name, {}, v};
  for (size_t i = 0; i < v.size(); ++i) s.x.push_back(static_cast<double>(i));
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  course::Options o;
  o.epochs = 3;
  o.lr = 0.3;
  o.plot = "out/05_anneal_lr.svg";
  double max_lr = 0.05;
  course::Flags flags("05_anneal",
                      "schedules (sched_no/lin/cos/exp, combine_scheds, one-cycle), a "
                      "ParamScheduler on lr and momentum, a Recorder, and an SVG of the lr and "
                      "loss curves.");
  flags.data(o).training(o);
  flags.real("--one-cycle-lr", max_lr, "peak lr of the one-cycle fit (with momentum)");
  flags.text("--plot", "PATH", o.plot, "where to write the SVG (default out/05_anneal_lr.svg)");
  if (auto rc = flags.parse_or_exit(argc, argv)) return *rc;

  return course::run([&] {
    // 1. The annealers, from 2 to 0.01 as in the notebook's plot. The notebook's sched_no takes
    //    (start, end) and ignores end; the library's takes the one value.
    std::printf("1. schedules from 2 to 0.01 (pos: 0 = start of the fit, 1 = end)\n");
    std::printf("  %-10s %9s %9s %9s %9s %9s\n", "", "0", "0.25", "0.5", "0.75", "1");
    const std::vector<std::pair<const char*, tg::Schedule>> annealers = {
        {"sched_no", tg::sched_no(2)},
        {"sched_lin", tg::sched_lin(2, 1e-2)},
        {"sched_cos", tg::sched_cos(2, 1e-2)},
        {"sched_exp", tg::sched_exp(2, 1e-2)}};
    for (const auto& [name, f] : annealers) {
      std::printf("  %-10s", name);
      for (double pos : {0.0, 0.25, 0.5, 0.75, 1.0}) std::printf(" %9.4f", f(pos));
      std::printf("\n");
    }

    // 2. combine_scheds: 30% of the fit warming up from lr/2 to lr, 70% cooling down to lr/10,
    //    both halves cosine, each seeing its own 0..1 (the notebook: 0.3 -> 0.6 -> 0.2, for
    //    pixels in [0, 1]; our inputs are normalised, so the peak is lower).
    const double lo = o.lr / 2, hi = o.lr, end = o.lr / 10;
    const tg::Schedule sched =
        tg::combine_scheds({0.3, 0.7}, {tg::sched_cos(lo, hi), tg::sched_cos(hi, end)});
    std::printf("\n2. combine_scheds({0.3, 0.7}, {sched_cos(%g, %g), sched_cos(%g, %g)})\n  ", lo,
                hi, hi, end);
    for (double pos : {0.0, 0.15, 0.3, 0.65, 1.0})
      std::printf("pos %.2f: %.4f   ", pos, sched(pos));
    std::printf("\n");

    // 3. Training with it: ParamScheduler sets lr from learn.pct_train before every training
    //    batch; Recorder appends the lr and loss after it.
    const course::Data data = course::load_data(o);
    auto [model, opt] = course::get_model(data.d, o.nh, o.lr, o.seed);
    tg::Learner learn(model, opt, tg::cross_entropy, tg::make_databunch(data.d, o.bs, o.seed),
                      {.metrics = {tg::accuracy_metric()}},
                      {std::make_shared<tg::AvgStats>(), std::make_shared<tg::Recorder>()});
    std::printf("\n3. fit(%lld) with ParamScheduler(\"lr\", that schedule)\n",
                static_cast<long long>(o.epochs));
    learn.fit(o.epochs, {std::make_shared<tg::ParamScheduler>("lr", sched)});
    const tg::Recorder rec = *learn.cb<tg::Recorder>();  // a copy: the next fit clears it
    std::printf("the lr and loss the Recorder saw:\n");
    print_quarters("lr", rec.lrs);
    print_quarters("loss", rec.losses);

    // 4. One cycle: lr up then down, momentum down then up (SGD with momentum now).
    std::tie(model, opt) = course::get_model(data.d, o.nh, max_lr, o.seed, /*momentum=*/0.95);
    tg::Learner learn1(model, opt, tg::cross_entropy, tg::make_databunch(data.d, o.bs, o.seed),
                       {.metrics = {tg::accuracy_metric()}},
                       {std::make_shared<tg::AvgStats>(), std::make_shared<tg::Recorder>()});
    auto lr_sched = std::make_shared<tg::ParamScheduler>("lr", tg::one_cycle_lr(max_lr));
    std::printf("\n4. fit(%lld) with one_cycle_lr(%g) and one_cycle_mom(0.95, 0.85)\n",
                static_cast<long long>(o.epochs), max_lr);
    // Two ParamSchedulers in one fit? A Learner holds one callback of each type, so the second
    // is refused (before any training)...
    try {
      learn1.fit(o.epochs, {lr_sched, std::make_shared<tg::ParamScheduler>(
                                          "momentum", tg::one_cycle_mom(0.95, 0.85))});
    } catch (const tg::Error& e) {
      std::printf("  refused: %s\n", e.what());
    }
    // ...but one ParamScheduler takes several schedules, one per hyper-parameter.
    auto both = std::make_shared<tg::ParamScheduler>(std::map<std::string, tg::Schedule>{
        {"lr", tg::one_cycle_lr(max_lr)}, {"momentum", tg::one_cycle_mom(0.95, 0.85)}});
    learn1.fit(o.epochs, {both});
    const tg::Recorder& rec1 = *learn1.cb<tg::Recorder>();
    print_quarters("lr", rec1.lrs);
    print_quarters("momentum", both->values_of.at("momentum"));
    print_quarters("loss", rec1.losses);

    // 5. The curves as SVG.
    std::vector<tg::Series> scheds;
    for (const auto& [name, f] : annealers) scheds.push_back(sample(name, f));
    const std::string svg = tg::svg_panels({
        {"schedules from 2 to 0.01", "position in the fit", "value", scheds},
        {"lr per training batch",
         "batch",
         "lr",
         {per_batch("combined cos", rec.lrs), per_batch("one cycle", rec1.lrs)}},
        {"loss per training batch",
         "batch",
         "loss",
         {per_batch("combined cos", rec.losses), per_batch("one cycle", rec1.losses)}},
    });
    course::make_parent_dir(o.plot);
    tg::write_file_atomic(o.plot, svg);
    std::printf("\nwrote %s (schedules, lr and loss per batch)\n", o.plot.c_str());
    return 0;
  });
}
