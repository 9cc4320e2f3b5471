// Course step 06, "CUDA": the library on a GPU. Three parts:
//   1. a tensor moved to the GPU, computed on there, and moved back;
//   2. the Learner of steps 09b/09c trained one epoch four ways, from the same seed on the same
//      batches — on the CPU; on the GPU with a DeviceCallback (model moved once, each batch
//      copied over); with the whole data set on the GPU (tg::to_device); and with CudaGraphStep
//      (each training step one CUDA Graph replay) — printing each run's epoch time, accuracy
//      and what the caching allocator did;
//   3. the CUDA GEMM ladder (kernels/gemm.h) at n = 1024 beside cuBLAS: GFLOP/s and the ratio
//      to cuBLAS. Timed with the host clock around tg::cuda::synchronize(), a few runs each:
//      an illustration, not a benchmark (build/bin/bench_gemm_cuda is the benchmark).
// Without a usable GPU it prints "SKIPPED: no CUDA device (<why>)" and exits 0.
//
//   build/bin/06_cuda [--limit N] [--data DIR] [--epochs E] [--bs B] [--lr X] [--gemm-n N]
//
// Built only with the CUDA backend (examples/CMakeLists.txt skips it otherwise): the ladder's
// rungs are kernels that exist only there.
#if !TG_WITH_CUDA
#error "06_cuda needs the CUDA backend (TG_WITH_CUDA); examples/CMakeLists.txt builds it only then"
#endif

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "autograd/functions.h"
#include "examples/common/course.h"
#include "kernels/gemm.h"
#include "learner/callbacks/callbacks.h"
#include "learner/callbacks/device.h"
#include "learner/data/data.h"
#include "learner/graph_step.h"
#include "learner/learner.h"
#include "tensor/creation.h"
#include "tensor/cuda.h"

namespace {

using Clock = std::chrono::steady_clock;
const tg::Device kGpu = tg::Device::cuda();
constexpr int64_t kWarmup = 3;  // CudaGraphStep's eager steps before it captures one

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double mib(size_t bytes) {
  return static_cast<double>(bytes) / (1024.0 * 1024.0);
}

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  float m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

// ---------------------------------------------------------------------------------------------
// 1. A tensor to the GPU and back.

void round_trip() {
  std::printf("1. A tensor to the GPU and back\n");
  tg::Generator gen(0);
  const tg::Tensor x = tg::randn({2, 3}, gen), w = tg::randn({3, 4}, gen);
  const tg::Tensor xg = x.to(kGpu), wg = w.to(kGpu);  // copies; x and w stay on the CPU
  // Queued on the GPU's stream: matmul (cuBLAS) and relu return at once, before they ran.
  const tg::Tensor yg = tg::relu(tg::matmul(xg, wg));
  // The copy back waits for them: the first moment the host needs a value.
  const tg::Tensor y = yg.to(tg::Device::cpu());
  const tg::Tensor ref = tg::relu(tg::matmul(x, w));
  std::printf("  x %s on %s; x.to(cuda) on %s; relu(x @ w) on %s, back to %s\n",
              x.shape_str().c_str(), x.device().str().c_str(), xg.device().str().c_str(),
              yg.device().str().c_str(), y.device().str().c_str());
  const std::vector<float> got = y.to_vector<float>(), want = ref.to_vector<float>();
  std::printf("  GPU row 0:");
  for (int j = 0; j < 4; ++j) std::printf(" %8.4f", got[static_cast<size_t>(j)]);
  std::printf("\n  CPU row 0:");
  for (int j = 0; j < 4; ++j) std::printf(" %8.4f", want[static_cast<size_t>(j)]);
  std::printf(
      "\n  max |GPU - CPU| over all 8 values: %.2e (float rounding: another summation "
      "order)\n\n",
      static_cast<double>(max_abs_diff(got, want)));
}

// ---------------------------------------------------------------------------------------------
// 2. The Learner, four ways.

struct Setup {
  const char* name;
  bool gpu;          // DeviceCallback: the model to the GPU at before_fit, batches at before_batch
  bool data_on_gpu;  // tg::to_device(DataBunch): the data set lives on the GPU
  bool graph;        // CudaGraphStep: after a warm-up, each training step is one graph replay
};

void print_memory(const tg::cuda::MemoryStats& before, const tg::cuda::MemoryStats& after) {
  std::printf(
      "    allocator: %llu allocations, %llu of them from the cache; %llu cudaMalloc "
      "calls\n",
      static_cast<unsigned long long>(after.allocs - before.allocs),
      static_cast<unsigned long long>(after.reuses - before.reuses),
      static_cast<unsigned long long>(after.driver_allocs - before.driver_allocs));
  std::printf(
      "      after the run: %.1f MiB in tensors, %.1f MiB reserved (%.1f MiB cached), "
      "peak %.1f MiB during it\n",
      mib(after.allocated), mib(after.reserved), mib(after.cached), mib(after.peak_allocated));
}

// CudaGraphStep drops its graph when the fit ends (graph_nodes() is 0 after it): this reads
// the graph's size at the end of each training phase, while the graph exists.
class GraphSize : public tg::Callback {
 public:
  explicit GraphSize(std::shared_ptr<tg::CudaGraphStep> step) : step_(std::move(step)) {}
  std::string name() const override { return "GraphSize"; }
  void after_train(tg::Learner&) override { nodes = std::max(nodes, step_->graph_nodes()); }
  size_t nodes = 0;

 private:
  std::shared_ptr<tg::CudaGraphStep> step_;
};

struct Result {
  double valid_accuracy = 0;
  int64_t replays = 0;  // CudaGraphStep's
};

Result train_once(const Setup& s, const course::Data& data, const course::Options& o) {
  tg::cuda::reset_peak_memory();
  const tg::cuda::MemoryStats before = tg::cuda::memory_stats();  // the data upload counts too
  // The same model, optimizer and batches for every setup: the seed fixes all three.
  auto [model, opt] = course::get_model(data.d, o.nh, o.lr, o.seed);
  tg::DataBunch db = tg::make_databunch(data.d, o.bs, o.seed);
  if (s.data_on_gpu) db = tg::to_device(db, kGpu);
  auto stats = std::make_shared<tg::AvgStats>(/*print=*/false);
  tg::Learner learn(model, opt, tg::cross_entropy, db, {.metrics = {tg::accuracy_metric()}},
                    {stats});

  // DeviceCallback (order -20) moves the model at before_fit and each batch at before_batch;
  // CudaGraphStep is the Learner's step: the body of each training batch (learner/step.h).
  std::vector<std::shared_ptr<tg::Callback>> cbs;
  std::shared_ptr<tg::CudaGraphStep> graph;
  std::shared_ptr<GraphSize> size;
  if (s.gpu) cbs.push_back(std::make_shared<tg::DeviceCallback>(kGpu));
  if (s.graph) {
    learn.step = graph = std::make_shared<tg::CudaGraphStep>(kWarmup);
    cbs.push_back(size = std::make_shared<GraphSize>(graph));
  }

  learn.fit(o.epochs, cbs);  // AvgStats reads its device sums at each epoch's end: synchronised
  const tg::cuda::MemoryStats after = tg::cuda::memory_stats();

  std::string times;
  for (const auto& e : stats->history) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s%.2f", times.empty() ? "" : " ", e.at("epoch_seconds"));
    times += buf;
  }
  std::printf("  %-30s %10s s  %10.4f  %14.4f   (model on %s)\n", s.name, times.c_str(),
              learn.values.at("train_loss"), learn.values.at("valid_accuracy"),
              model->device().str().c_str());
  if (graph)
    std::printf(
        "    CudaGraphStep: captured one step (%zu nodes) after %lld eager ones; %lld "
        "replays\n",
        size->nodes, static_cast<long long>(kWarmup), static_cast<long long>(graph->replays()));
  if (s.gpu) print_memory(before, after);
  return {learn.values.at("valid_accuracy"), graph ? graph->replays() : 0};
}

std::vector<Result> train_four_ways(const course::Options& o) {
  std::printf("2. One Learner, four ways (%lld epoch(s) each, same seed, same batches)\n",
              static_cast<long long>(o.epochs));
  const course::Data data = course::load_data(o);
  std::printf("  %-30s %12s  %10s  %14s\n", "run", "epoch time", "train_loss", "valid_accuracy");
  const Setup setups[] = {
      {"cpu", false, false, false},
      {"cuda: DeviceCallback", true, false, false},
      {"cuda: + data on the GPU", true, true, false},
      {"cuda: + CudaGraphStep", true, true, true},
  };
  std::vector<Result> results;
  for (const Setup& s : setups) results.push_back(train_once(s, data, o));

  // Every GPU tensor of the runs is gone; their memory is still reserved, cached for reuse.
  const tg::cuda::MemoryStats held = tg::cuda::memory_stats();
  tg::cuda::empty_cache();
  const tg::cuda::MemoryStats freed = tg::cuda::memory_stats();
  std::printf("  empty_cache(): reserved %.1f MiB -> %.1f MiB (%.1f MiB still in tensors)\n\n",
              mib(held.reserved), mib(freed.reserved), mib(freed.allocated));
  return results;
}

// ---------------------------------------------------------------------------------------------
// 3. The GEMM ladder on the GPU.

using GemmFn = tg::kernels::cpu::GemmFn;  // the CUDA rungs share the CPU signature

struct Rung {
  const char* name;
  GemmFn fn;
  bool tf32 = false;
};

// Seconds per call of C = A @ B (n x n, row-major), measured on the host: one warm-up call,
// one timed call to size the loop, then enough calls for ~0.1 s (1 to 50). Each timing ends
// with synchronize(), since the calls only queue kernels.
double time_gemm(GemmFn fn, int64_t n, const float* a, const float* b, float* c) {
  auto call = [&] { fn(false, false, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n); };
  call();
  tg::cuda::synchronize();
  auto t0 = Clock::now();
  call();
  tg::cuda::synchronize();
  const double once = seconds_since(t0);
  const int reps = static_cast<int>(std::clamp(0.1 / std::max(once, 1e-6), 1.0, 50.0));
  t0 = Clock::now();
  for (int r = 0; r < reps; ++r) call();
  tg::cuda::synchronize();
  return seconds_since(t0) / reps;
}

// Returns rung 5's speed as a fraction of cuBLAS float32's.
double gemm_ladder(int64_t n) {
  const double gflop =
      2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n) / 1e9;
  std::printf("3. The GEMM ladder on the GPU: C = A @ B, n = %lld (%.3f GFLOP per product)\n",
              static_cast<long long>(n), gflop);
  std::printf(
      "   host clock around tg::cuda::synchronize(); build/bin/bench_gemm_cuda is the "
      "benchmark\n\n");
  tg::Generator gen(1);
  // Tensors own the device memory; the kernels take their raw pointers.
  const tg::Tensor a = tg::randn({n, n}, gen).to(kGpu), b = tg::randn({n, n}, gen).to(kGpu);
  tg::Tensor c = tg::empty({n, n}, tg::DType::f32, kGpu);
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  float* pc = c.data<float>();

  namespace gpu = tg::kernels::cuda;
  const GemmFn cublas = static_cast<GemmFn>(&gpu::gemm);  // the float overload
  const double t_cublas = time_gemm(cublas, n, pa, pb, pc);
  const std::vector<float> ref = c.to_vector<float>();  // cuBLAS float32: the reference

  const Rung rungs[] = {
      {"1 naive", &gpu::gemm_naive},
      {"2 coalesced", &gpu::gemm_coalesced},
      {"3 shared-memory tiles", &gpu::gemm_smem},
      {"4 register tiles", &gpu::gemm_regtile},
      {"5 float4 loads", &gpu::gemm_vec},
      {"cuBLAS", cublas},
      {"cuBLAS, TF32 tensor cores", cublas, true},
  };
  std::printf("%-28s %10s %10s %10s %12s\n", "rung", "ms", "GFLOP/s", "vs cuBLAS", "max |diff|");
  double vec_vs_cublas = 0;
  for (const Rung& r : rungs) {
    tg::cuda::set_allow_tf32(r.tf32);
    const bool is_ref = r.fn == cublas && !r.tf32;  // measured above
    const double t = is_ref ? t_cublas : time_gemm(r.fn, n, pa, pb, pc);
    if (r.fn == &gpu::gemm_vec) vec_vs_cublas = t_cublas / t;
    const std::vector<float> got = is_ref ? ref : c.to_vector<float>();
    std::printf("%-28s %10.3f %10.1f %9.2fx %12.2e\n", r.name, t * 1e3, gflop / t, t_cublas / t,
                static_cast<double>(max_abs_diff(got, ref)));
  }
  tg::cuda::set_allow_tf32(false);
  std::printf(
      "\n(vs cuBLAS: cuBLAS float32's time / this time, 1.00x = as fast; max |diff|: "
      "against cuBLAS float32.\n docs/course/06b_cuda_gemm.md explains each rung.)\n\n");
  return vec_vs_cublas;
}

}  // namespace

int main(int argc, char** argv) {
  course::Options o;
  int64_t gemm_n = 1024;
  course::Flags flags("06_cuda",
                      "The library on a GPU: a tensor there and back, the Learner on the CPU, "
                      "with DeviceCallback, with the data on the GPU and with CudaGraphStep, "
                      "and the CUDA GEMM ladder beside cuBLAS. Without a GPU it says SKIPPED.");
  flags.data(o).training(o).integer("--nh", o.nh, "hidden units");
  flags.integer("--gemm-n", gemm_n, "matrix size of the GEMM ladder");
  if (auto rc = flags.parse_or_exit(argc, argv)) return *rc;

  // Every tg::cuda function exists in every build; without a usable device this is false and
  // unavailable_reason() says why (no driver, no device, no CUDA backend).
  if (!tg::cuda::is_available()) {
    std::printf("SKIPPED: no CUDA device (%s)\n", tg::cuda::unavailable_reason().c_str());
    return 0;
  }

  return course::run([&] {
    round_trip();
    const std::vector<Result> runs = train_four_ways(o);
    const double vec = gemm_ladder(gemm_n);
    std::printf(
        "done: valid_accuracy cpu %.4f, cuda %.4f / %.4f / %.4f; CudaGraphStep replayed "
        "%lld steps; rung 5 at %.2fx cuBLAS\n",
        runs[0].valid_accuracy, runs[1].valid_accuracy, runs[2].valid_accuracy,
        runs[3].valid_accuracy, static_cast<long long>(runs[3].replays), vec);
    return 0;
  });
}
