// GEMM on the CPU: C = alpha * op(A) * op(B) + beta * C, all matrices row-major.
//
// op(A) is m x k: A is stored as m x k (leading dimension lda >= k) when trans_a is false, and
// as k x m (lda >= m) when it is true; likewise op(B) is k x n. C is m x n with ldc >= n.
// beta == 0 means C is written, never read (it may hold NaNs).
// Cost: 2*m*n*k FLOPs; at least 4*(m*k + k*n + 2*m*n) bytes moved.
//
// The ladder, slowest first, all with the same signature so tests and bench/ treat them alike.
// Every rung is exact up to float rounding; none depends on the thread count (each C element
// is summed by one thread in a fixed k order), so results are bit-identical for any
// OMP_NUM_THREADS.
#pragma once

#include <cstdint>

#include "base/error.h"

// The checks of the sizes and leading dimensions shared by every GEMM entry point, CPU and CUDA
// (same messages on every device; the CUDA ones add their own, kernels/cuda/gemm_common.cuh).
namespace tg::kernels::detail {
inline void gemm_check(const char* op, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                       int64_t lda, int64_t ldb, int64_t ldc) {
  TG_CHECK(m >= 0 && n >= 0 && k >= 0, op, "negative size: m=", m, " n=", n, " k=", k);
  const int64_t a_cols = trans_a ? m : k, b_cols = trans_b ? k : n;
  TG_CHECK(lda >= a_cols, op, "lda=", lda, " < ", a_cols, " (m=", m, " k=", k, " trans_a=", trans_a,
           ")");
  TG_CHECK(ldb >= b_cols, op, "ldb=", ldb, " < ", b_cols, " (k=", k, " n=", n, " trans_b=", trans_b,
           ")");
  TG_CHECK(ldc >= n, op, "ldc=", ldc, " < n=", n);
}
}  // namespace tg::kernels::detail

namespace tg::kernels::cpu {

using GemmFn = void (*)(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                        const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
                        float* c, int64_t ldc);

// 1. Naive i-j-k triple loop with a dot product per element (strided walk down B).
void gemm_naive(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                int64_t ldc);
// 2. i-k-j order: the inner loop streams a row of B and a row of C, so it vectorises.
void gemm_reordered(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                    const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                    int64_t ldc);
// 3. Cache-blocked i-k-j: tiles of A, B and C sized for L1/L2.
void gemm_blocked(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                  const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                  int64_t ldc);
// 4. Packed panels of A and B and a register-blocked micro-kernel (single thread); products
//    under 4M multiply-adds skip the packing (direct: the same tiles read A, and B unless it is
//    transposed, where they lie), with the same bits.
void gemm_packed(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                 const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                 int64_t ldc);
// 5. The library's GEMM: rung 4 parallelised with OpenMP over tiles of C (from 4M
//    multiply-adds; from 1M for the direct products, unless GemmBackgroundThreads says other
//    threads are busy: then over the threads that lend themselves as GemmHelper).
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// Rungs 4 and 5 run one of several builds of the same kernel, chosen at run time for the CPU
// (kernels/cpu/gemm_packed_isa.h): the widest instruction set it runs, or the one named by the
// environment variable TG_GEMM_ISA (avx512, avx2, generic; one the CPU cannot run is an
// error). avx512 and avx2 give identical results bit for bit (same k blocks, one fused
// multiply-add per product, in the same order); generic (the compiler's vectorisation of plain
// C++) may differ from them by rounding. The blocking follows the CPU's caches (cpu_info.h).
enum class GemmIsa { avx512, avx2, generic };

struct GemmConfig {
  GemmIsa isa;
  int64_t mr, nr;      // the register tile
  int64_t mc, kc, nc;  // the A block (mc x kc, L2) and B panel (kc x nc, L3); kc is fixed
};

const char* gemm_isa_name(GemmIsa isa);
// Compiled into this build and run by this CPU.
bool gemm_isa_supported(GemmIsa isa);
// What gemm and gemm_packed use now, and what they would use with `isa`.
GemmConfig gemm_config();
GemmConfig gemm_config(GemmIsa isa);
// Switches rungs 4 and 5 to `isa` for the whole process (tests, benchmarks); throws tg::Error
// if the CPU cannot run it. Not meant to be called while another thread multiplies.
void set_gemm_isa(GemmIsa isa);

// While other threads of this process keep a core busy (a data loader's prefetch worker:
// learner/data/dataloader.cpp holds one of these for its lifetime), gemm keeps the products it
// would otherwise split over its threads for being small (1M to 4M multiply-adds: a 128^3, or
// the course MLP's 64 x 784 x 50) on the calling thread. Splitting those pays back to back
// (128^3 twice as fast on two cores) but not beside such a worker: the OpenMP worker then
// shares its core with it and every region waits (docs/benchmarks.md). Counted, so guards nest
// and may live on any thread. Results are the same either way.
class GemmBackgroundThreads {
 public:
  GemmBackgroundThreads();
  ~GemmBackgroundThreads();
  GemmBackgroundThreads(const GemmBackgroundThreads&) = delete;
  GemmBackgroundThreads& operator=(const GemmBackgroundThreads&) = delete;
  static bool active();  // any guard alive
};

// Such a background thread can lend its core, between its own work, to exactly those products:
// while a GemmHelper lives, gemm (on a team of two or more, omp_get_max_threads()) cuts each
// of them into one stripe of C per thread, as its OpenMP split would, posts them, and computes
// stripes on the calling thread until none is left; a help() call on the helper's thread
// computes the stripe it takes. The caller waits only for the stripes a helper has taken: a
// helper busy with its own work, or descheduled before it took one, costs the caller nothing
// beyond doing the whole product itself; after spinning 30 µs for a stripe a helper took, the
// caller sleeps (so that a helper preempted mid-stripe can run on its core), and a wait over
// 200 µs (the machine is busy) stops the sharing for 100 ms. One product is shared at a time
// (another thread's product meanwhile runs on its own thread). Who computes a stripe changes
// none of its bits.
class GemmHelper {
 public:
  GemmHelper();
  ~GemmHelper();
  GemmHelper(const GemmHelper&) = delete;
  GemmHelper& operator=(const GemmHelper&) = delete;
  // Computes the stripes of the posted product that nobody has taken yet; true if it computed
  // any. An exception thrown by one (a failed allocation) reaches the product's caller.
  bool help();
  // Whether a product was posted in the last `microseconds`: a helper keeps calling help()
  // while products keep coming, and goes back to sleep when they stop.
  static bool wanted(int64_t microseconds);
  // Stripes computed by help() in this process so far (tests and benchmarks read it).
  static int64_t stripes_helped();
};

// Double precision, used by gradcheck and the reference tests: cache-blocked, OpenMP over rows.
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
          const double* a, int64_t lda, const double* b, int64_t ldb, double beta, double* c,
          int64_t ldc);

}  // namespace tg::kernels::cpu

// The CUDA twins: the same signature and row-major contract on device pointers, queued on the
// current stream. gemm is cuBLAS (kernels/cuda/gemm_cublas.cu): float32 math by default,
// TF32 tensor cores only after set_allow_tf32(true) (kernels/cuda/runtime.h). The rest is the
// teaching and benchmarking ladder, kernels/cuda/gemm_<rung>.cu, slowest first; every rung
// takes all four transpose combinations and any size (odd ones included).
namespace tg::kernels::cuda {

// cuBLAS: the library's GEMM on the GPU (float and double).
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
          const double* a, int64_t lda, const double* b, int64_t ldb, double beta, double* c,
          int64_t ldc);

// 1. Naive: one thread per C element, threads of a warp walking down a column of C, so their
//    loads of A are strided (uncoalesced).
void gemm_naive(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                int64_t ldc);
// 2. Coalesced: the same work, threads of a warp along a row of C, so loads of B coalesce.
void gemm_coalesced(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                    const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                    int64_t ldc);
// 3. Shared-memory tiling: 32x32 tiles of A and B staged in shared memory, one element of C
//    per thread.
void gemm_smem(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
               const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
               int64_t ldc);
// 4. 2-D register tiling: each thread computes a small block (8x8) of C from registers.
void gemm_regtile(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                  const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                  int64_t ldc);
// 5. Rung 4 with 16-byte (float4) global loads and double buffering (the next tile is loaded
//    while the current one is multiplied).
void gemm_vec(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
              const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
              int64_t ldc);

}  // namespace tg::kernels::cuda
