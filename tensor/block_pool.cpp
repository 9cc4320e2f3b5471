// BlockPool: size classes, free lists per (pool, stream, class), private pools for graph
// capture, statistics. block_pool.h explains the rules.
#include "tensor/block_pool.h"

#include <algorithm>

#include "base/error.h"

namespace tg {

size_t BlockPool::size_class(size_t bytes) {
  constexpr size_t kSmall = 512, kSmallLimit = size_t(1) << 20;
  if (bytes <= kSmallLimit) return bytes == 0 ? kSmall : (bytes + kSmall - 1) / kSmall * kSmall;
  const size_t p = size_t(1) << (63 - __builtin_clzll(bytes - 1));  // largest power of 2 < bytes
  const size_t step = p / 4;
  return (bytes + step - 1) / step * step;
}

BlockPool::~BlockPool() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [key, blocks] : free_)
    for (void* b : blocks) driver_.free(b);
  free_.clear();
}

void* BlockPool::allocate(size_t bytes, Stream stream) {
  const size_t cls = size_class(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  const int pool = open_;
  void* p = nullptr;
  auto it = free_.find(Key{pool, stream, cls});
  if (it != free_.end() && !it->second.empty()) {
    p = it->second.back();
    it->second.pop_back();
    st_.cached -= cls;
    ++st_.reuses;
  } else {
    p = driver_.alloc(cls);
    if (!p) {  // give the cache back and try once more
      release_free_blocks(0);
      p = driver_.alloc(cls);
      if (!p) return nullptr;
    }
    ++st_.driver_allocs;
    st_.reserved += cls;
  }
  live_[p] = Block{cls, bytes, stream, pool};
  ++st_.allocs;
  st_.allocated += bytes;
  st_.peak_allocated = std::max(st_.peak_allocated, st_.allocated);
  return p;
}

void BlockPool::deallocate(void* p) {
  if (!p) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = live_.find(p);
  TG_CHECK(it != live_.end(), "BlockPool::deallocate", "pointer ", p,
           " was not allocated by this pool (or was freed twice)");
  Block b = it->second;
  live_.erase(it);
  st_.allocated -= b.bytes;
  // A block of a released private pool joins the general pool. A general block freed during a
  // capture may be one the captured kernels use (a gradient the step replaces): the open
  // private pool adopts it, so it stays reserved for the graph.
  if (b.pool != 0 && !private_alive_[b.pool]) b.pool = 0;
  if (b.pool == 0 && open_ != 0) b.pool = open_;
  free_[Key{b.pool, b.stream, b.cls}].push_back(p);
  st_.cached += b.cls;
}

size_t BlockPool::release_free_blocks(int pool) {
  size_t freed = 0;
  for (auto it = free_.begin(); it != free_.end();) {
    if (std::get<0>(it->first) != pool) {
      ++it;
      continue;
    }
    const size_t cls = std::get<2>(it->first);
    for (void* b : it->second) {
      driver_.free(b);
      freed += cls;
      ++st_.driver_frees;
    }
    it = free_.erase(it);
  }
  st_.cached -= freed;
  st_.reserved -= freed;
  return freed;
}

size_t BlockPool::empty_cache() {
  std::lock_guard<std::mutex> lock(mu_);
  return release_free_blocks(0);
}

PoolStats BlockPool::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return st_;
}

void BlockPool::reset_peak() {
  std::lock_guard<std::mutex> lock(mu_);
  st_.peak_allocated = st_.allocated;
}

int BlockPool::begin_private() {
  std::lock_guard<std::mutex> lock(mu_);
  TG_CHECK(open_ == 0, "BlockPool::begin_private", "private pool ", open_,
           " is still open (graph captures cannot nest)");
  open_ = next_id_++;
  private_alive_[open_] = true;
  return open_;
}

void BlockPool::end_private() {
  std::lock_guard<std::mutex> lock(mu_);
  TG_CHECK(open_ != 0, "BlockPool::end_private", "no private pool is open");
  open_ = 0;
}

void BlockPool::release_private(int id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto alive = private_alive_.find(id);
  TG_CHECK(alive != private_alive_.end() && alive->second, "BlockPool::release_private",
           "private pool ", id, " does not exist or was already released");
  TG_CHECK(open_ != id, "BlockPool::release_private", "private pool ", id,
           " is still open (call end_private first)");
  alive->second = false;
  // Its free blocks move to the general pool, keeping their stream and class.
  for (auto it = free_.begin(); it != free_.end();) {
    if (std::get<0>(it->first) != id) {
      ++it;
      continue;
    }
    auto& dst = free_[Key{0, std::get<1>(it->first), std::get<2>(it->first)}];
    dst.insert(dst.end(), it->second.begin(), it->second.end());
    it = free_.erase(it);
  }
}

int BlockPool::open_private() const {
  std::lock_guard<std::mutex> lock(mu_);
  return open_;
}

}  // namespace tg
