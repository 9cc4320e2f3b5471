// Force-included before everything: CUDA kernels compiled as host C++ and run with one fiber
// per CUDA thread (switching only at __syncthreads / __syncwarp / shuffles).
//
// Scheduling order between barriers: EMU_ORDER=fwd (default: thread 0 first), rev (last thread
// first), shuffle (seeded by EMU_SEED). A race that reads data another thread writes before a
// barrier shows up in one of the orders.
#pragma once
#include <cuda_runtime.h>  // types, float4, make_float4; host-compiled: __device__ etc. empty
#undef __shared__
#define __shared__ static
#ifndef __launch_bounds__
#define __launch_bounds__(...)
#endif
#include <sys/mman.h>
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <tuple>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define EMU_ASAN 1
#else
#define EMU_ASAN 0
#endif

namespace emu {
extern "C" void emu_switch(void** save_sp, void* new_sp);
struct Fiber {
  void* sp = nullptr;
  uint3 tid;
  int lin = 0;
  bool done = false;
};
inline void* sched_sp = nullptr;
inline std::vector<Fiber> fibers;
inline std::vector<char*> stacks;
constexpr size_t kStack = 128 * 1024, kGuard = 4096;
inline int cur = 0;
inline uint3 block_idx;
inline dim3 block_dim, grid_dim;
inline const std::function<void()>* body = nullptr;
inline const char* kernel_name = "";
inline int nthreads = 0, nlive = 0;
inline unsigned block_count = 0, block_gen = 0;
inline std::vector<unsigned> warp_count, warp_gen;
inline std::vector<std::array<uint64_t, 32>> slots;
inline long long progress = 0;
inline bool warned_exit_barrier = false;
#if EMU_ASAN
inline void* fake_stack_sched = nullptr;
inline const void* sched_stack_bottom = nullptr;
inline size_t sched_stack_size = 0;
#endif

// Switch from the current fiber to the scheduler.
inline void to_sched() {
#if EMU_ASAN
  void* fs = nullptr;
  __sanitizer_start_switch_fiber(&fs, sched_stack_bottom, sched_stack_size);
  emu_switch(&fibers[cur].sp, sched_sp);
  __sanitizer_finish_switch_fiber(fs, nullptr, nullptr);
#else
  emu_switch(&fibers[cur].sp, sched_sp);
#endif
}
inline void yield() {
  to_sched();
}
// A barrier completes when every thread that has not exited has arrived (exited threads count
// as arrived, as on Volta and later; the CUDA guide calls a barrier not reached by all threads
// undefined, so it is reported once).
inline void syncthreads() {
  const unsigned g = block_gen;
  if (nlive != nthreads && !warned_exit_barrier) {
    warned_exit_barrier = true;
    std::fprintf(stderr, "emu WARNING: __syncthreads in %s after %d thread(s) exited\n",
                 kernel_name, nthreads - nlive);
  }
  if (++block_count == unsigned(nlive)) {
    block_count = 0;
    ++block_gen;
    ++progress;
    return;
  }
  while (block_gen == g) yield();
}
inline void syncwarp() {
  const int w = fibers[cur].lin / 32;
  const unsigned g = warp_gen[w];
  int live = 0;
  for (int l = 0; l < 32; ++l) live += !fibers[w * 32 + l].done;
  if (++warp_count[w] == unsigned(live)) {
    warp_count[w] = 0;
    ++warp_gen[w];
    ++progress;
    return;
  }
  while (warp_gen[w] == g) yield();
}
template <typename T>
T shfl(T v, int src_lane) {
  static_assert(sizeof(T) <= 8);
  const int lin = fibers[cur].lin, w = lin / 32, lane = lin % 32;
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  slots[w][lane] = bits;
  syncwarp();
  T r;
  const uint64_t got = slots[w][(src_lane >= 0 && src_lane < 32) ? src_lane : lane];
  std::memcpy(&r, &got, sizeof(T));
  syncwarp();
  return r;
}
[[noreturn]] inline void trampoline() {
#if EMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &sched_stack_bottom, &sched_stack_size);
#endif
  (*body)();
  fibers[cur].done = true;
  --nlive;
  ++progress;
  void* dead;
#if EMU_ASAN
  __sanitizer_start_switch_fiber(nullptr, sched_stack_bottom, sched_stack_size);
#endif
  emu_switch(&dead, sched_sp);
  std::abort();
}

// Stream capture: launches are recorded instead of run while capturing.
struct Node {
  dim3 grid, block;
  const char* name;
  std::function<void()> f;        // a kernel
  std::function<void()> host_op;  // a memcpy / memset
};
inline bool capturing = false;
inline std::vector<Node>* capture_list = nullptr;
inline long long launches = 0;
// EMU_LAUNCH_TRACE=1: every call that would reach the GPU from the host (kernel launch, copy,
// memset, GEMM, graph launch; not those recorded by a capture) is printed to stderr, so the
// host-side work of a training step can be counted.
inline void trace(const char* what) {
  static const bool on = [] {
    const char* e = std::getenv("EMU_LAUNCH_TRACE");
    return e && *e == '1';
  }();
  if (on) std::fprintf(stderr, "cuda-emu: launch %s\n", what);
}

inline int order_mode() {
  static int m = [] {
    const char* e = std::getenv("EMU_ORDER");
    if (!e || !std::strcmp(e, "fwd")) return 0;
    if (!std::strcmp(e, "rev")) return 1;
    if (!std::strcmp(e, "shuffle")) return 2;
    std::fprintf(stderr, "emu: EMU_ORDER must be fwd, rev or shuffle\n");
    std::abort();
  }();
  return m;
}

inline void run_kernel(dim3 grid, dim3 block, const char* name, const std::function<void()>& f) {
  ++launches;
  grid_dim = grid;
  block_dim = block;
  kernel_name = name;
  warned_exit_barrier = false;
  nthreads = int(block.x * block.y * block.z);
  if (nthreads <= 0 || nthreads > 1024 || block.z > 64 || grid.x == 0 || grid.y == 0 ||
      grid.z == 0 || grid.y > 65535 || grid.z > 65535 || grid.x > 0x7fffffffu) {
    std::fprintf(stderr, "emu: invalid launch of %s: grid (%u,%u,%u) block (%u,%u,%u)\n", name,
                 grid.x, grid.y, grid.z, block.x, block.y, block.z);
    std::abort();
  }
  body = &f;
  const int nwarps = (nthreads + 31) / 32;
  while (stacks.size() < size_t(nwarps * 32)) {
    char* m = static_cast<char*>(mmap(nullptr, kStack + kGuard, PROT_READ | PROT_WRITE,
                                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
    if (m == MAP_FAILED) std::abort();
    mprotect(m, kGuard, PROT_NONE);  // overflow faults instead of corrupting
    stacks.push_back(m + kGuard);
  }
  std::vector<int> order(nthreads);
  for (int t = 0; t < nthreads; ++t) order[t] = t;
  if (order_mode() == 1) std::reverse(order.begin(), order.end());
  static std::mt19937 rng(std::getenv("EMU_SEED") ? std::atoi(std::getenv("EMU_SEED")) : 1);
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        block_idx = {bx, by, bz};
        // Partial warps: the missing lanes count as exited.
        fibers.assign(nwarps * 32, Fiber{});
        for (int t = nthreads; t < nwarps * 32; ++t) fibers[t].done = true;
        warp_count.assign(nwarps, 0);
        warp_gen.assign(nwarps, 0);
        slots.assign(nwarps, {});
        block_count = 0;
        nlive = nthreads;
        for (int t = 0; t < nthreads; ++t) {
          Fiber& fb = fibers[t];
          fb.lin = t;
          fb.tid = {unsigned(t % block.x), unsigned(t / block.x % block.y),
                    unsigned(t / (block.x * block.y))};
#if EMU_ASAN
          __asan_unpoison_memory_region(stacks[t], kStack);  // frames left by the last block
#endif
          uintptr_t top = (reinterpret_cast<uintptr_t>(stacks[t]) + kStack) & ~uintptr_t(15);
          void** sp = reinterpret_cast<void**>(top);
          *--sp = nullptr;  // fake return address of trampoline (alignment)
          *--sp = reinterpret_cast<void*>(&trampoline);
          for (int r = 0; r < 6; ++r) *--sp = nullptr;
          fb.sp = sp;
        }
        if (order_mode() == 2) std::shuffle(order.begin(), order.end(), rng);
        for (;;) {
          bool all_done = true;
          const long long before = progress;
          for (int t : order) {
            if (fibers[t].done) continue;
            all_done = false;
            cur = t;
#if EMU_ASAN
            void* fs = nullptr;
            __sanitizer_start_switch_fiber(&fs, stacks[t], kStack);
            emu_switch(&sched_sp, fibers[t].sp);
            __sanitizer_finish_switch_fiber(fs, nullptr, nullptr);
#else
            emu_switch(&sched_sp, fibers[t].sp);
#endif
          }
          if (all_done) break;
          if (progress == before) {
            std::fprintf(stderr, "emu: deadlock in %s, block (%u,%u,%u)\n", name, bx, by, bz);
            std::abort();
          }
        }
      }
}

// Static shared memory above 48 KiB fails at launch on real hardware; dynamic shared memory
// is not emulated (no kernel here uses it).
inline void launch(dim3 grid, dim3 block, size_t shmem, const char* name, std::function<void()> f) {
  if (shmem != 0) {
    std::fprintf(stderr, "emu: dynamic shared memory (%zu bytes) in %s is not emulated\n", shmem,
                 name);
    std::abort();
  }
  if (capturing) {
    capture_list->push_back(Node{grid, block, name, std::move(f), {}});
    return;
  }
  trace(name);
  run_kernel(grid, block, name, f);
}
}  // namespace emu
#define threadIdx (emu::fibers[emu::cur].tid)
#define blockIdx (emu::block_idx)
#define blockDim (emu::block_dim)
#define gridDim (emu::grid_dim)
inline void __syncthreads() {
  emu::syncthreads();
}
inline void __syncwarp(unsigned = 0xffffffffu) {
  emu::syncwarp();
}
template <typename T>
T __shfl_sync(unsigned, T v, int src) {
  return emu::shfl(v, src & 31);
}
template <typename T>
T __shfl_down_sync(unsigned, T v, int off) {
  return emu::shfl(v, int(emu::fibers[emu::cur].lin % 32) + off);
}
template <typename T>
T __shfl_xor_sync(unsigned, T v, int m) {
  return emu::shfl(v, int(emu::fibers[emu::cur].lin % 32) ^ m);
}
// Fibers never preempt each other, so plain read-modify-writes are atomic.
inline int atomicCAS(int* p, int cmp, int val) {
  int old = *p;
  if (old == cmp) *p = val;
  return old;
}
inline int atomicExch(int* p, int val) {
  int old = *p;
  *p = val;
  return old;
}
template <typename T>
T atomicAdd(T* p, T v) {
  T old = *p;
  *p = old + v;
  return old;
}
inline void __threadfence() {}
inline void __threadfence_system() {}
template <typename T>
T __ldg(const T* p) {
  return *p;
}
