// General matrix multiply on row-major arrays:
//   C[m x n] = alpha * op(A) * op(B) + beta * C
// op(A) is A (m x k, leading dimension lda) or, with trans_a, A^T where A is stored k x m.
// op(B) is B (k x n, ldb) or, with trans_b, B^T where B is stored n x k. beta == 0 ignores C's old
// contents (NaN included), as BLAS does. Called without the GIL; never throws.
#pragma once
#include <cstdint>

namespace pydl {

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double* A, int64_t lda,
          const double* B, int64_t ldb, double beta, double* C, int64_t ldc);

// Which implementation serves calls right now, for build_info().
const char* gemm_path();

}  // namespace pydl
