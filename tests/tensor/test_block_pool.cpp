// The caching allocator's bookkeeping (BlockPool) over a fake driver, so it is tested on every
// machine: size classes, reuse per stream, statistics, out-of-memory retry and the private
// pools that keep a captured CUDA Graph's memory reserved.
#include <doctest/doctest.h>

#include <cstdlib>
#include <set>

#include "tensor/block_pool.h"
#include "test_util.h"

using tg::BlockPool;

namespace {

// Hands out host memory and counts calls; refuses once `limit` bytes are out.
struct FakeDriver final : BlockPool::Driver {
  size_t out = 0, limit = size_t(1) << 40;
  int allocs = 0, frees = 0;
  std::set<void*> live;
  std::map<void*, size_t> sizes;
  void* alloc(size_t bytes) override {
    if (out + bytes > limit) return nullptr;
    void* p = std::malloc(bytes);
    out += bytes, ++allocs, live.insert(p), sizes[p] = bytes;
    return p;
  }
  void free(void* p) override {
    REQUIRE(live.erase(p) == 1);
    out -= sizes[p], ++frees;
    std::free(p);
  }
};

}  // namespace

TEST_CASE("size classes round up by 512 bytes, then by a quarter power of two") {
  CHECK(BlockPool::size_class(0) == 512);
  CHECK(BlockPool::size_class(1) == 512);
  CHECK(BlockPool::size_class(512) == 512);
  CHECK(BlockPool::size_class(513) == 1024);
  CHECK(BlockPool::size_class(1 << 20) == (1 << 20));
  CHECK(BlockPool::size_class((1 << 20) + 1) == (1 << 20) + (1 << 18));
  CHECK(BlockPool::size_class(3000000) == 3145728);  // 2 MiB + 2 * 512 KiB
}

TEST_CASE("a freed block is reused on the same stream, not on another") {
  FakeDriver d;
  BlockPool pool(d);
  void* a = pool.allocate(1000, 1);
  pool.deallocate(a);
  CHECK(pool.stats().cached == 1024);
  void* b = pool.allocate(900, 1);  // same class
  CHECK(b == a);
  CHECK(d.allocs == 1);
  pool.deallocate(b);
  void* c = pool.allocate(900, 2);  // another stream: a new block
  CHECK(c != a);
  CHECK(d.allocs == 2);
  pool.deallocate(c);
  const auto st = pool.stats();
  CHECK(st.allocs == 3);
  CHECK(st.reuses == 1);
  CHECK(st.driver_allocs == 2);
}

TEST_CASE("statistics: allocated, reserved, peak, and empty_cache returns blocks") {
  FakeDriver d;
  BlockPool pool(d);
  void* a = pool.allocate(3000, 0);
  void* b = pool.allocate(5000, 0);
  CHECK(pool.stats().allocated == 8000);
  CHECK(pool.stats().reserved == 3072 + 5120);
  pool.deallocate(a);
  CHECK(pool.stats().allocated == 5000);
  CHECK(pool.stats().peak_allocated == 8000);
  pool.reset_peak();
  CHECK(pool.stats().peak_allocated == 5000);
  CHECK(pool.empty_cache() == 3072);
  CHECK(d.frees == 1);
  CHECK(pool.stats().reserved == 5120);
  pool.deallocate(b);
  CHECK(pool.stats().allocated == 0);
}

TEST_CASE("a steady loop of the same sizes stops calling the driver") {
  FakeDriver d;
  BlockPool pool(d);
  for (int step = 0; step < 10; ++step) {
    std::vector<void*> temps;
    for (size_t bytes : {256u * 50 * 4, 64u * 784 * 4, 64u * 10 * 4, 4u}) {
      temps.push_back(pool.allocate(bytes, 7));
    }
    for (void* p : temps) pool.deallocate(p);
    if (step == 0) CHECK(d.allocs == 4);
  }
  CHECK(d.allocs == 4);
}

TEST_CASE("out of memory: the cache is released and the request tried again") {
  FakeDriver d;
  d.limit = 10000;
  BlockPool pool(d);
  void* a = pool.allocate(6000, 0);
  pool.deallocate(a);  // cached: the driver still counts 6144 out
  void* b = pool.allocate(8000, 0);
  CHECK(b != nullptr);
  CHECK(d.frees == 1);
  CHECK(pool.allocate(8000, 0) == nullptr);  // truly out: nullptr, the caller reports it
  pool.deallocate(b);
}

TEST_CASE("freeing a pointer twice or a foreign one is an error naming it") {
  FakeDriver d;
  BlockPool pool(d);
  void* a = pool.allocate(10, 0);
  pool.deallocate(a);
  CHECK(tg::test::has(tg::test::error_of([&] { pool.deallocate(a); }), "freed twice"));
  int x = 0;
  CHECK(tg::test::has(tg::test::error_of([&] { pool.deallocate(&x); }), "not allocated"));
}

TEST_CASE("a private pool keeps its blocks until released") {
  FakeDriver d;
  BlockPool pool(d);
  void* before = pool.allocate(2048, 0);  // general, live across the capture
  void* g0 = pool.allocate(4096, 0);
  pool.deallocate(g0);  // general cache holds a 4096 block
  const int id = pool.begin_private();
  CHECK(pool.open_private() == id);
  void* p = pool.allocate(4096, 0);
  CHECK(p != g0);  // the capture does not take general blocks
  pool.deallocate(p);
  void* q = pool.allocate(4096, 0);
  CHECK(q == p);            // but reuses its own
  pool.deallocate(before);  // freed during capture: adopted by the private pool
  pool.end_private();
  void* r = pool.allocate(4096, 0);
  CHECK(r == g0);  // outside the capture, the general cache serves
  void* s = pool.allocate(2048, 0);
  CHECK(s != before);  // the adopted block stays with the graph
  pool.deallocate(r);
  pool.deallocate(s);
  CHECK(tg::test::has(tg::test::error_of([&] {
                        pool.begin_private();
                        pool.begin_private();
                      }),
                      "still open"));
  pool.end_private();
  pool.release_private(id);
  // Released: q and `before` are general again and serve the next requests.
  void* t = pool.allocate(2048, 0);
  CHECK((t == before || t == s));
  pool.deallocate(t);
  pool.deallocate(q);
  CHECK(tg::test::has(tg::test::error_of([&] { pool.release_private(id); }), "already released"));
}
