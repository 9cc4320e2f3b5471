// bench/blis_gemm.h over BLIS's typed API.
#include "bench/blis_gemm.h"

#include <blis.h>

namespace tg::bench {

void blis_sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                int64_t ldc) {
  // A row-major matrix is BLIS's (row stride ld, column stride 1); the trans flags apply to
  // the stored matrices, as in BLAS.
  bli_sgemm(trans_a ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE,
            trans_b ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, m, n, k, &alpha, const_cast<float*>(a),
            lda, 1, const_cast<float*>(b), ldb, 1, &beta, c, ldc, 1);
}

int blis_threads() {
  const dim_t t = bli_thread_get_num_threads();
  return t < 1 ? 1 : int(t);
}

std::string blis_info() {
  return std::string(bli_info_get_version_str()) + ", " + bli_arch_string(bli_arch_query_id()) +
         " kernels";
}

}  // namespace tg::bench
