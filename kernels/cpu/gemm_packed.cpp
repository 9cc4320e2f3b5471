// GEMM rungs 4 (packed, one thread) and 5 (gemm: packed + OpenMP), the library's float GEMM.
//
// Algorithm (Goto / BLIS): five loops around a register-blocked micro-kernel.
//   for jc in n step kNC:
//     for pc in k step kKC:               pack op(B)(pc.., jc..) into kNR-wide slivers
//       for ic in m step kMC:             pack op(A)(ic.., pc..) into kMR-tall slivers (L2)
//         for jr in nc step kNR:          one B sliver (kKC x kNR) is reused by
//           for ir in mc step kMR:        every A sliver of the block:
//             micro-kernel: the kMR x kNR tile of C += A sliver * B sliver, the tile kept in
//             registers for the whole kKC loop (AVX-512: 14 x 32 = 28 zmm accumulators).
// Cost: 2*m*n*k FLOPs. Bytes: A is packed (read + written) ceil(n/kNC) times, B once; C is
// read and written ceil(k/kKC) times; from cache the micro-kernel reads kMR + kNR floats per
// kMR*kNR multiply-adds (46 floats per 448), which is what makes it compute bound.
//
// Why packing: the micro-kernel then reads both operands with unit stride from aligned,
// contiguous memory whatever the transposes and leading dimensions, edges are zero padded so
// one kernel serves every tile, and the panels live in the cache level they were sized for.
//
// Threads (rung 5): C is cut into one stripe per thread (rows, or columns when C is wide) and
// each stripe is a whole single-threaded GEMM with private panels: no barriers, no shared
// cache lines. Products under 1M multiply-adds stay on the calling thread, with no OpenMP
// region at all. Those under 4M, while GemmBackgroundThreads is active (kernels/gemm.h), are
// not given to the OpenMP team but shared with the GemmHelper threads, if any (the board
// below): the caller computes every stripe no helper has taken.
//
// Small products (under 4M multiply-adds) skip the packing: the same tiles read
// A where it lies (a broadcast takes any stride) and B's rows too unless B is transposed, and
// each tile is as tall as the rows left. On a 64^3 product, packing and the padded tiles of
// a ragged m had cost a quarter of the time.
//
// Determinism: kKC is a constant, so each C element is the same sum of the same kKC-long
// partial products (each one added in ascending k inside the micro-kernel, in registers)
// whatever the thread count or the split of C among threads; threads only decide *who*
// computes a tile. Hence gemm == gemm_packed bit for bit, for any OMP_NUM_THREADS.
//
// Orientation: a micro-tile computes all kMR x kNR products even on C's ragged edges, so a
// small C whose sides are not multiples of the tile wastes FMAs (the course MLP's 64 x 50
// forward product fills 71% of its 14 x 32 tiles). When C^T = op(B)^T op(A)^T fills the tiles
// markedly better (50 x 64: 89%), that product is computed into a scratch C^T and transposed
// into C. Each element is still the same FMA chain over the same k, so the result is the same
// bit for bit.
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <new>
#include <string>
#include <string_view>
#include <utility>

#include "kernels/cpu_info.h"
#include "kernels/gemm.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define TG_GEMM_X86 1
#include <immintrin.h>
#else
#define TG_GEMM_X86 0
#endif

namespace tg::kernels::cpu {

namespace detail {  // defined in gemm_ladder.cpp
template <typename T>
void gemm_scale_c(int64_t m, int64_t n, T beta, T* c, int64_t ldc);
}  // namespace detail

namespace {

// Cache blocking. kKC is fixed: it sets the summation order, so it must not depend on
// anything but this constant (not the ISA, the cache sizes or the thread count). On the Zen
// machines measured every kKC from 192 to 768 came within 3% (the AVX-512 kernel needs only
// 184 bytes per 14 cycles, which L2 delivers easily); 512 was marginally the best, and a long
// kKC halves the passes over C compared with 256. mc and nc only say which tiles are computed
// together, never how a sum is formed, so they follow the caches (gemm_config()).
constexpr int64_t kKC = 512;
// Below this many multiply-adds one thread does the product. Back to back, with the team
// awake, 128^3 (2M) is 1.5x faster on two threads; but in a training loop the team sleeps
// between steps, and the course MLP's 64x784x50 products (2.5M) made the epoch slower on two
// threads than on one. 4M keeps those on one thread (kernels/cpu/common.h: kParallelMin).
constexpr double kParallelMin = 4.0 * 1024.0 * 1024.0;
// Direct products (Small products, above) from this size split over the threads, each thread
// direct on its stripe of C, unless GemmBackgroundThreads is active: back to back 128^3 takes
// 21 instead of 38 us on two threads, the course MLP's products 27-31 instead of 48-49.
constexpr double kDirectParallelMin = 1.0 * 1024.0 * 1024.0;

std::atomic<int> background_threads{0};  // live GemmBackgroundThreads guards

struct Strides {
  int64_t rs, cs;  // op(X)(i, j) = x[i * rs + j * cs]
};

// One GEMM's operands; op(X)(i, j) = x[i * rs + j * cs].
struct Job {
  int64_t m, n, k;
  float alpha, beta;
  const float* a;
  Strides as;
  const float* b;
  Strides bs;
  float* c;
  int64_t ldc;
};

// The rows of an A block (a multiple of the ISA's kMR) and the columns of a B panel.
struct Blocking {
  int64_t mc, nc;
};

// A 64-byte aligned scratch buffer that only grows: no allocation once warm.
class Scratch {
 public:
  ~Scratch() { std::free(data_); }
  float* get(int64_t n) {
    if (n > size_) {
      std::free(data_);
      const size_t bytes = (size_t(n) * sizeof(float) + 63) / 64 * 64;
      data_ = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (data_ == nullptr) throw std::bad_alloc();
      size_ = n;
    }
    return data_;
  }

 private:
  float* data_ = nullptr;
  int64_t size_ = 0;
};
thread_local Scratch tls_a, tls_b, tls_c;  // tls_c: a transposed C (Orientation)

// ---- Sharing a product with GemmHelper threads (kernels/gemm.h) ------------------------------
// The board holds the one product being shared. Its poster owns it (owned), writes the
// product's stripe function, then opens it with one store of the ticket word: the number of
// stripes in the high half, the next stripe to hand out (0) in the low half. Everyone (poster
// and helpers) takes a stripe with ticket++ and computes it if the low half of what that
// returned is below the high half, counting it in done. Out of stripes, the poster waits for
// done to reach the count, closes the board (ticket = 0: no stripes) and gives it up. A ticket
// carries its own product's stripe count, so a late ticket++ never takes a stripe that is not
// there, and whoever holds a valid one reads the function stored before the board opened
// (acquire on the ticket): the product cannot end before that stripe is done.
int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// How long a poster spins for the stripes helpers took before it sleeps; a wait longer than
// kSlowWaitMicros (a stripe takes about 10) stops the sharing for kBackoffMicros.
constexpr int64_t kSpinMicros = 30, kSlowWaitMicros = 200, kBackoffMicros = 100000;

inline void cpu_relax() {
#if TG_GEMM_X86
  _mm_pause();
#endif
}

struct Board {
  std::atomic<bool> owned{false};
  std::atomic<uint64_t> ticket{0};  // stripes << 32 | next stripe
  std::atomic<int> done{0};
  std::atomic<void (*)(const void*, int)> run{nullptr};
  std::atomic<const void*> ctx{nullptr};
  std::atomic<int> helpers{0};               // live GemmHelper objects
  std::atomic<int64_t> last_post_us{0};      // when a product was last posted
  std::atomic<int64_t> backoff_until_us{0};  // no sharing before then (a slow helper)
  std::atomic<int64_t> helped{0};            // stripes computed by help()
  std::atomic<bool> failed{false};
  std::mutex error_m;
  std::exception_ptr error;  // the first stripe's exception, for the poster

  static bool open(uint64_t t) { return uint32_t(t) < uint32_t(t >> 32); }
  // Takes and computes one stripe; false when none was left.
  bool take_one() {
    const uint64_t t = ticket.fetch_add(1, std::memory_order_acq_rel);
    if (!open(t)) return false;
    try {
      run.load(std::memory_order_relaxed)(ctx.load(std::memory_order_relaxed), int(uint32_t(t)));
    } catch (...) {
      std::lock_guard lk(error_m);
      if (!error) error = std::current_exception();
      failed.store(true, std::memory_order_relaxed);
    }
    done.fetch_add(1, std::memory_order_release);
    done.notify_all();  // (a load of the waiter count unless the poster sleeps)
    return true;
  }
};
Board board;

template <typename F>
void call_stripe(const void* f, int s) {
  (*static_cast<const F*>(f))(s);
}

// Computes stripe(0) .. stripe(n - 1), sharing them with the helpers; false (nothing computed)
// when another thread's product holds the board.
template <typename F>
bool share_stripes(int n, const F& stripe) {
  if (board.owned.exchange(true, std::memory_order_acquire)) return false;
  board.run.store(&call_stripe<F>, std::memory_order_relaxed);
  board.ctx.store(&stripe, std::memory_order_relaxed);
  board.done.store(0, std::memory_order_relaxed);
  board.failed.store(false, std::memory_order_relaxed);
  board.last_post_us.store(now_us(), std::memory_order_relaxed);
  board.ticket.store(uint64_t(n) << 32, std::memory_order_release);  // open
  while (board.take_one()) {
  }
  // The stripes helpers took: spin a while (a stripe takes microseconds), then sleep, so that a
  // helper descheduled mid-stripe (a busy machine) can be moved onto this core to finish it.
  const int64_t t0 = now_us();
  bool slept = false;
  for (int d, spins = 0; (d = board.done.load(std::memory_order_acquire)) < n;) {
    if (++spins % 64 != 0 || now_us() - t0 < kSpinMicros) {
      cpu_relax();
    } else {
      board.done.wait(d, std::memory_order_acquire);
      slept = true;
    }
  }
  // A helper that kept the caller waiting this long was off its core: the machine is busy,
  // and for a while products are not shared (the caller waits for no one).
  if (slept && now_us() - t0 > kSlowWaitMicros)
    board.backoff_until_us.store(now_us() + kBackoffMicros, std::memory_order_relaxed);
  board.ticket.store(0, std::memory_order_relaxed);  // closed
  std::exception_ptr err;
  if (board.failed.load(std::memory_order_relaxed)) {
    std::lock_guard lk(board.error_m);
    err = std::exchange(board.error, nullptr);
  }
  board.owned.store(false, std::memory_order_release);
  if (err) std::rethrow_exception(err);
  return true;
}

// The kernels, once per ISA (kernels/cpu/gemm_packed_isa.h).
#if TG_GEMM_X86
#pragma GCC push_options
#pragma GCC target("avx512f,fma")
namespace avx512 {
#define TG_GEMM_LEVEL 3
#include "kernels/cpu/gemm_packed_isa.h"
#undef TG_GEMM_LEVEL
}  // namespace avx512
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace avx2 {
#define TG_GEMM_LEVEL 2
#include "kernels/cpu/gemm_packed_isa.h"
#undef TG_GEMM_LEVEL
}  // namespace avx2
#pragma GCC pop_options
#endif

namespace generic {
#define TG_GEMM_LEVEL 1
#include "kernels/cpu/gemm_packed_isa.h"
#undef TG_GEMM_LEVEL
}  // namespace generic

struct IsaEntry {
  GemmIsa isa;
  int64_t mr, nr;
  bool direct;  // has direct (unpacked) products for small ones
  void (*multiply)(const Job&, const Blocking&, int, bool, bool);
};

constexpr IsaEntry kIsas[] = {
#if TG_GEMM_X86
    {GemmIsa::avx512, avx512::kMR, avx512::kNR, avx512::kHasDirect, &avx512::multiply},
    {GemmIsa::avx2, avx2::kMR, avx2::kNR, avx2::kHasDirect, &avx2::multiply},
#endif
    {GemmIsa::generic, generic::kMR, generic::kNR, generic::kHasDirect, &generic::multiply},
};

constexpr size_t kNumIsas = sizeof(kIsas) / sizeof(kIsas[0]);

// kIsas' index of isa; kNumIsas when this build has no kernel for it.
size_t entry_index(GemmIsa isa) {
  size_t i = 0;
  while (i < kNumIsas && kIsas[i].isa != isa) ++i;
  return i;
}

bool cpu_runs(GemmIsa isa) {
#if TG_GEMM_X86
  switch (isa) {
    case GemmIsa::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
    case GemmIsa::avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case GemmIsa::generic:
      return true;
  }
  return false;
#else
  return isa == GemmIsa::generic;
#endif
}

// mc: the A block (mc x kKC floats) fills about a quarter of one core's L2, leaving room for
// the B sliver streaming through and C's tiles (on the 1 MiB L2 of the Zen machines, 126 rows
// of 512: 252 KiB; the measured best was 112-126). nc: the B panel (kKC x nc floats) about a
// quarter of this core's share of L3 (L3 over the CPUs that share it), between 256 and 4096
// columns; with no L3 reported, 1024.
GemmConfig blocking_for(const IsaEntry& e, const CpuCaches& caches) {
  GemmConfig g{};
  g.isa = e.isa;
  g.mr = e.mr;
  g.nr = e.nr;
  g.kc = kKC;
  const int64_t l2 = caches.l2 > 0 ? caches.l2 : 1024 * 1024;
  const int64_t rows = l2 / 4 / (kKC * int64_t(sizeof(float)));
  g.mc = std::max<int64_t>(2, rows / e.mr) * e.mr;
  int64_t cols = 1024;
  if (caches.l3 > 0) {
    const int64_t share = caches.l3 / std::max(1, caches.l3_shared_by);
    cols = std::clamp<int64_t>(share / 4 / (kKC * int64_t(sizeof(float))), 256, 4096);
  }
  g.nc = std::max<int64_t>(1, cols / e.nr) * e.nr;
  return g;
}

// The fraction of the micro-tiles' multiply-adds that land in an m x n C (the kernels use
// half-width B slivers when n <= nr / 2; direct products have tiles as tall as the rows left,
// so only the columns can waste).
double tile_use(const IsaEntry& e, int64_t m, int64_t n, bool direct) {
  const int64_t nr = n <= e.nr / 2 ? e.nr / 2 : e.nr;
  auto use = [](int64_t x, int64_t t) { return double(x) / double((x + t - 1) / t * t); };
  return (direct ? 1.0 : use(m, e.mr)) * use(n, nr);
}

// Whether to compute C^T instead (see Orientation above): C small enough that its scratch
// copy and the strided transposes stay in L1/L2 (at most 16K floats), k long enough that those
// two extra passes over C are cheap beside the product (a 64 x 784 C with k = 50 computed
// this way took 87 us instead of 57), and at least 10% fewer wasted multiply-adds.
bool transpose_pays(const IsaEntry& e, int64_t m, int64_t n, int64_t k, bool direct) {
  return m * n <= 16384 && k >= 128 && tile_use(e, n, m, direct) > 1.1 * tile_use(e, m, n, direct);
}

// Whether a small product (direct-capable kernel, at most kParallelMin multiply-adds) is
// computed direct (kernels/cpu/gemm_packed_isa.h): packing a panel costs as much as a third of
// a 64^3 product, and the operands of a small product sit in L1/L2 as they are. Not when A's
// rows (read where they lie, kMR of them at a time) are a multiple of 4 KiB apart: those rows
// fall in one L1 set, more of them than it has ways.
bool direct_pays(const Job& x) {
  return !(x.as.cs == 1 && x.m > 1 && x.as.rs % 1024 == 0);
}

GemmIsa parse_isa(std::string_view name) {
  for (GemmIsa isa : {GemmIsa::avx512, GemmIsa::avx2, GemmIsa::generic})
    if (name == gemm_isa_name(isa)) return isa;
  TG_FAIL("TG_GEMM_ISA", "unknown instruction set '", std::string(name),
          "' (expected avx512, avx2 or generic)");
}

// The kernel in use (an index into kIsas): TG_GEMM_ISA if set, else the widest this CPU
// runs; and every kernel's blocking, from the caches. Both worked out once, at the first call.
struct State {
  GemmConfig configs[kNumIsas];
  std::atomic<size_t> current;
  State() : current(0) {
    const CpuCaches& caches = cpu_caches();
    for (size_t i = 0; i < kNumIsas; ++i) configs[i] = blocking_for(kIsas[i], caches);
    size_t best = 0;
    while (!cpu_runs(kIsas[best].isa)) ++best;  // generic, last, always runs
    if (const char* env = std::getenv("TG_GEMM_ISA"); env != nullptr && *env != '\0') {
      const GemmIsa isa = parse_isa(env);
      TG_CHECK(gemm_isa_supported(isa), "TG_GEMM_ISA", "this CPU (or this build) cannot run ",
               gemm_isa_name(isa), "; it runs ", supported_list());
      best = entry_index(isa);
    }
    current.store(best);
  }
  static std::string supported_list() {
    std::string s;
    for (const IsaEntry& e : kIsas)
      if (cpu_runs(e.isa)) s += std::string(s.empty() ? "" : ", ") + gemm_isa_name(e.isa);
    return s;
  }
};

State& state() {
  static State s;
  return s;
}

void packed(const char* op, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
            float alpha, const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
            float* c, int64_t ldc, bool threaded) {
  kernels::detail::gemm_check(op, trans_a, trans_b, m, n, k, lda, ldb, ldc);
  if (m == 0 || n == 0) return;
  if (k == 0 || alpha == 0.0f) return detail::gemm_scale_c(m, n, beta, c, ldc);
  const Strides as = trans_a ? Strides{1, lda} : Strides{lda, 1};
  const Strides bs = trans_b ? Strides{1, ldb} : Strides{ldb, 1};
  const Job job{m, n, k, alpha, beta, a, as, b, bs, c, ldc};
  const double macs = double(m) * double(n) * double(k);
  const State& st = state();
  const size_t i = st.current.load(std::memory_order_relaxed);
  const Blocking bl{st.configs[i].mc, st.configs[i].nc};
  const IsaEntry& e = kIsas[i];
  const bool small = e.direct && macs <= kParallelMin;
  int nt = 1;
  bool helped = false;  // split over GemmHelper threads instead of an OpenMP team
  if (threaded && macs >= (small ? kDirectParallelMin : kParallelMin)) {
    nt = omp_get_max_threads();
    if (small && background_threads.load() > 0) {
      const int helpers = board.helpers.load(std::memory_order_relaxed);
      nt = helpers > 0 && now_us() >= board.backoff_until_us.load(std::memory_order_relaxed)
               ? std::min(nt, 1 + helpers)
               : 1;
      helped = nt > 1;
    }
  }
  if (!transpose_pays(e, m, n, k, small))
    return e.multiply(job, bl, nt, small && direct_pays(job), helped);
  // C^T (n x m, row-major) = op(B)^T op(A)^T: op(X)^T swaps X's strides.
  float* t = tls_c.get(m * n);
  if (beta != 0.0f)
    for (int64_t r = 0; r < m; ++r)
      for (int64_t col = 0; col < n; ++col) t[col * m + r] = c[r * ldc + col];
  const Job tj{n, m, k, alpha, beta, b, Strides{bs.cs, bs.rs}, a, Strides{as.cs, as.rs}, t, m};
  e.multiply(tj, bl, nt, small && direct_pays(tj), helped);
  for (int64_t r = 0; r < m; ++r)
    for (int64_t col = 0; col < n; ++col) c[r * ldc + col] = t[col * m + r];
}

}  // namespace

const char* gemm_isa_name(GemmIsa isa) {
  switch (isa) {
    case GemmIsa::avx512:
      return "avx512";
    case GemmIsa::avx2:
      return "avx2";
    case GemmIsa::generic:
      return "generic";
  }
  return "?";
}

bool gemm_isa_supported(GemmIsa isa) {
  return entry_index(isa) < kNumIsas && cpu_runs(isa);
}

GemmConfig gemm_config() {
  const State& st = state();
  return st.configs[st.current.load()];
}

GemmConfig gemm_config(GemmIsa isa) {
  const size_t i = entry_index(isa);
  TG_CHECK(i < kNumIsas, "gemm_config", "this build has no ", gemm_isa_name(isa), " kernel");
  return state().configs[i];
}

void set_gemm_isa(GemmIsa isa) {
  TG_CHECK(gemm_isa_supported(isa), "set_gemm_isa", "this CPU (or this build) cannot run ",
           gemm_isa_name(isa), "; it runs ", State::supported_list());
  state().current.store(entry_index(isa));
}

GemmBackgroundThreads::GemmBackgroundThreads() {
  background_threads.fetch_add(1);
}
GemmBackgroundThreads::~GemmBackgroundThreads() {
  background_threads.fetch_sub(1);
}
bool GemmBackgroundThreads::active() {
  return background_threads.load() > 0;
}

GemmHelper::GemmHelper() {
  board.helpers.fetch_add(1);
}
GemmHelper::~GemmHelper() {
  board.helpers.fetch_sub(1);
}
bool GemmHelper::help() {
  if (!Board::open(board.ticket.load(std::memory_order_relaxed)))
    return false;  // nothing to take (the common case: one load, no write)
  bool any = false;
  while (board.take_one()) {
    board.helped.fetch_add(1, std::memory_order_relaxed);
    any = true;
  }
  return any;
}
bool GemmHelper::wanted(int64_t microseconds) {
  return now_us() - board.last_post_us.load(std::memory_order_relaxed) <= microseconds;
}
int64_t GemmHelper::stripes_helped() {
  return board.helped.load(std::memory_order_relaxed);
}

void gemm_packed(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                 const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                 int64_t ldc) {
  packed("gemm_packed", trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, false);
}

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  packed("gemm", trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, true);
}

}  // namespace tg::kernels::cpu
