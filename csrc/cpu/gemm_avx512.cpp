// GEMM micro-kernels for AVX-512 (flags from CMakeLists.txt); entered only when cpu.h says so.
// 14 x 2 vectors: 28 accumulators + 2 B vectors fill 30 of the 32 zmm registers, and A's broadcasts
// fold into the FMAs' memory operands.
#include <immintrin.h>

#include "gemm_kernels.h"

namespace pydl::gemm_avx512 {

#include "vec_avx512.h"
#include "gemm_impl.h"

// 16 x 16 transpose of floats in registers: r[i] lane j becomes r[j] lane i.
static inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    for (int h = 0; h < 2; ++h) {
      const __m512d a = _mm512_castps_pd(t[i + h]), b = _mm512_castps_pd(t[i + h + 2]);
      r[i + 2 * h] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
      r[i + 2 * h + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
    }
  }
  for (int i = 0; i < 16; i += 8)
    for (int q = 0; q < 4; ++q) {
      t[i + q] = _mm512_shuffle_f32x4(r[i + q], r[i + q + 4], 0x88);
      t[i + q + 4] = _mm512_shuffle_f32x4(r[i + q], r[i + q + 4], 0xdd);
    }
  for (int q = 0; q < 8; ++q) {
    r[q] = _mm512_shuffle_f32x4(t[q], t[q + 8], 0x88);
    r[q + 8] = _mm512_shuffle_f32x4(t[q], t[q + 8], 0xdd);
  }
}

// Packing a row-major (untransposed) A into 14-row panels stored column by column is a transpose.
// Element by element it was 5% of a (100 x 784)(784 x 256) product on one thread, and a product
// split across threads by columns packs all of A in every thread; here 14 rows by 16 columns go
// through one register transpose, and each column of the panel is one store (which also writes two
// lanes of the next column, rewritten by the next store).
static void pack_a_f32(bool trans, const float* A, int64_t lda, int64_t mc, int64_t kc, float* Ap) {
  constexpr int MR = 14;
  if (trans) return pack_a<float, MR>(trans, A, lda, mc, kc, Ap);
  int64_t i0 = 0;
  for (; i0 + MR <= mc; i0 += MR, Ap += MR * kc) {
    const float* src = A + i0 * lda;
    int64_t p = 0;
    for (; p + 16 <= kc; p += 16) {
      __m512 r[16];
      for (int i = 0; i < MR; ++i) r[i] = _mm512_loadu_ps(src + i * lda + p);
      r[14] = r[15] = _mm512_setzero_ps();
      transpose16(r);
      float* dst = Ap + p * MR;
      for (int q = 0; q < 15; ++q) _mm512_storeu_ps(dst + q * MR, r[q]);
      _mm512_mask_storeu_ps(dst + 15 * MR, (__mmask16)((1u << MR) - 1), r[15]);
    }
    for (; p < kc; ++p)
      for (int i = 0; i < MR; ++i) Ap[p * MR + i] = src[i * lda + p];
  }
  if (i0 < mc) pack_a<float, MR>(false, A + i0 * lda, lda, mc - i0, kc, Ap);
}

// Likewise a transposed B (the input gradient's dZ W^T): 16 of the panel's columns by 16 steps per
// register transpose, each step's 16 columns one store.
template <int NR>
static void pack_b_f32(bool trans, const float* B, int64_t ldb, int64_t kc, int64_t nc, float* Bp) {
  if (!trans) return pack_b<float, NR>(trans, B, ldb, kc, nc, Bp);
  int64_t j0 = 0;
  for (; j0 + NR <= nc; j0 += NR, Bp += NR * kc) {
    for (int c0 = 0; c0 < NR; c0 += 16) {
      const float* src = B + (j0 + c0) * ldb;
      int64_t p = 0;
      for (; p + 16 <= kc; p += 16) {
        __m512 r[16];
        for (int c = 0; c < 16; ++c) r[c] = _mm512_loadu_ps(src + c * ldb + p);
        transpose16(r);
        for (int q = 0; q < 16; ++q) _mm512_storeu_ps(Bp + (p + q) * NR + c0, r[q]);
      }
      for (; p < kc; ++p)
        for (int c = 0; c < 16; ++c) Bp[p * NR + c0 + c] = src[c * ldb + p];
    }
  }
  if (j0 < nc) pack_b<float, NR>(true, B + j0 * ldb, ldb, kc, nc - j0, Bp);
}

static GemmKernels<float> with_transposing_packs(GemmKernels<float> k) {
  k.pack_a = pack_a_f32;
  k.wide.pack_b = pack_b_f32<32>;
  k.narrow.pack_b = pack_b_f32<16>;
  return k;
}

const GemmKernels<float> kernels_f32 = with_transposing_packs(make_kernels<F32, 14, 2>(280, 256, 4096));
const GemmKernels<double> kernels_f64 = make_kernels<F64, 14, 2>(140, 256, 2048);

}  // namespace pydl::gemm_avx512
