// Readable reference GEMM (to be replaced by the packed, register-blocked version).
#include "gemm.h"

namespace pydl {

template <typename T>
static void gemm_loops(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* A, int64_t lda,
                       const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    T* c = C + i * ldc;
    for (int64_t j = 0; j < n; ++j) c[j] = beta == T(0) ? T(0) : beta * c[j];
    for (int64_t p = 0; p < k; ++p) {
      T a = alpha * (ta ? A[p * lda + i] : A[i * lda + p]);
      if (tb) {
        for (int64_t j = 0; j < n; ++j) c[j] += a * B[j * ldb + p];
      } else {
        const T* b = B + p * ldb;
        for (int64_t j = 0; j < n; ++j) c[j] += a * b[j];
      }
    }
  }
}

void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  gemm_loops(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* A, int64_t lda,
          const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  gemm_loops(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

const char* gemm_path() { return "pydl loops (unblocked)"; }

}  // namespace pydl
