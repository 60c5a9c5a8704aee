// The instruction-set-specific half of pydl's packed GEMM: packing routines and the macro-kernel
// (register-blocked micro-tiles over one packed block of A and B). gemm.cpp owns the cache blocking,
// threads and buffers and picks one table per call from simd_level().
#pragma once
#include <cstdint>

namespace pydl {

template <typename T>
struct GemmKernels {
  int mr;              // micro-tile rows of A
  int64_t mc, kc, nc;  // largest cache blocks: A block mc x kc in L2, B micro-panel kc x nr in L1
  // Ap: ceil(mc / mr) panels of mr x kc, column by column. Rows past mc are never read.
  void (*pack_a)(bool trans, const T* A, int64_t lda, int64_t mc, int64_t kc, T* Ap);
  // One register width of columns of B per micro-tile (nr), wide and narrow. The narrow one serves
  // products with few columns (a classifier's 10 outputs) that would leave most of a wide tile idle.
  struct Columns {
    int nr;
    // Bp: ceil(nc / nr) panels of kc x nr, row by row, zero-padded to a multiple of nr columns.
    void (*pack_b)(bool trans, const T* B, int64_t ldb, int64_t kc, int64_t nc, T* Bp);
    // C[mc x nc] = alpha * Ap * Bp + beta * C over kc steps; beta == 0 never reads C. The panels may be
    // deeper than kc (a_depth, b_depth >= kc steps apart): then Ap and Bp point at step pc of full-depth
    // panels and the product covers steps [pc, pc + kc), as PackedGemm's k blocks need.
    void (*macro)(int64_t mc, int64_t nc, int64_t kc, T alpha, const T* Ap, int64_t a_depth, const T* Bp,
                  int64_t b_depth, T beta, T* C, int64_t ldc);
  };
  Columns wide, narrow;
};

namespace gemm_generic {
extern const GemmKernels<float> kernels_f32;
extern const GemmKernels<double> kernels_f64;
}  // namespace gemm_generic

#ifdef PYDL_X86
namespace gemm_avx2 {
extern const GemmKernels<float> kernels_f32;
extern const GemmKernels<double> kernels_f64;
}  // namespace gemm_avx2
namespace gemm_avx512 {
extern const GemmKernels<float> kernels_f32;
extern const GemmKernels<double> kernels_f64;
}  // namespace gemm_avx512
#endif

}  // namespace pydl
