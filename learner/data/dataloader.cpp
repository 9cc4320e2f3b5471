// DataLoader: seeded per-epoch orders, batches gathered by index_select, and the optional
// prefetching worker.
//
// Why a short queue: the worker gathers the next batches while the caller trains on the
// current one, which hides the gather's memory traffic. It runs up to kAhead batches ahead and,
// once the queue is full, sleeps until the caller has taken half of them: waking a sleeping
// thread is a futex call that the caller pays (microseconds on a VM, a few percent of a small
// model's step), so it is paid once per kAhead / 2 batches instead of once per batch. The queue
// bounds memory (kAhead batches waiting, one being built, one in use) and keeps batches in
// order. The worker's exceptions are rethrown to the caller at the batch where they happened,
// after the batches made before it; destroying the iterator (even mid-epoch) stops and joins
// the worker. Batches are built from detached tensors with raw ops, so the worker never
// touches the autograd tape (which is thread-local anyway). While the worker lives, a
// kernels::cpu::GemmBackgroundThreads guard keeps small GEMMs off the OpenMP team: its worker
// would share the prefetch worker's core. Instead, while its queue is full, the prefetch worker
// lends that core to them (kernels::cpu::GemmHelper): it computes the stripes of those products
// that the training thread posts and has not taken yet, for as long as they keep coming
// (kLendMicros after the last one), then sleeps as before. The course MLP's epoch (two 2.5M
// multiply-add products a step) is a fifth shorter so (docs/benchmarks.md).
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <limits>
#include <mutex>
#include <thread>

#include <omp.h>

#include "kernels/gemm.h"
#include "learner/data/data.h"
#include "tensor/creation.h"
#include "tensor/random.h"

namespace tg {

DataLoader::DataLoader(std::shared_ptr<Dataset> ds, DataLoaderOptions opt)
    : ds_(std::move(ds)), opt_(opt) {
  TG_CHECK(ds_ != nullptr, "DataLoader", "the dataset is null");
  TG_CHECK(opt_.batch_size > 0, "DataLoader", "batch_size must be > 0, got ", opt_.batch_size);
  TG_CHECK(ds_->size() <= std::numeric_limits<int32_t>::max(), "DataLoader", "the dataset has ",
           ds_->size(), " examples; indices are int32");
}

int64_t DataLoader::num_batches() const {
  const int64_t n = size(), bs = opt_.batch_size;
  if (bs <= 0) return 0;  // a default-constructed loader
  return opt_.drop_last ? n / bs : (n + bs - 1) / bs;
}

std::vector<int32_t> DataLoader::order(int64_t epoch) const {
  std::vector<int32_t> idx(static_cast<size_t>(size()));
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<int32_t>(i);
  if (!opt_.shuffle) return idx;
  // Fisher-Yates from a generator keyed by (seed, epoch): the golden-ratio multiplier spreads
  // nearby seeds apart before splitmix64 seeding mixes them further.
  Generator gen(opt_.seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(epoch));
  for (size_t i = idx.size(); i > 1; --i)
    std::swap(idx[i - 1], idx[static_cast<size_t>(gen.randint(static_cast<int64_t>(i)))]);
  return idx;
}

Batch DataLoader::batch(const std::vector<int32_t>& order, int64_t i) const {
  TG_CHECK(ds_ != nullptr, "DataLoader::batch", "the loader has no dataset");
  const int64_t n = static_cast<int64_t>(order.size()), bs = opt_.batch_size;
  const int64_t count = opt_.drop_last ? n / bs : (n + bs - 1) / bs;
  TG_CHECK(i >= 0 && i < count, "DataLoader::batch", "batch ", i, " is out of range: an order of ",
           n, " examples has ", count, " batches of ", bs);
  const int64_t start = i * bs, len = std::min(bs, n - start);
  Tensor idx = from_blob<int32_t>(order.data() + start, {len});
  if (!ds_->x().device().is_cpu()) idx = idx.to(ds_->x().device());
  return gather(idx);
}

Batch DataLoader::batch(const std::vector<int32_t>& order, int64_t epoch, int64_t i) const {
  Batch b = batch(order, i);
  if (opt_.transform) {
    // Keyed by (seed, epoch, batch): the same augmentation with or without the worker thread.
    Generator gen((opt_.seed * 0x9E3779B97F4A7C15ull) ^
                  (static_cast<uint64_t>(epoch) * 0xD1B54A32D192ED03ull + static_cast<uint64_t>(i) +
                   0x7A6E5D4C3B2A1908ull));
    opt_.transform(b, gen);
  }
  return b;
}

Batch DataLoader::gather(const Tensor& idx) const {
  return {ds_->x().detach().index_select(0, idx), ds_->y().detach().index_select(0, idx)};
}

DataLoader::Iterator DataLoader::begin() {
  Iterator it(this, epoch_);
  ++epoch_;
  return it;
}

DataLoader::Iterator DataLoader::end() {
  Iterator it;
  it.index_ = num_batches();
  return it;
}

// The worker and its queue.
struct DataLoader::Iterator::Prefetcher {
  static constexpr size_t kAhead = 4;
  // How long after the last shared product the worker keeps offering its core (lend()).
  static constexpr int64_t kLendMicros = 200;
  // The worker keeps a core busy now and then: small GEMMs stay off the OpenMP team while it
  // lives (kernels/gemm.h says why), shared with the worker instead (lend()).
  kernels::cpu::GemmBackgroundThreads busy;
  std::mutex m;
  std::condition_variable ready, room;  // a batch (or the error) is queued; the worker may go on
  std::deque<Batch> queue;
  std::exception_ptr error;  // the worker's, after the batches queued before it
  bool caller_waits = false, worker_waits = false;
  std::atomic<bool> stop{false};  // set under m; lend() also reads it without the lock
  std::atomic<size_t> queued{0};  // queue.size(), read without the lock by lend()
  std::thread worker;

  Prefetcher(const DataLoader* dl, std::vector<int32_t> order, int64_t epoch, int64_t count) {
    worker = std::thread([this, dl, order = std::move(order), epoch, count] {
      // A batch gather copies a few hundred KB: one thread is plenty, and an OpenMP team of
      // this thread's own would spin-wait against the training threads for the same cores.
      omp_set_num_threads(1);
      kernels::cpu::GemmHelper helper;
      for (int64_t i = 0; i < count; ++i) {
        Batch b;
        std::exception_ptr err;
        try {
          b = dl->batch(order, epoch, i);
        } catch (...) {
          err = std::current_exception();
        }
        if (queued.load() >= kAhead) lend(helper);
        std::unique_lock lk(m);
        if (queue.size() >= kAhead) {
          worker_waits = true;
          room.wait(lk, [this] { return queue.size() <= kAhead / 2 || stop; });
          worker_waits = false;
        }
        if (stop) return;
        if (err)
          error = err;
        else
          queue.push_back(std::move(b));
        queued.store(queue.size());
        if (caller_waits) ready.notify_one();
        if (err) return;
      }
    });
  }
  // The queue is full: while the training thread keeps posting products to share
  // (kernels/gemm.h: GemmHelper), compute parts of them until it has taken a batch; when the
  // products stop coming, return (to sleep until half the queue is taken).
  void lend(kernels::cpu::GemmHelper& helper) {
    for (int spins = 0; queued.load(std::memory_order_relaxed) >= kAhead && !stop.load();) {
      if (helper.help()) continue;
      if (!kernels::cpu::GemmHelper::wanted(kLendMicros)) return;
      if (++spins % 64 == 0) std::this_thread::yield();  // let a thread waiting for this core in
    }
  }
  ~Prefetcher() {
    {
      std::lock_guard lk(m);
      stop = true;
    }
    room.notify_one();
    worker.join();
  }
  // The next batch; a worker error is rethrown once the batches before it are taken, and
  // again on any later call (the worker has stopped, so waiting for a batch would never end).
  Batch take() {
    std::unique_lock lk(m);
    if (queue.empty() && !error) {
      caller_waits = true;
      ready.wait(lk, [this] { return !queue.empty() || error; });
      caller_waits = false;
    }
    if (queue.empty()) std::rethrow_exception(error);
    Batch b = std::move(queue.front());
    queue.pop_front();
    queued.store(queue.size());
    if (worker_waits && queue.size() <= kAhead / 2) room.notify_one();
    return b;
  }
};

DataLoader::Iterator::Iterator(const DataLoader* dl, int64_t epoch)
    : dl_(dl), epoch_(epoch), order_(dl->order(epoch)) {
  if (dl_->num_batches() == 0) return;
  const Device dev = dl_->dataset()->x().device();
  TG_CHECK(!dl_->options().transform || dev.is_cpu(), "DataLoader",
           "a batch transform runs on the CPU, but the data is on ", dev.str(),
           ": keep a transformed loader's data on the CPU (a DeviceCallback moves the batches)");
  if (dev.is_cuda()) {
    // The data lives on the GPU: the epoch's order goes there once and each batch is one
    // gather kernel per tensor. No worker thread: the gathers are queued on the stream
    // anyway, and a second thread queuing work could land inside a CUDA Graph capture.
    order_dev_ = from_vector<int32_t>(order_).to(dev);
  } else if (dl_->options().prefetch) {
    prefetch_ = std::make_unique<Prefetcher>(dl_, order_, epoch_, dl_->num_batches());
  }
  load();
}

DataLoader::Iterator::~Iterator() = default;
DataLoader::Iterator::Iterator(Iterator&&) noexcept = default;
DataLoader::Iterator& DataLoader::Iterator::operator=(Iterator&&) noexcept = default;

void DataLoader::Iterator::load() {
  current_ = {};  // release the previous batch before the next one is made
  if (!dl_ || index_ >= dl_->num_batches()) return;
  if (order_dev_.defined()) {
    const int64_t bs = dl_->options().batch_size, start = index_ * bs;
    current_ = dl_->gather(order_dev_.narrow(0, start, std::min(bs, order_dev_.size(0) - start)));
    return;
  }
  current_ = prefetch_ ? prefetch_->take() : dl_->batch(order_, epoch_, index_);
}

DataLoader::Iterator& DataLoader::Iterator::operator++() {
  ++index_;
  load();
  if (dl_ && index_ >= dl_->num_batches()) prefetch_.reset();  // the worker has finished
  return *this;
}

}  // namespace tg
