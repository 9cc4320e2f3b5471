// Dataset, DataLoader and normalisation: batch counts, orders (identity, seeded permutations
// per epoch), batch contents against index_select, the prefetching worker (same batches, early
// exit without a hang, errors carried to the caller) and stats_of / normalize by hand.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <future>
#include <numeric>
#include <thread>
#include <vector>

#include <omp.h>

#include "kernels/gemm.h"
#include "learner/data/data.h"
#include "tensor/creation.h"
#include "tensor/ops.h"
#include "tensor/random.h"
#include "test_util.h"

using namespace tg;
using tg::test::error_of;
using tg::test::has;

namespace {

// n examples: x (n, 2, 3) float32 with x[i] = 100 i + 0..5, y (n) int32 = i.
std::shared_ptr<Dataset> counting(int64_t n) {
  Tensor x = empty({n, 2, 3});
  float* p = x.data<float>();
  for (int64_t i = 0; i < n * 6; ++i) p[i] = float(100 * (i / 6) + i % 6);
  return std::make_shared<Dataset>(x, arange(double(n), DType::i32));
}

std::vector<std::vector<int32_t>> pass(DataLoader& dl) {
  std::vector<std::vector<int32_t>> out;
  for (const Batch& b : dl) out.push_back(b.y.to_vector<int32_t>());
  return out;
}

bool is_permutation_of_range(std::vector<int32_t> v) {
  std::sort(v.begin(), v.end());
  for (size_t i = 0; i < v.size(); ++i)
    if (v[i] != int32_t(i)) return false;
  return true;
}

// Runs f on its own thread; false when it has not finished within the time limit (a hang).
template <typename F>
bool finishes_within(std::chrono::seconds limit, F f) {
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> fut = done->get_future();
  std::thread([done, f]() mutable {
    f();
    done->set_value();
  }).detach();
  return fut.wait_for(limit) == std::future_status::ready;
}

}  // namespace

TEST_CASE("data: Dataset refuses x and y of different lengths, naming both shapes") {
  std::string e = error_of([] { Dataset(zeros({5, 3}), zeros({4}, DType::i32)); });
  CHECK(has(e, "Dataset"));
  CHECK(has(e, "[5, 3]"));
  CHECK(has(e, "[4]"));
  CHECK(has(error_of([] { Dataset(Tensor(), zeros({4})); }), "defined"));
  CHECK(Dataset(zeros({4, 2}), zeros({4, 7})).size() == 4);
}

TEST_CASE("data: head takes the first n examples as a view and clamps n") {
  auto ds = counting(5);
  auto h = ds->head(3);
  CHECK(h->size() == 3);
  CHECK(h->y().to_vector<int32_t>() == std::vector<int32_t>{0, 1, 2});
  CHECK(h->x().shares_storage(ds->x()));
  CHECK(ds->head(100)->size() == 5);
  CHECK(has(error_of([&] { ds->head(0); }), "n must be > 0, got 0"));
  CHECK(has(error_of([&] { ds->head(-2); }), "got -2"));
}

TEST_CASE("data: DataLoader refuses a bad batch size or no dataset") {
  auto ds = counting(4);
  CHECK(has(error_of([&] { DataLoader(ds, {.batch_size = 0}); }), "batch_size must be > 0, got 0"));
  CHECK(has(error_of([&] { DataLoader(ds, {.batch_size = -3}); }), "got -3"));
  CHECK(has(error_of([] { DataLoader(nullptr, {}); }), "null"));
  CHECK(DataLoader().num_batches() == 0);
}

TEST_CASE("data: batch counts with and without drop_last, and the last partial batch") {
  auto ds = counting(10);
  DataLoader dl(ds, {.batch_size = 3});
  CHECK(dl.num_batches() == 4);
  auto batches = pass(dl);
  REQUIRE(batches.size() == 4);
  CHECK(batches.back() == std::vector<int32_t>{9});
  DataLoader dropped(ds, {.batch_size = 3, .drop_last = true});
  CHECK(dropped.num_batches() == 3);
  CHECK(pass(dropped).size() == 3);
  CHECK(DataLoader(ds, {.batch_size = 5}).num_batches() == 2);
  CHECK(DataLoader(ds, {.batch_size = 5, .drop_last = true}).num_batches() == 2);
  CHECK(DataLoader(ds, {.batch_size = 64}).num_batches() == 1);
  DataLoader none(ds, {.batch_size = 64, .drop_last = true});
  CHECK(none.num_batches() == 0);
  CHECK(none.begin() == none.end());
}

TEST_CASE("data: an empty dataset gives no batches") {
  DataLoader dl(std::make_shared<Dataset>(zeros({0, 3}), zeros({0}, DType::i32)),
                {.batch_size = 4, .shuffle = true, .prefetch = true});
  CHECK(dl.num_batches() == 0);
  CHECK(pass(dl).empty());
}

TEST_CASE("data: without shuffle the order is the identity, every epoch") {
  DataLoader dl(counting(7), {.batch_size = 3});
  std::vector<int32_t> id(7);
  std::iota(id.begin(), id.end(), 0);
  CHECK(dl.order(0) == id);
  CHECK(dl.order(5) == id);
  CHECK(pass(dl) == std::vector<std::vector<int32_t>>{{0, 1, 2}, {3, 4, 5}, {6}});
}

TEST_CASE("data: shuffled orders are permutations, new each epoch, the same for the same seed") {
  DataLoader a(counting(50), {.batch_size = 8, .shuffle = true, .seed = 3});
  DataLoader b(counting(50), {.batch_size = 8, .shuffle = true, .seed = 3});
  DataLoader c(counting(50), {.batch_size = 8, .shuffle = true, .seed = 4});
  for (int64_t e = 0; e < 3; ++e) {
    CHECK(is_permutation_of_range(a.order(e)));
    CHECK(a.order(e) == b.order(e));
    CHECK(a.order(e) != c.order(e));
    CHECK(a.order(e) != a.order(e + 1));
  }
  std::vector<int32_t> id(50);
  std::iota(id.begin(), id.end(), 0);
  CHECK(a.order(0) != id);
}

TEST_CASE("data: the shuffled order of a seed and epoch is pinned (same on every machine)") {
  DataLoader dl(counting(10), {.batch_size = 4, .shuffle = true, .seed = 1});
  CHECK(dl.order(0) == std::vector<int32_t>{1, 3, 0, 4, 9, 7, 5, 6, 8, 2});
  CHECK(dl.order(1) == std::vector<int32_t>{6, 7, 3, 5, 1, 0, 8, 2, 4, 9});
}

TEST_CASE("data: begin advances the epoch and set_epoch picks the next pass's order") {
  DataLoader dl(counting(20), {.batch_size = 20, .shuffle = true, .seed = 9});
  CHECK(dl.epoch() == 0);
  auto first = pass(dl);
  CHECK(dl.epoch() == 1);
  auto second = pass(dl);
  CHECK(dl.epoch() == 2);
  CHECK(first[0] == dl.order(0));
  CHECK(second[0] == dl.order(1));
  CHECK(first != second);
  dl.set_epoch(0);
  CHECK(pass(dl) == first);
  dl.set_epoch(7);
  CHECK(pass(dl)[0] == dl.order(7));
}

TEST_CASE("data: every example is visited exactly once per epoch") {
  for (bool drop : {false, true}) {
    DataLoader dl(counting(23), {.batch_size = 5, .shuffle = true, .seed = 2, .drop_last = drop});
    for (int epoch = 0; epoch < 3; ++epoch) {
      std::vector<int> seen(23, 0);
      int64_t count = 0;
      for (const Batch& b : dl)
        for (int32_t y : b.y.to_vector<int32_t>()) ++seen[size_t(y)], ++count;
      CHECK(count == (drop ? 20 : 23));
      CHECK(*std::max_element(seen.begin(), seen.end()) == 1);
    }
  }
}

TEST_CASE("data: batches are index_select of the dataset's rows, contiguous, dtype kept") {
  auto ds = counting(9);
  DataLoader dl(ds, {.batch_size = 4, .shuffle = true, .seed = 5});
  const std::vector<int32_t> order = dl.order(0);
  for (int64_t i = 0; i < dl.num_batches(); ++i) {
    Batch b = dl.batch(order, i);
    const int64_t len = std::min<int64_t>(4, 9 - 4 * i);
    Tensor idx =
        from_vector(std::vector<int32_t>(order.begin() + 4 * i, order.begin() + 4 * i + len));
    CHECK(b.x.shape() == Shape{len, 2, 3});
    CHECK(b.x.is_contiguous());
    CHECK(b.x.dtype() == DType::f32);
    CHECK(equal(b.x, ds->x().index_select(0, idx)));
    CHECK(equal(b.y, idx));
  }
  CHECK(has(error_of([&] { dl.batch(order, 3); }), "batch 3 is out of range"));
  // uint8 pixels stay uint8.
  DataLoader u8(std::make_shared<Dataset>(full({3, 2}, 200, DType::u8), zeros({3}, DType::i32)),
                {.batch_size = 2});
  CHECK((*u8.begin()).x.dtype() == DType::u8);
  CHECK((*u8.begin()).x.to_vector<int32_t>() == std::vector<int32_t>{200, 200, 200, 200});
}

TEST_CASE("data: prefetching gives exactly the batches of a plain loader") {
  auto ds = counting(37);
  DataLoader plain(ds, {.batch_size = 6, .shuffle = true, .seed = 11});
  DataLoader pre(ds, {.batch_size = 6, .shuffle = true, .seed = 11, .prefetch = true});
  for (int epoch = 0; epoch < 3; ++epoch) {
    auto p = plain.begin();
    int64_t n = 0;
    for (const Batch& b : pre) {
      REQUIRE(p != plain.end());
      CHECK(equal(b.x, p->x));
      CHECK(equal(b.y, p->y));
      ++p;
      ++n;
    }
    CHECK(p == plain.end());
    CHECK(n == 7);
  }
}

TEST_CASE("data: the prefetching worker lends its core to the caller's small products") {
  // Each batch (64 x 784) times a 784 x 50 weight is a 2.5M multiply-add product, three per
  // batch (a training step's worth): while the worker's queue is full it computes stripes of
  // them (kernels/gemm.h: GemmHelper). The products come out with the bits of a loader without
  // the worker on one thread (no OpenMP team: its spinning worker would hold the core the
  // helper needs); on two or more cores the worker took some.
  Generator gen(5);
  auto ds = std::make_shared<Dataset>(randn({2048, 784}, gen), zeros({2048}, DType::i32));
  const Tensor w = randn({3, 50, 784}, gen);
  auto products = [&](DataLoader& dl) {
    std::vector<std::vector<float>> out;
    for (const Batch& b : dl) {
      std::vector<float> c(size_t(b.x.size(0)) * 150);
      for (int64_t q = 0; q < 3; ++q)
        kernels::cpu::gemm(false, true, b.x.size(0), 50, 784, 1.0f, b.x.data<float>(), 784,
                           w.data<float>() + q * 50 * 784, 784, 0.0f, c.data() + q * 64 * 50, 50);
      out.push_back(std::move(c));
    }
    return out;
  };
  DataLoader plain(ds, {.batch_size = 64, .shuffle = true, .seed = 3});
  DataLoader pre(ds, {.batch_size = 64, .shuffle = true, .seed = 3, .prefetch = true});
  const int64_t helped_before = kernels::cpu::GemmHelper::stripes_helped();
  const bool can_share = omp_get_max_threads() >= 2 && std::thread::hardware_concurrency() >= 2;
  // Until the worker has helped (at most 20 s: another test may hold the cores for a while).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (int epoch = 0; std::chrono::steady_clock::now() < deadline; ++epoch) {
    CAPTURE(epoch);
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    const auto want = products(plain);
    omp_set_num_threads(threads);
    const auto got = products(pre);
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == want[i]);
    if (epoch >= 2 && (!can_share || kernels::cpu::GemmHelper::stripes_helped() > helped_before))
      break;
  }
  if (can_share) CHECK(kernels::cpu::GemmHelper::stripes_helped() > helped_before);
}

TEST_CASE("data: leaving a prefetching loop early neither hangs nor leaks the worker") {
  auto ds = counting(100);
  const bool finished = finishes_within(std::chrono::seconds(30), [ds] {
    DataLoader dl(ds, {.batch_size = 3, .shuffle = true, .prefetch = true});
    for (int rep = 0; rep < 200; ++rep) {
      int taken = 0;
      for (const Batch& b : dl) {
        (void)b;
        if (++taken == rep % 5) break;
      }
      auto it = dl.begin();  // destroyed without ever advancing
      auto moved = std::move(it);
      moved = dl.begin();  // the first worker is stopped here
    }
  });
  CHECK(finished);
}

TEST_CASE("data: an error in the prefetching worker reaches the caller at its batch") {
  for (bool prefetch : {false, true}) {
    CAPTURE(prefetch);
    Tensor y = arange(6, DType::i32);
    DataLoader dl(std::make_shared<Dataset>(zeros({6, 2}), y),
                  {.batch_size = 2, .prefetch = prefetch});
    y.impl()->shape = {3};  // behind the loader's back: rows 3.. no longer exist
    auto it = dl.begin();
    CHECK(it->y.to_vector<int32_t>() == std::vector<int32_t>{0, 1});
    std::string e = error_of([&] { ++it; });
    CHECK(has(e, "index_select"));
    CHECK(has(e, "index 3"));
    if (prefetch) CHECK(has(error_of([&] { ++it; }), "index"));  // sticky, never a hang
    y.impl()->shape = {6};
  }
}

TEST_CASE("data: the batches queued before a worker error are delivered first, in order") {
  // The worker runs several batches ahead: an error at batch 3 must not overtake batches 1-2.
  Tensor y = arange(16, DType::i32);
  DataLoader dl(std::make_shared<Dataset>(zeros({16, 2}), y), {.batch_size = 2, .prefetch = true});
  y.impl()->shape = {7};  // rows 7.. no longer exist: batch 3 (rows 6, 7) fails
  auto it = dl.begin();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let the worker fill its queue
  for (int32_t b = 0; b < 3; ++b) {
    CHECK(it->y.to_vector<int32_t>() == std::vector<int32_t>{2 * b, 2 * b + 1});
    if (b < 2) ++it;
  }
  CHECK(has(error_of([&] { ++it; }), "index 7"));
  CHECK(has(error_of([&] { ++it; }), "index"));  // sticky, never a hang
  y.impl()->shape = {16};
}

TEST_CASE("data: stats_of gives the mean and the unbiased std in float64") {
  Normalization n = stats_of(tensor({1, 2, 3, 4}));
  CHECK(n.mean == doctest::Approx(2.5).epsilon(1e-15));
  CHECK(n.std == doctest::Approx(std::sqrt(5.0 / 3.0)).epsilon(1e-15));
  Normalization u = stats_of(from_vector<uint8_t>({0, 255, 255, 0}, {2, 2}));
  CHECK(u.mean == 127.5);
  CHECK(u.std == doctest::Approx(std::sqrt(4 * 127.5 * 127.5 / 3)).epsilon(1e-15));
  // A non-contiguous view is read in its own elements only.
  Tensor m = tensor({{1, 100}, {3, 100}});
  CHECK(stats_of(m.narrow(1, 0, 1)).mean == 2);
  CHECK(has(error_of([] { stats_of(tensor({1})); }), "at least 2 elements"));
}

TEST_CASE("data: normalize returns float32 (x - mean) / std for any dtype") {
  Tensor x = from_vector<uint8_t>({0, 10, 20}, {3, 1});
  Tensor z = normalize(x, {10, 10});
  CHECK(z.dtype() == DType::f32);
  CHECK(z.shape() == Shape{3, 1});
  CHECK(z.to_vector<float>() == std::vector<float>{-1, 0, 1});
  Tensor i = normalize(from_vector<int32_t>({-4, 4}), {0, 4});
  CHECK(i.to_vector<float>() == std::vector<float>{-1, 1});
  Tensor f = tensor({1, 2, 3, 4});
  Normalization n = stats_of(f);
  Tensor g = normalize(f, n);
  CHECK(stats_of(g).mean == doctest::Approx(0).epsilon(1e-7));
  CHECK(stats_of(g).std == doctest::Approx(1).epsilon(1e-6));
  CHECK(has(error_of([&] { normalize(f, {1, 0}); }), "std must be finite and non-zero"));
  CHECK(has(error_of([&] { normalize(f, stats_of(full({5}, 3))); }), "non-zero"));
}
