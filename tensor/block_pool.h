// BlockPool: the bookkeeping of a caching device allocator, separate from the device so that it
// can be tested on any machine (tests/tensor/test_block_pool.cpp drives it with a fake driver).
// The CUDA allocator (tensor/cuda.cpp) is this pool over cudaMalloc/cudaFree.
//
// Requests are rounded up to a size class (multiples of 512 bytes up to 1 MiB, then four
// classes per power of two: at most 25% slack), and a freed block is kept in a free list keyed
// by (private pool, stream, size class). A later request of the same class on the same stream
// takes it back without asking the driver: work queued on one stream runs in order, so the
// new owner's kernels cannot start before the old owner's have finished with the memory. A
// block is never handed to another stream (no cross-stream reuse, hence no events needed).
//
// Private pools serve CUDA Graph capture: between begin_private() and end_private() every
// allocation comes from, and every free during that time returns to, a pool of its own. A
// captured graph replays with the addresses it recorded, so those blocks must not be given to
// anyone else while the graph exists; release_private() (the graph is destroyed) hands the
// pool's free blocks back to the general cache, and its live blocks go there when freed. A
// general block freed while a capture is open is adopted by the private pool: the captured
// kernels may still use it (a gradient the step replaces), so it must stay reserved too.
//
// When the driver refuses a request, the pool releases its free blocks and tries once more;
// allocate() returns nullptr only when that fails too. Thread-safe (one mutex).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <tuple>
#include <unordered_map>
#include <vector>

namespace tg {

struct PoolStats {
  size_t allocated = 0;        // bytes in live blocks (requested sizes)
  size_t reserved = 0;         // bytes obtained from the driver and not yet returned
  size_t peak_allocated = 0;   // high-water mark of allocated since the last reset_peak()
  size_t cached = 0;           // bytes in free blocks kept for reuse
  uint64_t driver_allocs = 0;  // calls to the driver's alloc that succeeded
  uint64_t driver_frees = 0;   // blocks returned to the driver
  uint64_t allocs = 0;         // allocate() calls served
  uint64_t reuses = 0;         // ... of which from the cache
};

class BlockPool {
 public:
  using Stream = uintptr_t;
  // What the pool allocates from: the CUDA allocator wraps cudaMalloc/cudaFree.
  struct Driver {
    virtual ~Driver() = default;
    virtual void* alloc(size_t bytes) = 0;  // nullptr when out of memory
    virtual void free(void* p) = 0;
  };

  explicit BlockPool(Driver& driver) : driver_(driver) {}
  ~BlockPool();  // returns every free block to the driver (live ones are the owners' problem)
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  static size_t size_class(size_t bytes);

  void* allocate(size_t bytes, Stream stream);  // nullptr: the driver is out of memory
  void deallocate(void* p);                     // p from allocate(); nullptr is ignored
  size_t empty_cache();  // returns free blocks of the general pool to the driver; bytes freed

  PoolStats stats() const;
  void reset_peak();

  // CUDA Graph capture (see above). One private pool may be open at a time.
  int begin_private();
  void end_private();
  void release_private(int id);
  int open_private() const;  // the open pool's id, 0 when none

 private:
  struct Block {
    size_t cls = 0, bytes = 0;
    Stream stream = 0;
    int pool = 0;  // 0: the general pool
  };
  using Key = std::tuple<int, Stream, size_t>;  // (pool, stream, class)

  size_t release_free_blocks(int pool);  // with mu_ held

  Driver& driver_;
  mutable std::mutex mu_;
  std::unordered_map<void*, Block> live_;
  std::map<Key, std::vector<void*>> free_;
  std::map<int, bool> private_alive_;  // id -> its graph still exists
  int open_ = 0, next_id_ = 1;
  PoolStats st_;
};

}  // namespace tg
