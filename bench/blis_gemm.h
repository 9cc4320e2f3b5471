// BLIS (Debian's libblis-dev), a second comparison point for bench_gemm beside OpenBLAS, behind
// this small interface: blis.h declares its own cblas.h types, which clash with OpenBLAS's, so
// only bench/blis_gemm.cpp includes it. Built where CMake finds BLIS (TG_HAVE_BLIS).
#pragma once

#include <cstdint>
#include <string>

namespace tg::bench {

// C = alpha * op(A) op(B) + beta * C, row-major with leading dimensions, through BLIS's typed
// API (bli_sgemm: BLIS's own entry point, so the BLAS symbols OpenBLAS also exports are not
// involved).
void blis_sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                int64_t ldc);
// BLIS_NUM_THREADS as BLIS reads it (1 when unset: BLIS is then single-threaded).
int blis_threads();
// "0.9.0, zen3 kernels": the version and the sub-configuration BLIS picked for this CPU.
std::string blis_info();

}  // namespace tg::bench
