// The trainer's run: everything between the parsed flags and the exit code.
//
//   data     the folder's four IDX files -> float32 (n, rows*cols) normalised with the training
//            set's mean and std (the test set with the training statistics), int32 labels
//   memory   the run's estimate (nn/memory.h) against the memory available (base/memory.h),
//            before the model is built: what cannot fit is refused with the figures
//   model    nn::mlp(--arch) or nn::course_cnn (--model cnn), the --opt optimizer (SGD, Adam, ...),
//            cross_entropy, accuracy
//   fit      AvgStats, Recorder, TerminateOnNaN, ProgressBar, the schedule's ParamSchedulers,
//            SaveModel (best valid_accuracy) when --save
//   report   learn.validate() on the test set, then the CSV, the plot and the summary
//
// Output paths and the data folder are checked before anything slow happens, so a typo costs
// no training time.
#include "apps/train/run.h"

#include <fcntl.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <ostream>
#include <sstream>
#include <stdexcept>

#include "apps/train/report.h"
#include "apps/train/resume.h"
#include "autograd/functions.h"
#include "base/file.h"
#include "base/format.h"
#include "base/memory.h"
#include "learner/callbacks/callbacks.h"
#include "learner/callbacks/device.h"
#include "learner/callbacks/interrupt.h"
#include "learner/callbacks/train_state.h"
#include "learner/data/augment.h"
#include "learner/data/datasets.h"
#include "learner/export.h"
#include "learner/graph_step.h"
#include "learner/inference.h"
#include "learner/io/checkpoint.h"
#include "learner/learner.h"
#include "nn/layers.h"
#include "nn/loss.h"
#include "nn/memory.h"
#include "optim/adam.h"
#include "optim/optimizer.h"
#include "tensor/cuda.h"
#include "tensor/random.h"

namespace tg::train {

namespace {

namespace fs = std::filesystem;

constexpr int64_t kLrFindBatches = 100;  // the LR finder's sweep, at most (it stops on divergence)
constexpr int64_t kValidBatch = 1024;    // the test set's batch size
using Clock = std::chrono::steady_clock;

// The side of a square image of `pixels` pixels (rounded down when it is not square).
int64_t image_side(int64_t pixels) {
  int64_t s = static_cast<int64_t>(std::sqrt(static_cast<double>(std::max<int64_t>(pixels, 0))));
  while (s * s > pixels) --s;
  while ((s + 1) * (s + 1) <= pixels) ++s;
  return s;
}

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what);
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The device to train on. A build without a CUDA backend, or a machine without a usable GPU,
// refuses cuda here, before any work.
Device resolve_device(const std::string& name) {
  if (name == "cpu") return Device::cpu();
#ifdef TG_WITH_CUDA
  if (!cuda::is_available())
    throw UsageError("--device cuda: no usable CUDA device on this machine (" +
                     cuda::unavailable_reason() + "); use --device cpu");
  return Device::cuda(0);
#else
  throw UsageError(
      "--device cuda: this build of tapegrad has no CUDA backend (it was configured without "
      "nvcc, so no CUDA kernels exist); use --device cpu");
#endif
}

// Fails now, rather than after training, when an output file cannot be written there: the
// folder must exist and take a new file (a probe file is created and removed at once; the
// real file is written the same way, a temporary beside it renamed over it).
void check_output(const std::string& flag, const std::string& path) {
  if (path.empty()) return;
  std::error_code ec;
  fs::path p(path);
  if (fs::is_directory(p, ec)) fail(flag + " " + path + ": is a folder, not a file");
  fs::path parent = p.parent_path();
  if (!parent.empty() && !fs::is_directory(parent, ec)) {
    if (fs::exists(parent, ec))
      fail(flag + " " + path + ": '" + parent.string() + "' is not a folder");
    fail(flag + " " + path + ": the folder '" + parent.string() + "' does not exist");
  }
  const fs::path dir = parent.empty() ? fs::path(".") : parent;
  const fs::path probe = dir / (".tapegrad-probe-" + std::to_string(::getpid()));
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    fail(flag + " " + path + ": cannot write in the folder '" + dir.string() +
         "': " + std::strerror(errno));
  ::close(fd);
  ::unlink(probe.c_str());
}

// --interpret: the test set's confusion matrix and top losses, printed and drawn.
void write_interpretation(const Options& o, Learner& learn, const ImageData& d, std::ostream& out) {
  auto ci = ClassificationInterpretation::from_learner(learn);
  if (!o.quiet) out << "\n" << ci.str() << "\n";
  write_file_atomic(o.interpret, ci.svg_confusion_matrix());
  fs::path top = o.interpret;
  top.replace_filename(top.stem().string() + "-top-losses.svg");
  const int64_t pixels = d.x_valid.size(1), side = image_side(pixels);
  const bool square = side * side == pixels;  // else each image is drawn as one row
  write_file_atomic(top.string(),
                    ci.svg_top_losses(d.x_valid, 9, square ? side : 1, square ? side : pixels));
  if (!o.quiet)
    out << "interp " << o.interpret << " (confusion matrix), " << top.string() << " (top losses)\n";
}

// Each output file at most once: two flags writing one file would lose one of them.
void check_outputs(const Options& o) {
  const std::vector<std::pair<const char*, const std::string*>> outs = {
      {"--save", &o.save},          {"--save-last", &o.save_last}, {"--export", &o.export_path},
      {"--log-csv", &o.log_csv},    {"--plot", &o.plot},           {"--summary", &o.summary},
      {"--interpret", &o.interpret}};
  for (size_t i = 0; i < outs.size(); ++i) {
    check_output(outs[i].first, *outs[i].second);
    for (size_t j = 0; j < i; ++j)
      if (!outs[i].second->empty() && *outs[i].second == *outs[j].second)
        throw UsageError(std::string(outs[j].first) + " and " + outs[i].first +
                         " name the same file '" + *outs[i].second + "'");
  }
}

void check_data_folder(const Options& o) {
  const std::string dir = o.data_folder();
  std::error_code ec;
  if (fs::is_directory(dir, ec)) return;
  std::string hint;
  if (!o.data_dir.empty() || o.dataset == "mnist")
    hint =
        "run `make data` to download MNIST into data/mnist (from the repository's root), or "
        "point --data at a folder holding the four IDX files";
  else
    hint =
        "install Debian's dataset-fashion-mnist package, or point --data at a folder holding "
        "the four IDX files";
  if (fs::exists(dir, ec)) fail("data folder '" + dir + "' is not a folder; " + hint);
  fail("data folder '" + dir + "' does not exist; " + hint);
}

ImageData load_data(const Options& o) {
  const std::string dir = o.data_folder();
  ImageData d;
  try {
    d = load_image_folder(dir, o.limit);
  } catch (const std::exception& e) {
    fail("cannot load the data set in '" + dir + "': " + e.what());
  }
  if (o.limit_valid > 0 && o.limit_valid < d.x_valid.size(0)) {
    d.x_valid = d.x_valid.narrow(0, 0, o.limit_valid).contiguous();
    d.y_valid = d.y_valid.narrow(0, 0, o.limit_valid).contiguous();
  }
  return d;
}

// The first size must be the image size and the last must cover every label.
void check_arch(const Options& o, const ImageData& d) {
  const int64_t pixels = d.x_train.size(1);
  if (o.model == "cnn") {
    const int64_t side = image_side(pixels);
    if (side * side != pixels)
      throw UsageError("--model cnn needs square images; the images in '" + o.data_folder() +
                       "' have " + std::to_string(pixels) + " pixels");
    return;
  }
  if (o.arch.front() != pixels)
    throw UsageError("--arch " + arch_str(o.arch) + ": the first size must be the image size " +
                     std::to_string(pixels) + " (rows*cols of the images in '" + o.data_folder() +
                     "'), got " + std::to_string(o.arch.front()));
  if (o.arch.back() < d.c)
    throw UsageError("--arch " + arch_str(o.arch) + ": the last size " +
                     std::to_string(o.arch.back()) + " is smaller than the number of classes " +
                     std::to_string(d.c) + " in the labels");
}

// Fails now, rather than after the data is loaded, when the checkpoint is not a file to read:
// says what the path is (no such file, a folder, a FIFO, a device).
void check_input(const std::string& flag, const std::string& path) {
  if (path.empty()) return;
  const std::string why = not_a_regular_file(path);
  if (!why.empty()) fail(flag + " " + path + ": " + why);
}

// The --resume file's metadata (read once, before anything is built: a --save-last file's
// settings decide the run).
Metadata resume_metadata(const Options& o) {
  check_input("--resume", o.resume);
  try {
    return read_safetensors_metadata(o.resume);  // the header only: the weights load later
  } catch (const std::exception& e) {
    fail("--resume " + o.resume + ": " + e.what());
  }
}

void resume_from(const Options& o, nn::Module& model, optim::Optimizer& opt) {
  try {
    load_checkpoint(o.resume, model, &opt);
  } catch (const std::exception& e) {
    fail("--resume " + o.resume + ": cannot load it into this run's model (--arch " +
         arch_str(o.arch) +
         "; a checkpoint only fits the --arch it was trained with): " + e.what());
  }
  // The checkpoint restores the momentum buffers; the hyper-parameters are this run's flags.
  opt.set("lr", o.lr);
  opt.set(o.momentum_name(), o.momentum);
  opt.set("weight_decay", o.wd);
  if (o.opt != "sgd") {
    opt.set(o.opt == "rmsprop" ? "alpha" : "beta2", o.beta2);
    opt.set("eps", o.eps);
  }
}

// The optimizer --opt names, with the run's hyper-parameters.
std::shared_ptr<optim::Optimizer> make_optimizer(const Options& o,
                                                 const std::vector<Tensor>& params) {
  if (o.opt == "adam")
    return std::make_shared<optim::Adam>(
        params,
        optim::AdamOptions{
            .lr = o.lr, .beta1 = o.momentum, .beta2 = o.beta2, .eps = o.eps, .weight_decay = o.wd});
  if (o.opt == "adamw")
    return std::make_shared<optim::AdamW>(
        params,
        optim::AdamWOptions{
            .lr = o.lr, .beta1 = o.momentum, .beta2 = o.beta2, .eps = o.eps, .weight_decay = o.wd});
  if (o.opt == "lamb")
    return std::make_shared<optim::LAMB>(
        params,
        optim::LAMBOptions{
            .lr = o.lr, .beta1 = o.momentum, .beta2 = o.beta2, .eps = o.eps, .weight_decay = o.wd});
  if (o.opt == "rmsprop")
    return std::make_shared<optim::RMSprop>(params, optim::RMSpropOptions{.lr = o.lr,
                                                                          .alpha = o.beta2,
                                                                          .eps = o.eps,
                                                                          .weight_decay = o.wd,
                                                                          .momentum = o.momentum});
  return std::make_shared<optim::SGD>(
      params, optim::SGDOptions{.lr = o.lr, .momentum = o.momentum, .weight_decay = o.wd});
}

// The one-cycle momentum band: +-0.05 around --momentum (fastai's 0.95..0.85 for 0.9), narrowed
// so that it stays within [0, 1).
Schedule momentum_cycle(double m) {
  const double d = std::min({0.05, m, (1 - m) / 2});
  return one_cycle_mom(m + d, m - d);
}

// One ParamScheduler drives every scheduled hyper-parameter (a Learner holds one per type).
void add_schedule(const Options& o, const History& prior,
                  std::vector<std::shared_ptr<Callback>>& cbs) {
  if (o.schedule == "onecycle") {
    std::map<std::string, Schedule> scheds = {{"lr", one_cycle_lr(o.lr)}};
    // SGD's and RMSprop's momentum, or Adam's beta1 (fastai cycles it the same way).
    if (o.momentum > 0) scheds[o.momentum_name()] = momentum_cycle(o.momentum);
    cbs.push_back(std::make_shared<ParamScheduler>(std::move(scheds)));
  } else if (o.schedule == "cos") {
    cbs.push_back(std::make_shared<ParamScheduler>("lr", sched_cos(o.lr, o.lr / 100)));
  } else if (o.schedule == "step") {
    cbs.push_back(std::make_shared<ParamScheduler>("lr", sched_multistep(o.lr, {0.5, 0.75}, 0.1)));
  } else if (o.schedule == "plateau") {
    // A resumed run replays its epochs' valid_loss, so the count of bad epochs continues; the
    // lr it had reached comes back with the optimizer's state.
    auto plateau = std::make_shared<ReduceLROnPlateau>("valid_loss", 0.1, /*patience=*/2);
    std::vector<double> past;
    for (const auto& epoch : prior)
      if (auto it = epoch.find("valid_loss"); it != epoch.end()) past.push_back(it->second);
    if (!prior.empty()) plateau->carry(past);
    cbs.push_back(plateau);
  }
}

// TAPEGRAD_TEST_KILL_AFTER_BATCHES=N: the process kills itself (SIGKILL, no cleanup) after N
// training batches, so the tests can check that a run killed mid-epoch resumes exactly.
class KillAfter : public Callback {
 public:
  explicit KillAfter(int64_t n) : n_(n) {}
  void after_batch(Learner& l) override {
    if (l.training && l.context == RunContext::fit && ++seen_ >= n_) std::raise(SIGKILL);
  }

 private:
  int64_t n_, seen_ = 0;
};

std::shared_ptr<Callback> kill_hook() {
  const char* v = std::getenv("TAPEGRAD_TEST_KILL_AFTER_BATCHES");
  if (v == nullptr || *v == '\0') return nullptr;
  const int64_t n = std::strtoll(v, nullptr, 10);
  if (n <= 0)
    fail("TAPEGRAD_TEST_KILL_AFTER_BATCHES must be a positive integer, got '" + std::string(v) +
         "'");
  return std::make_shared<KillAfter>(n);
}

// Whether a and b are one existing file (by inode, so "./x" and "x" are the same).
bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  return !a.empty() && !b.empty() && fs::equivalent(a, b, ec) && !ec;
}

const char* signal_name(int sig) {
  return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal";
}

int64_t bytes_of(const Tensor& t) {
  return t.numel() * static_cast<int64_t>(dtype_size(t.dtype()));
}

// "parameters 3.0 GiB, gradients 3.0 GiB, momentum 3.0 GiB, activations 7.6 GiB, data 215.4 MiB"
std::string memory_parts(const nn::MemoryEstimate& e) {
  std::string s = "parameters " + bytes(e.parameters) + ", gradients " + bytes(e.gradients);
  if (e.optimizer_state > 0) s += ", momentum " + bytes(e.optimizer_state);
  if (e.weight_copies > 0) s += ", lr_find's copy of the weights " + bytes(e.weight_copies);
  s += ", activations " + bytes(e.activations);
  return e.data > 0 ? s + ", data " + bytes(e.data) : s;
}

// What the run needs (nn/memory.h: parameters, gradients, SGD's momentum buffers, lr_find's copy
// of the weights, the activations of one training batch and of one test batch, the data already
// loaded) against what this machine has available to it (base/memory.h, counting the data it
// holds), before the model is built. Called twice: before the data is read (data = 0), so a
// model that cannot fit costs no loading, and again with the data loaded. With --device cuda only
// the parameters and the data are checked here: the model is built on the host, and the rest lives
// on the GPU.
nn::MemoryEstimate check_memory(const Options& o, int64_t data, const Device& device,
                                int64_t pixels = 784) {
  const bool cnn = o.model == "cnn";
  const int64_t side = image_side(pixels);
  const std::string run =
      (cnn ? "--model cnn" : "--arch " + arch_str(o.arch)) + " with --bs " + std::to_string(o.bs);
  nn::MemoryEstimate e;
  try {
    e = nn::estimate_memory(cnn ? nn::course_cnn_layers(side, side, o.channels, 10, o.stage_convs)
                                : nn::mlp_layers(o.arch),
                            {.inputs = cnn ? side * side : o.arch.front(),  // the image size
                             .batch = o.bs,
                             .eval_batch = kValidBatch,
                             .optimizer_buffers = o.optimizer_buffers(),
                             .weight_copies = o.lr_find ? 1 : 0,
                             .data_bytes = data});
  } catch (const tg::Error& err) {
    fail(run + ": cannot count the memory it needs: " + err.what());
  }
  const int64_t host = device.is_cuda() ? e.parameters + e.data : e.total();
  const MemoryAvailable m = available_memory(data);
  if (m.known() && host > m.bytes)
    fail(run + " needs about " + bytes(host) + " (" +
         (device.is_cuda()
              ? "parameters " + bytes(e.parameters) + ", data " + bytes(e.data) + " on the host"
              : memory_parts(e)) +
         "), more than the " + bytes(m.bytes) + " this machine has available (" + m.source +
         (data > 0 && (m.source == "MemAvailable" || m.source == "ulimit -v")
              ? ", plus the " + bytes(data) + " of data it holds"
              : "") +
         ")");
  return e;
}

// --pad-crop and --flip: the augmentation on the training loader (run on its prefetch thread),
// the padding the value of a black pixel. Returns whether there is any.
bool add_augmentation(const Options& o, const ImageData& d, DataBunch& db) {
  if (o.pad_crop == 0 && !o.flip) return false;
  const int64_t pixels = d.x_train.size(1), side = image_side(pixels);
  if (side * side != pixels)
    throw UsageError("--pad-crop and --flip need square images; the images in '" + o.data_folder() +
                     "' have " + std::to_string(pixels) + " pixels");
  if (o.pad_crop >= side)
    throw UsageError("--pad-crop " + std::to_string(o.pad_crop) +
                     ": the padding must be smaller than the image side " + std::to_string(side));
  DataLoaderOptions opts = db.train_dl.options();
  opts.transform = pad_crop_flip({.pad = o.pad_crop,
                                  .flip = o.flip,
                                  .height = side,
                                  .width = side,
                                  .fill = (0 - d.norm.mean) / d.norm.std});
  const int64_t epoch = db.train_dl.epoch();
  db.train_dl = DataLoader(db.train_dl.dataset(), opts);
  db.train_dl.set_epoch(epoch);
  return true;
}

// ", with pad-crop 2, flip, mixup 0.4, label smoothing 0.1, clip value 1" (the tricks that are on).
std::string tricks_str(const Options& o) {
  std::vector<std::string> on;
  if (o.pad_crop > 0) on.push_back("pad-crop " + std::to_string(o.pad_crop));
  if (o.flip) on.push_back("flip");
  if (o.mixup > 0) on.push_back("mixup " + num(o.mixup));
  if (o.label_smoothing > 0) on.push_back("label smoothing " + num(o.label_smoothing));
  if (o.clip_value > 0) on.push_back("clip value " + num(o.clip_value));
  std::string s;
  for (const auto& t : on) s += (s.empty() ? ", with " : ", ") + t;
  return s;
}

// "784-256-10 MLP" or "the course's CNN (conv 8-16-32-32, each ReLU and BatchNorm2d)".
std::string model_str(const Options& o) {
  return o.model == "cnn"
             ? "the course's CNN (conv " + arch_str(o.channels) +
                   (o.stage_convs > 1 ? ", " + std::to_string(o.stage_convs) + " per stage" : "") +
                   ", each ReLU and BatchNorm2d)"
             : arch_str(o.arch) + " MLP";
}

int64_t count_params(const nn::Module& m) {
  int64_t n = 0;
  for (const Tensor& p : m.parameters()) n += p.numel();
  return n;
}

}  // namespace

int run(const Options& given, std::ostream& out) {
  const auto t0 = Clock::now();
  StopOnSignal::install();  // a ^C from here on is a cancel, not a kill
  if (given.threads > 0) omp_set_num_threads(given.threads);
  const Device device = resolve_device(given.device);

  // A --save-last file continues its run: its settings, its epochs done, its history.
  Metadata resume_meta;
  bool continuing = false;
  if (!given.resume.empty()) {
    resume_meta = resume_metadata(given);
    continuing = is_train_state(resume_meta);
  }
  const Options o = continuing ? adopt_settings(given, resume_meta,
                                                std::stoll(resume_meta.at("state.epochs_done")))
                               : given;
  check_outputs(o);
  check_memory(o, /*data=*/0, device);
  check_data_folder(o);

  ImageData d = load_data(o);
  check_arch(o, d);
  if (d.vocab.empty() && o.data_dir.empty()) d.vocab = builtin_vocab(o.dataset);
  const nn::MemoryEstimate mem = check_memory(
      o, bytes_of(d.x_train) + bytes_of(d.y_train) + bytes_of(d.x_valid) + bytes_of(d.y_valid),
      device, d.x_train.size(1));
  DataBunch db = make_databunch(d, o.bs, o.seed, kValidBatch);
  const bool augment = add_augmentation(o, d, db);
  if (device.is_cuda()) {  // MNIST fits: batches are gathered there
    if (augment)           // the augmentation runs on the CPU: only the test set moves
      db.valid_dl = DataLoader(to_device(*db.valid_dl.dataset(), device), db.valid_dl.options());
    else
      db = to_device(db, device);
  }

  Generator gen(o.seed);
  const int64_t side = image_side(d.x_train.size(1));
  std::shared_ptr<nn::Module> model =
      o.model == "cnn" ? std::static_pointer_cast<nn::Module>(
                             nn::course_cnn(side, side, o.channels, d.c, gen, o.stage_convs))
                       : std::static_pointer_cast<nn::Module>(nn::mlp(o.arch, gen));
  std::shared_ptr<optim::Optimizer> opt = make_optimizer(o, model->parameters());
  LossFn loss = &tg::cross_entropy;  // by name, so the Learner knows its activation (softmax)
  if (o.label_smoothing > 0) loss = nn::CrossEntropyLoss{.label_smoothing = o.label_smoothing};
  Learner learn(model, opt, loss, db, {.metrics = {accuracy_metric()}});
  if (o.mixup > 0) learn.add_cb(std::make_shared<Mixup>(o.mixup, o.seed));
  if (o.clip_value > 0) learn.add_cb(std::make_shared<GradientClipValue>(o.clip_value));
  learn.add_cb(std::make_shared<StopOnSignal>());  // every fit, lr_find's too
  if (device.is_cuda()) {
    learn.add_cb(std::make_shared<DeviceCallback>(device));
    // Mixup draws on the host every batch: its steps run op by op.
    if (!o.no_cuda_graph && o.mixup == 0) learn.step = std::make_shared<CudaGraphStep>();
  }
  TrainState state;  // of the run this one continues
  History prior;     // its epochs' figures
  if (continuing) {
    try {
      state = load_train_state(o.resume, learn);
      if (auto it = state.meta.find(kHistoryKey); it != state.meta.end())
        prior = parse_history(it->second, o.resume);
    } catch (const std::exception& e) {
      fail("--resume " + o.resume + ": cannot continue its run: " + e.what());
    }
  } else if (!o.resume.empty()) {
    resume_from(o, *model, *opt);
  }

  if (!o.quiet)
    out << "data   " << o.data_folder() << ": " << d.x_train.size(0) << " train, "
        << d.x_valid.size(0) << " test examples of " << d.x_train.size(1) << " pixels, " << d.c
        << " classes\n"
        << "model  " << model_str(o) << ", " << count_params(*model) << " parameters; "
        << opt->name() << " lr " << o.lr << " " << o.momentum_name() << " " << o.momentum << " wd "
        << o.wd
        << (o.opt == "sgd" ? std::string()
                           : std::string(o.opt == "rmsprop" ? " alpha " : " beta2 ") +
                                 num(o.beta2) + " eps " + num(o.eps))
        << ", schedule " << o.schedule << tricks_str(o) << "\n"
        << "memory about " << bytes(mem.total()) << " (" << memory_parts(mem) << ")\n"
        << (o.lr_find ? "lr_find up to " + plural(kLrFindBatches, "batch") + " (an epoch has " +
                            std::to_string(db.train_dl.num_batches()) + ")"
                      : "fit    " + plural(o.epochs, "epoch") + " of " +
                            plural(db.train_dl.num_batches(), "batch"))
        << " of " << o.bs << ", seed " << o.seed << ", " << omp_get_max_threads() << " threads on "
        << device.str()
        << (continuing
                ? ", continuing " + o.resume + " after epoch " + std::to_string(state.epochs_done)
            : o.resume.empty() ? ""
                               : ", resumed from " + o.resume)
        << std::endl;

  if (o.model_summary && !o.quiet) out << "\n" << summary(learn) << std::endl;

  if (o.lr_find) {
    LRFindResult r = lr_find(learn, 1e-7, 10, kLrFindBatches);
    if (int sig = StopOnSignal::received())
      fail(std::string("lr_find interrupted by ") + signal_name(sig));
    print_lr_find(out, r, o.quiet);
    if (!o.plot.empty()) write_lr_plot(o.plot, r);
    return 0;
  }

  auto stats = std::make_shared<AvgStats>(/*print=*/false, &out);
  auto rec = std::make_shared<Recorder>();
  auto nan_stop = std::make_shared<TerminateOnNaN>();
  std::ostringstream nan_msg;
  nan_stop->out = &nan_msg;
  std::vector<std::shared_ptr<Callback>> cbs = {stats, rec, nan_stop};
  if (!o.quiet) cbs.push_back(std::make_shared<ProgressBar>(&out));
  // On the CPU, the thread count of each step follows what the machine can give (a busy core
  // makes a 2-thread step slower than a 1-thread one); results do not depend on it.
  std::shared_ptr<AdaptiveThreads> adaptive;
  if (!o.fixed_threads && !device.is_cuda() && omp_get_max_threads() > 1)
    cbs.push_back(adaptive = std::make_shared<AdaptiveThreads>());
  add_schedule(o, prior, cbs);
  std::shared_ptr<SaveModel> saver;
  if (!o.save.empty()) {
    cbs.push_back(saver = std::make_shared<SaveModel>(o.save, "valid_accuracy"));
    saver->meta = learner_metadata(learn);  // a file load_learner reads
    // When --save names the file that holds the best of the run this one continues (the
    // --resume file itself, or the --save of a continued run), that best is carried over, so a
    // worse epoch never replaces it.
    if (continuing && state.meta.count(kBestKey) && same_file(o.save, state.meta[kBestPathKey]))
      saver->carry(std::stod(state.meta.at(kBestKey)), std::stoll(state.meta.at(kBestEpochKey)));
    else if (!continuing && same_file(o.save, o.resume) && resume_meta.count("value") &&
             resume_meta.count("monitor") && resume_meta.at("monitor") == "valid_accuracy")
      saver->carry(std::stod(resume_meta.at("value")));
  }
  const std::string settings = settings_text(o);
  if (!o.save_last.empty())
    cbs.push_back(std::make_shared<SaveState>(o.save_last, [&](const Learner&) {
      History h = prior;
      h.insert(h.end(), stats->history.begin(), stats->history.end());
      Metadata m = {{kSettingsKey, settings}, {kHistoryKey, history_text(h)}};
      if (saver && saver->best_epoch >= 0) {
        m[kBestKey] = num(saver->best);
        m[kBestEpochKey] = std::to_string(saver->best_epoch);
        m[kBestPathKey] = fs::absolute(o.save).string();
      }
      return m;
    }));
  if (auto hook = kill_hook()) cbs.push_back(hook);

  learn.fit(o.epochs, cbs, state.epochs_done);
  const int sig = StopOnSignal::received();
  if (nan_stop->stopped && sig == 0) {
    std::string why = nan_msg.str();
    while (!why.empty() && why.back() == '\n') why.pop_back();
    fail("training diverged (" + why + "); try a lower --lr than " + tg::num(o.lr) +
         ", or see --lr-find");
  }

  std::map<std::string, double> test = learn.validate();
  Outcome r;
  r.epochs = prior;
  r.epochs.insert(r.epochs.end(), stats->history.begin(), stats->history.end());
  rec->epochs.insert(rec->epochs.begin(), prior.begin(), prior.end());
  r.test_accuracy = test.at("accuracy");
  r.test_loss = test.at("loss");
  r.train_examples = d.x_train.size(0);
  r.test_examples = d.x_valid.size(0);
  r.classes = d.c;
  r.threads = omp_get_max_threads();
  if (adaptive)
    for (const AdaptiveThreads::Choice& c : adaptive->choices)
      r.thread_choices.emplace_back(c.train_iter, c.threads);
  r.best_epoch = saver ? saver->best_epoch : -1;
  r.resumed_after = state.epochs_done;
  if (sig != 0) r.interrupted = signal_name(sig);

  // The result first: a file that fails to write below cannot take it with it.
  if (sig != 0)
    out << "interrupted by " << r.interrupted << " after " << plural(r.epochs.size(), "epoch")
        << " of " << o.epochs
        << (o.save_last.empty() ? "" : "; --resume " + o.save_last + " continues the run") << "\n";
  out << "test_accuracy " << tg::fixed(r.test_accuracy, 4) << std::endl;

  if (!o.export_path.empty())
    export_state_dict(o.export_path, *model,
                      {{"arch", o.model == "cnn" ? "cnn" : arch_str(o.arch)},
                       {"epochs", std::to_string(r.epochs.size())},
                       {"test_accuracy", num(r.test_accuracy)}});
  if (!o.log_csv.empty()) rec->write_csv(o.log_csv);
  if (!o.plot.empty()) write_training_plot(o.plot, *rec, r.epochs);
  if (!o.interpret.empty()) write_interpretation(o, learn, d, out);
  r.total_seconds = seconds_since(t0);
  if (!o.summary.empty()) write_summary(o.summary, o, r);

  if (!o.quiet && !o.export_path.empty())
    out << "export " << o.export_path << " (the model's state dict, for PyTorch)\n";
  if (!o.quiet && saver && saver->best_epoch >= 0)
    out << "saved  " << o.save << " (epoch " << (saver->best_epoch + 1) << ", valid_accuracy "
        << tg::fixed(saver->best, 4) << ")\n";
  else if (!o.quiet && saver)
    out << "kept   " << o.save << " (valid_accuracy " << tg::fixed(saver->best, 4)
        << " from the run resumed; no epoch of this one beat it)\n";
  out << "total_seconds " << tg::fixed(seconds_since(t0), 2) << std::endl;
  return sig != 0 ? 128 + sig : 0;
}

}  // namespace tg::train
