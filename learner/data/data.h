// Dataset, DataLoader and DataBunch: how examples reach the model, a batch at a time.
//
//   auto train = std::make_shared<tg::Dataset>(x_train, y_train);   // x (n, ...), y (n)
//   tg::DataLoader dl(train, {.batch_size = 64, .shuffle = true, .seed = 1});
//   for (const tg::Batch& b : dl) { ... b.x (64, ...), b.y (64) ... }
//
// A DataLoader gathers each batch into fresh contiguous tensors (index_select of rows), in a
// seeded per-epoch order: epoch e of a loader with seed s visits the same permutation on every
// run and every machine. With prefetch on, a background thread gathers the next batches (up to
// four ahead) while the caller works on batch i; a transform (options.transform: augmentation)
// runs there too, and while it is four ahead it computes parts of the caller's small
// matrix products (kernels/gemm.h: GemmHelper). A Dataset whose tensors are on a GPU
// (to_device below) is gathered there: the epoch's order is uploaded once and each batch is
// a gather kernel (no prefetch thread: the GPU queues the gathers anyway).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace tg {

class Dataset {
 public:
  // x: (n, ...) any dtype; y: (n) or (n, ...). Their first dims must agree.
  Dataset(Tensor x, Tensor y);
  int64_t size() const { return x_.size(0); }
  const Tensor& x() const { return x_; }
  const Tensor& y() const { return y_; }
  // The first n examples (a view), for --limit.
  std::shared_ptr<Dataset> head(int64_t n) const;

 private:
  Tensor x_, y_;
};

struct Batch {
  Tensor x, y;
};

// A change made to every batch after it is gathered (data augmentation: learner/data/augment.h),
// with a generator keyed by (the loader's seed, epoch, batch index). It runs on the CPU — on
// the prefetch thread when prefetching — so it must not touch the autograd tape (the batch's
// tensors are detached) nor any state shared with the training thread.
using BatchTransform = std::function<void(Batch& batch, Generator& gen)>;

struct DataLoaderOptions {
  int64_t batch_size = 64;
  bool shuffle = false;
  uint64_t seed = 0;
  bool drop_last = false;
  bool prefetch = false;
  BatchTransform transform = {};  // none when empty; refused for data on a GPU
};

class DataLoader {
 public:
  DataLoader() = default;
  DataLoader(std::shared_ptr<Dataset> ds, DataLoaderOptions opt);

  int64_t num_batches() const;  // per epoch
  int64_t size() const { return ds_ ? ds_->size() : 0; }
  const DataLoaderOptions& options() const { return opt_; }
  const std::shared_ptr<Dataset>& dataset() const { return ds_; }
  // The order of the next epoch is drawn from (seed, epoch); begin() advances the epoch.
  void set_epoch(int64_t epoch) { epoch_ = epoch; }
  int64_t epoch() const { return epoch_; }
  // The example indices of one epoch, in visiting order (int32).
  std::vector<int32_t> order(int64_t epoch) const;
  Batch batch(const std::vector<int32_t>& order, int64_t i) const;  // batch i of an order
  // Batch i of epoch `epoch` as iterating gives it: batch(order, i), then the transform.
  Batch batch(const std::vector<int32_t>& order, int64_t epoch, int64_t i) const;

  class Iterator;
  Iterator begin();
  Iterator end();

 private:
  Batch gather(const Tensor& idx) const;  // rows idx (on the data's device) of x and y

  std::shared_ptr<Dataset> ds_;
  DataLoaderOptions opt_;
  int64_t epoch_ = 0;
};

// One pass over a DataLoader. Holds the epoch's order and, with prefetch, the worker thread.
class DataLoader::Iterator {
 public:
  Iterator() = default;
  Iterator(const DataLoader* dl, int64_t epoch);
  ~Iterator();
  Iterator(Iterator&&) noexcept;
  Iterator& operator=(Iterator&&) noexcept;
  const Batch& operator*() const { return current_; }
  const Batch* operator->() const { return &current_; }
  Iterator& operator++();
  bool operator==(const Iterator& other) const { return index_ == other.index_; }

 private:
  friend class DataLoader;  // end() makes the past-the-end iterator
  struct Prefetcher;
  void load();
  const DataLoader* dl_ = nullptr;
  int64_t epoch_ = 0;
  std::vector<int32_t> order_;
  Tensor order_dev_;   // the order on the data's device, when the data is on a GPU
  int64_t index_ = 0;  // batch index; end() has num_batches()
  Batch current_;
  std::unique_ptr<Prefetcher> prefetch_;
};

// Per-feature-free normalisation: (x - mean) / std with the training set's scalar mean and
// std, as the course does. Returns float32.
struct Normalization {
  double mean = 0, std = 1;
};

struct DataBunch {
  DataLoader train_dl, valid_dl;
  int64_t c = 0;  // number of classes
  // How raw items (pixels as read from the files) became the loaders' inputs: what
  // Learner::predict applies to a raw item, and what tg::export_learner writes down.
  Normalization norm = {};
  // The classes' names, index by index (fastai's vocab): "0".."9" for MNIST, "T-shirt/top",
  // ... for Fashion-MNIST; empty when unnamed (the interpretation prints indices).
  std::vector<std::string> vocab = {};
};
Normalization stats_of(const Tensor& x);  // over all elements, computed in float64
Tensor normalize(const Tensor& x, const Normalization& n);

// The same data on another device: a small data set (MNIST is 188 MB as float32) can live on
// the GPU whole, so batches never cross the PCIe bus.
std::shared_ptr<Dataset> to_device(const Dataset& ds, Device device);
DataBunch to_device(const DataBunch& data, Device device);

}  // namespace tg
