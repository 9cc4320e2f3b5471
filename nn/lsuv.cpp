// LSUV: per layer, a forward hook that keeps the watched output's mean and std, and a loop of
// forward, check, rescale.
#include "nn/lsuv.h"

#include <cmath>
#include <functional>

#include "autograd/functions.h"
#include "base/error.h"
#include "nn/layers.h"
#include "tensor/grad_mode.h"

namespace tg::nn {

namespace {

void collect(const Module& m, const std::string& prefix, std::vector<LsuvLayer>& out) {
  for (const auto& [name, child] : m.named_children()) {
    const std::string path = prefix.empty() ? name : prefix + "." + name;
    if (auto* conv = dynamic_cast<Conv2d*>(child.get()))
      out.push_back({path, child, conv->weight, conv->bias});
    else if (auto* lin = dynamic_cast<Linear*>(child.get()))
      out.push_back({path, child, lin->weight, lin->bias});
    collect(*child, path, out);
  }
}

struct Moments {
  double mean = 0, std = 0;
};

// Mean and unbiased std in double, two passes (as ActivationStats).
Moments moments(const Tensor& t) {
  const std::vector<double> v = t.to_vector<double>();
  TG_CHECK(v.size() > 1, "lsuv_init", "the watched output has ", v.size(),
           " elements; a std needs at least 2");
  double sum = 0;
  for (double x : v) sum += x;
  const double mean = sum / static_cast<double>(v.size());
  double sq = 0;
  for (double x : v) sq += (x - mean) * (x - mean);
  return {mean, std::sqrt(sq / static_cast<double>(v.size() - 1))};
}

}  // namespace

std::vector<LsuvLayer> lsuv_layers(const Module& model) {
  std::vector<LsuvLayer> out;
  collect(model, "", out);
  return out;
}

std::vector<LsuvResult> lsuv_init(Module& model, const Tensor& xb,
                                  const std::vector<LsuvLayer>& layers, LsuvOptions options) {
  TG_CHECK(options.tol > 0 && std::isfinite(options.tol) && options.max_iters >= 0, "lsuv_init",
           "needs tol > 0 and max_iters >= 0, got tol ", options.tol, ", max_iters ",
           options.max_iters);
  NoGrad no_grad;
  std::vector<LsuvResult> results;
  for (const LsuvLayer& layer : layers) {
    TG_CHECK(layer.watch != nullptr && layer.weight.defined(), "lsuv_init", "layer '", layer.name,
             "' needs a module to watch and a weight");
    Moments seen;
    bool fired = false;
    HookHandle h = layer.watch->register_forward_hook([&](Module&, const Tensor&, const Tensor& y) {
      seen = moments(y);
      fired = true;
    });
    auto measure = [&] {
      fired = false;
      model(xb);
      TG_CHECK(fired, "lsuv_init", "layer '", layer.name,
               "' did not run in the model's forward (is it a part of this model?)");
      return seen;
    };
    LsuvResult r{layer.name};
    Moments m = measure();
    r.mean_before = m.mean, r.std_before = m.std;
    const bool has_bias = layer.bias.defined();
    auto within = [&](const Moments& x) {
      return std::abs(x.std - 1) <= options.tol && (!has_bias || std::abs(x.mean) <= options.tol);
    };
    while (!within(m) && r.iterations < options.max_iters) {
      TG_CHECK(std::isfinite(m.std) && m.std > 0, "lsuv_init", "layer '", layer.name,
               "': the output's std is ", m.std, ", nothing to rescale");
      Tensor w = layer.weight;
      w.copy_(w / m.std);
      if (has_bias) {
        Tensor b = layer.bias;
        b.copy_((b - m.mean) / m.std);
      }
      ++r.iterations;
      m = measure();
    }
    r.mean_after = m.mean, r.std_after = m.std;
    r.converged = within(m);
    results.push_back(r);
  }
  return results;
}

std::vector<LsuvResult> lsuv_init(Module& model, const Tensor& xb, LsuvOptions options) {
  return lsuv_init(model, xb, lsuv_layers(model), options);
}

}  // namespace tg::nn
