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

template <typename T>
struct GemmKernels;

// A product whose operands the caller brings already in the micro-kernels' panel layout: for one A
// multiplied by many B's that the caller writes itself (conv2d: the weights times the im2col matrix
// of each sample, im2col writing straight into B's panels). gemm() packs both operands on every
// call, which with few rows of A is a large part of the work.
// Layout, with the panel sizes mr() and nr() of the SIMD level current when the object was made:
//   A (m x k): ceil(m / mr) panels, A(i, p) at Ap[(i / mr) * mr * k + p * mr + i % mr];
//   B (k x n): ceil(n / nr) panels, B(p, j) at Bp[(j / nr) * nr * k + p * nr + j % nr].
// The padding rows of A's last panel are never read; the padding columns of B's last panel are read
// but never reach C, so they may hold anything.
template <typename T>
class PackedGemm {
 public:
  PackedGemm();
  int mr() const;
  int nr() const;
  int64_t a_size(int64_t m, int64_t k) const { return (m + mr() - 1) / mr() * mr() * k; }
  int64_t b_size(int64_t n, int64_t k) const { return (n + nr() - 1) / nr() * nr() * k; }
  // Ap (a_size(m, k) elements) = the row-major A (m x k, rows lda apart) in panels.
  void pack_a(int64_t m, int64_t k, const T* A, int64_t lda, T* Ap) const;
  // C[m x n] = alpha * A * B + beta * C for m, n, k >= 1, on the calling thread; beta == 0 ignores
  // C's old contents.
  void multiply(int64_t m, int64_t n, int64_t k, T alpha, const T* Ap, const T* Bp, T beta, T* C,
                int64_t ldc) const;

 private:
  const GemmKernels<T>& kernels_;
};

}  // namespace pydl
