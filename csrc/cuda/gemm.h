// pydl's own GEMM on the device (no cuBLAS), row-major like cpu/gemm.h:
//   C[M x N] = alpha * op(A) * op(B) + beta * C
// op(A) is A (M x K, rows lda apart) or, with trans_a, A^T where A is stored K x M (likewise B: K x N, or
// N x K with trans_b). beta == 0 ignores C's old contents (NaN included), as BLAS does. Launchers only
// launch on `stream`: raw device pointers, no checks, no synchronisation.
#pragma once
#include <cstdint>

#include "cpu/activations.h"
#include "runtime.h"

namespace pydl::cuda {

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
          int64_t ldb, T beta, T* C, int64_t ldc, cudaStream_t stream);

// What the GEMM does to each result after alpha and beta: add bias (null: none; one value per row of C
// when bias_per_row, else per column), then apply act.
template <typename T>
struct GemmEpilogue {
  const T* bias = nullptr;
  bool bias_per_row = false;
  Activation act = Activation::none;
};

// `batch` independent products, the b-th on A + b * stride_a, B + b * stride_b, C + b * stride_c
// (a stride of 0 shares that operand), each finished by the epilogue.
template <typename T>
void gemm_batched(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                  int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b, T beta, T* C, int64_t ldc,
                  int64_t stride_c, int64_t batch, GemmEpilogue<T> epilogue, cudaStream_t stream);

}  // namespace pydl::cuda
