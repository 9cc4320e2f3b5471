// tapegrad beside libtorch (Debian's libtorch-dev: oneDNN for convolutions, the system BLAS for
// matmuls) in one run, on the same cores and the same data. Built only where CMake finds
// libtorch (bench/CMakeLists.txt); `make bench` installs it.
//
//   build/bin/bench_libtorch [--benchmark_filter=REGEX] [google-benchmark flags]
//
// Rows, each name ending in the side that ran it (/tapegrad, or /libtorch:T with T intra-op
// threads):
//   conv.<pass>/<shape>   one conv2d forward (fwd), input gradient (bwd_input) or weight gradient
//                         (bwd_weight), through each library's tensor-level call (tg::ops::conv2d*,
//                         at::conv2d and at::convolution_backward): allocation included on both
//                         sides. GFLOP/s counts 2 * N*O*OH*OW * C/g*KH*KW per call. Shapes: the
//                         course CNN's four convs at batch 64 and 256 (28x28 -> 14 -> 7 -> 4 -> 2,
//                         channels 1-8-16-32-32, no bias) and a ResNet-like 64x64x56x56 3x3.
//   epoch.<model>         one training epoch over the 60,000 training images with SGD (momentum
//                         0.9), the plain loop on both sides (shuffle, gather a batch, forward,
//                         cross-entropy, backward, step, drop the gradients as the Learner does:
//                         zero_grad(set_to_none), on libtorch a reset of each .grad): cnn (the
//                         course CNN, batch 64), mlp (784-50-10, batch 64), wide (784-512-512-10,
//                         batch 256). Time is one epoch's wall time; counter last_loss shows both
//                         sides train.
//   optim.<optimizer>     one optimizer step (SGD_momentum, Adam, AdamW, RMSprop) over the wide
//                         MLP's 669,706 parameters with fixed gradients, each library's own
//                         optimizer (tapegrad's fused kernel, torch::optim); counter params
//                         (updated per second).
// Data: data/mnist when it exists (run from the repository root), else Fashion-MNIST from
// /usr/share/datasets/fashion-mnist, else random images of the same shape (the speed is the same).
//
// Threads. tapegrad uses OpenMP's default team (OMP_NUM_THREADS; scripts/run-bench.sh sets 2).
// libtorch rows run with T = 1 and T = 2 intra-op threads (at::set_num_threads) and one inter-op
// thread, so its best split is in the table; its BLAS (OpenBLAS or BLIS, through libblas.so.3)
// takes OPENBLAS_NUM_THREADS / BLIS_NUM_THREADS from the environment. Both libraries share the
// process's libgomp, so every row sets the OpenMP team size it needs before it runs.
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>
#include <omp.h>
#include <torch/torch.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "autograd/autograd.h"
#include "bench/bench_data.h"
#include "bench/core_latency.h"
#include "kernels/gemm.h"
#include "learner/data/data.h"
#include "learner/data/datasets.h"
#include "nn/layers.h"
#include "optim/optimizer.h"
#include "tensor/creation.h"
#include "tensor/ops.h"

namespace {

int g_tg_threads = 1;  // OpenMP's default team size at start, tapegrad's rows' team

void use_tapegrad_threads() {
  omp_set_num_threads(g_tg_threads);
}
void use_torch_threads(int t) {
  at::set_num_threads(t);
}

// ---- data ---------------------------------------------------------------------------------

const tg::ImageData& images() {
  static tg::ImageData d = [] {
    for (const char* dir : {"data/mnist", "/usr/share/datasets/fashion-mnist"})
      if (std::filesystem::is_directory(dir)) {
        benchmark::AddCustomContext("data", dir);
        return tg::load_image_folder(dir);
      }
    benchmark::AddCustomContext("data", "random (no data/mnist, no Fashion-MNIST)");
    return tg::bench::random_mnist_like();
  }();
  return d;
}

// The training split as libtorch tensors (copies): float (n, 784), int64 labels.
struct TorchData {
  at::Tensor x, y;
};
const TorchData& torch_images() {
  static TorchData d = [] {
    const tg::ImageData& im = images();
    const tg::Tensor x = im.x_train.contiguous(), y = im.y_train.contiguous();
    TorchData r;
    r.x = at::from_blob(const_cast<float*>(x.data<float>()), {x.size(0), x.size(1)}, at::kFloat)
              .clone();
    r.y =
        at::from_blob(const_cast<int32_t*>(y.data<int32_t>()), {y.size(0)}, at::kInt).to(at::kLong);
    return r;
  }();
  return d;
}

// ---- conv2d -------------------------------------------------------------------------------

struct ConvShape {
  std::string name;
  int64_t n, c, hw, o, k, stride, pad;
  int64_t out() const { return (hw + 2 * pad - k) / stride + 1; }
  double gflop() const { return 2e-9 * double(n * o * out() * out() * c * k * k); }
};

std::vector<ConvShape> conv_shapes() {
  std::vector<ConvShape> v;
  for (int64_t n : {64, 256}) {
    std::string b("b");  // "b64."
    b += std::to_string(n);
    b += '.';
    v.push_back({b + "1x28x28.k5s2.to8", n, 1, 28, 8, 5, 2, 2});
    v.push_back({b + "8x14x14.k3s2.to16", n, 8, 14, 16, 3, 2, 1});
    v.push_back({b + "16x7x7.k3s2.to32", n, 16, 7, 32, 3, 2, 1});
    v.push_back({b + "32x4x4.k3s2.to32", n, 32, 4, 32, 3, 2, 1});
  }
  v.push_back({"b64.64x56x56.k3s1.to64", 64, 64, 56, 64, 3, 1, 1});
  return v;
}

const char* kPasses[] = {"fwd", "bwd_input", "bwd_weight"};

void conv_tapegrad(benchmark::State& state, const ConvShape& s, int pass) {
  use_tapegrad_threads();
  tg::Generator gen(1);
  const tg::Tensor x = tg::randn({s.n, s.c, s.hw, s.hw}, gen);
  const tg::Tensor w = tg::randn({s.o, s.c, s.k, s.k}, gen);
  const tg::Tensor gy = tg::randn({s.n, s.o, s.out(), s.out()}, gen);
  const tg::Conv2dOptions opt{.stride = s.stride, .padding = s.pad};
  for (auto _ : state) {
    tg::Tensor r;
    if (pass == 0) r = tg::ops::conv2d(x, w, tg::Tensor(), opt);
    if (pass == 1) r = tg::ops::conv2d_backward_input(gy, w, x.shape(), opt);
    if (pass == 2) r = tg::ops::conv2d_backward_weight(x, gy, w.shape(), opt);
    benchmark::DoNotOptimize(r.data<float>());
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(s.gflop(), benchmark::Counter::kIsIterationInvariantRate);
}

void conv_torch(benchmark::State& state, const ConvShape& s, int pass, int threads) {
  use_torch_threads(threads);
  at::manual_seed(1);
  const at::Tensor x = at::randn({s.n, s.c, s.hw, s.hw});
  const at::Tensor w = at::randn({s.o, s.c, s.k, s.k});
  const at::Tensor gy = at::randn({s.n, s.o, s.out(), s.out()});
  const std::vector<int64_t> stride{s.stride, s.stride}, pad{s.pad, s.pad}, dil{1, 1};
  at::NoGradGuard no_grad;
  for (auto _ : state) {
    at::Tensor r;
    if (pass == 0) {
      r = at::conv2d(x, w, {}, stride, pad, dil, 1);
    } else {
      auto grads = at::convolution_backward(gy, x, w, c10::nullopt, stride, pad, dil, false, {0, 0},
                                            1, {pass == 1, pass == 2, false});
      r = pass == 1 ? std::get<0>(grads) : std::get<1>(grads);
    }
    benchmark::DoNotOptimize(r.data_ptr<float>());
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(s.gflop(), benchmark::Counter::kIsIterationInvariantRate);
}

// ---- one training epoch -------------------------------------------------------------------

struct Model {
  const char* name;
  int64_t bs;
};
const Model kModels[] = {{"cnn", 64}, {"mlp", 64}, {"wide", 256}};

std::shared_ptr<tg::nn::Module> tapegrad_model(const std::string& name, tg::Generator& gen) {
  if (name == "cnn") return tg::nn::course_cnn(28, 28, {8, 16, 32, 32}, 10, gen);
  return tg::nn::mlp(
      name == "mlp" ? std::vector<int64_t>{784, 50, 10} : std::vector<int64_t>{784, 512, 512, 10},
      gen);
}

void epoch_tapegrad(benchmark::State& state, const Model& m) {
  use_tapegrad_threads();
  tg::Generator gen(0);
  auto model = tapegrad_model(m.name, gen);
  model->train();
  tg::optim::SGD opt(model->parameters(), {.lr = 0.05, .momentum = 0.9});
  tg::DataBunch db = tg::make_databunch(images(), m.bs, 1);
  double last = 0;
  const int64_t helped = tg::kernels::cpu::GemmHelper::stripes_helped();
  for (auto _ : state) {
    for (const tg::Batch& b : db.train_dl) {
      tg::Tensor loss = tg::cross_entropy((*model)(b.x), b.y);
      tg::backward(loss);
      opt.step();
      opt.zero_grad(/*set_to_none=*/true);
      last = loss.item<double>();
    }
  }
  state.counters["last_loss"] = last;
  state.counters["steps"] = double(db.train_dl.num_batches());
  // GEMM stripes the prefetch worker computed (kernels/gemm.h: GemmHelper), per step.
  state.counters["helped"] = double(tg::kernels::cpu::GemmHelper::stripes_helped() - helped) /
                             double(state.iterations() * db.train_dl.num_batches());
}

torch::nn::Sequential torch_model(const std::string& name) {
  namespace tn = torch::nn;
  tn::Sequential s;
  if (name == "cnn") {
    s->push_back(tn::Unflatten(tn::UnflattenOptions(1, {1, 28, 28})));
    int64_t in = 1;
    int64_t k = 5;
    for (int64_t out : {8, 16, 32, 32}) {
      s->push_back(tn::Conv2d(tn::Conv2dOptions(in, out, k).stride(2).padding(k / 2).bias(false)));
      s->push_back(tn::ReLU());
      s->push_back(tn::BatchNorm2d(out));
      in = out, k = 3;
    }
    s->push_back(tn::AdaptiveAvgPool2d(tn::AdaptiveAvgPool2dOptions(1)));
    s->push_back(tn::Flatten());
    s->push_back(tn::Linear(32, 10));
    return s;
  }
  const std::vector<int64_t> sizes =
      name == "mlp" ? std::vector<int64_t>{784, 50, 10} : std::vector<int64_t>{784, 512, 512, 10};
  for (size_t i = 0; i + 1 < sizes.size(); ++i) {
    s->push_back(tn::Linear(sizes[i], sizes[i + 1]));
    if (i + 2 < sizes.size()) s->push_back(tn::ReLU());
  }
  return s;
}

// Gradients dropped between steps, as tapegrad's Learner does (zero_grad(set_to_none=true)):
// libtorch 1.13's C++ zero_grad() has no set_to_none and would zero them in place.
void drop_grads(torch::optim::Optimizer& opt) {
  for (auto& group : opt.param_groups())
    for (at::Tensor& p : group.params()) p.mutable_grad().reset();
}

void epoch_torch(benchmark::State& state, const Model& m, int threads) {
  use_torch_threads(threads);
  torch::manual_seed(0);
  const TorchData& d = torch_images();
  auto model = torch_model(m.name);
  model->train();
  torch::optim::SGD opt(model->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
  const int64_t n = d.x.size(0);
  double last = 0;
  for (auto _ : state) {
    const at::Tensor perm = at::randperm(n);
    for (int64_t i = 0; i < n; i += m.bs) {
      const at::Tensor idx = perm.slice(0, i, std::min(n, i + m.bs));
      const at::Tensor loss = torch::nn::functional::cross_entropy(
          model->forward(d.x.index_select(0, idx)), d.y.index_select(0, idx));
      drop_grads(opt);
      loss.backward();
      opt.step();
      last = loss.item<double>();
    }
  }
  state.counters["last_loss"] = last;
  state.counters["steps"] = double((n + m.bs - 1) / m.bs);
}

// ---- optimizer steps ----------------------------------------------------------------------

// One optimizer step over the wide MLP's parameters with fixed gradients, each library's own
// optimizer with the same hyper-parameters (tapegrad: the fused kernel, bench/bench_data.h's
// make_optimizer; torch 1.13's C++ optimizers: a loop of ATen ops per parameter, below with
// the same values). LAMB has no torch counterpart.
const char* const kOptims[] = {"SGD_momentum", "Adam", "AdamW", "RMSprop"};

std::unique_ptr<torch::optim::Optimizer> torch_optim(const std::string& name,
                                                     const std::vector<at::Tensor>& ps) {
  namespace op = torch::optim;
  if (name == "SGD_momentum")
    return std::make_unique<op::SGD>(ps, op::SGDOptions(1e-4).momentum(0.9));
  if (name == "Adam") return std::make_unique<op::Adam>(ps, op::AdamOptions(1e-5));
  if (name == "AdamW") return std::make_unique<op::AdamW>(ps, op::AdamWOptions(1e-5));
  return std::make_unique<op::RMSprop>(ps, op::RMSpropOptions(1e-5));
}

void optim_counters(benchmark::State& state, int64_t n) {
  state.counters["params"] =
      benchmark::Counter(double(state.iterations()) * double(n), benchmark::Counter::kIsRate);
}

void optim_tapegrad(benchmark::State& state, const std::string& name) {
  use_tapegrad_threads();
  std::vector<tg::Tensor> ps = tg::bench::wide_mlp_params();
  const int64_t n = tg::bench::total_numel(ps);
  auto opt = tg::bench::make_optimizer(name, ps);
  opt->step();  // creates the state
  for (auto _ : state) opt->step();
  optim_counters(state, n);
}

void optim_torch(benchmark::State& state, const std::string& name, int threads) {
  use_torch_threads(threads);
  std::vector<at::Tensor> ps;
  int64_t n = 0;
  for (const tg::Tensor& p : tg::bench::wide_mlp_params()) {
    const tg::Tensor v = p.detach().contiguous(), g = p.grad().contiguous();
    const std::vector<int64_t> sizes(v.shape().begin(), v.shape().end());
    at::Tensor t = at::from_blob(const_cast<float*>(v.data<float>()), sizes, at::kFloat).clone();
    t.set_requires_grad(true);
    t.mutable_grad() =
        at::from_blob(const_cast<float*>(g.data<float>()), sizes, at::kFloat).clone();
    n += t.numel();
    ps.push_back(t);
  }
  auto opt = torch_optim(name, ps);
  opt->step();
  for (auto _ : state) opt->step();
  optim_counters(state, n);
}

void register_all() {
  const int torch_threads[] = {1, 2};
  for (const char* o : kOptims) {
    const std::string name = o, base = "optim." + name;
    benchmark::RegisterBenchmark((base + "/tapegrad").c_str(),
                                 [name](benchmark::State& st) { optim_tapegrad(st, name); })
        ->Unit(benchmark::kMicrosecond)
        ->UseRealTime();
    for (int t : torch_threads)
      benchmark::RegisterBenchmark((base + "/libtorch:" + std::to_string(t)).c_str(),
                                   [name, t](benchmark::State& st) { optim_torch(st, name, t); })
          ->Unit(benchmark::kMicrosecond)
          ->UseRealTime();
  }
  for (int pass = 0; pass < 3; ++pass)
    for (const ConvShape& s : conv_shapes()) {
      const std::string base = std::string("conv.") + kPasses[pass] + "/" + s.name;
      benchmark::RegisterBenchmark((base + "/tapegrad").c_str(),
                                   [s, pass](benchmark::State& st) { conv_tapegrad(st, s, pass); })
          ->Unit(benchmark::kMicrosecond)
          ->UseRealTime();
      for (int t : torch_threads)
        benchmark::RegisterBenchmark(
            (base + "/libtorch:" + std::to_string(t)).c_str(),
            [s, pass, t](benchmark::State& st) { conv_torch(st, s, pass, t); })
            ->Unit(benchmark::kMicrosecond)
            ->UseRealTime();
    }
  for (const Model& m : kModels) {
    const std::string base = std::string("epoch.") + m.name;
    benchmark::RegisterBenchmark((base + "/tapegrad").c_str(),
                                 [&m](benchmark::State& st) { epoch_tapegrad(st, m); })
        ->Unit(benchmark::kMillisecond)
        ->Iterations(1)
        ->UseRealTime();
    for (int t : torch_threads)
      benchmark::RegisterBenchmark((base + "/libtorch:" + std::to_string(t)).c_str(),
                                   [&m, t](benchmark::State& st) { epoch_torch(st, m, t); })
          ->Unit(benchmark::kMillisecond)
          ->Iterations(1)
          ->UseRealTime();
  }
}

}  // namespace

int main(int argc, char** argv) {
  g_tg_threads = omp_get_max_threads();
  at::set_num_interop_threads(1);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("core_round_trip", tg::bench::core_round_trip_text());
  benchmark::AddCustomContext("libtorch", TORCH_VERSION);
  benchmark::AddCustomContext("tapegrad_threads", std::to_string(g_tg_threads));
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  std::fprintf(stderr, "core_round_trip at the end: %s\n",
               tg::bench::core_round_trip_text().c_str());
  benchmark::Shutdown();
  return 0;
}
