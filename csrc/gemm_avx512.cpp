// GEMM micro-kernels for AVX-512 (flags from CMakeLists.txt); entered only when cpu.h says so.
// 14 x 2 vectors: 28 accumulators + 2 B vectors fill 30 of the 32 zmm registers, and A's broadcasts
// fold into the FMAs' memory operands.
#include <immintrin.h>

#include "gemm_kernels.h"

namespace pydl::gemm_avx512 {

struct F32 {
  using T = float;
  using R = __m512;
  static constexpr int W = 16;
  static R zero() { return _mm512_setzero_ps(); }
  static R load(const T* p) { return _mm512_loadu_ps(p); }
  static void store(T* p, R v) { _mm512_storeu_ps(p, v); }
  static R set1(T a) { return _mm512_set1_ps(a); }
  static R fma(R a, R b, R c) { return _mm512_fmadd_ps(a, b, c); }
  static R mul(R a, R b) { return _mm512_mul_ps(a, b); }
  static R load_part(const T* p, int n) { return _mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1), p); }
  static void store_part(T* p, R v, int n) { _mm512_mask_storeu_ps(p, (__mmask16)((1u << n) - 1), v); }
};

struct F64 {
  using T = double;
  using R = __m512d;
  static constexpr int W = 8;
  static R zero() { return _mm512_setzero_pd(); }
  static R load(const T* p) { return _mm512_loadu_pd(p); }
  static void store(T* p, R v) { _mm512_storeu_pd(p, v); }
  static R set1(T a) { return _mm512_set1_pd(a); }
  static R fma(R a, R b, R c) { return _mm512_fmadd_pd(a, b, c); }
  static R mul(R a, R b) { return _mm512_mul_pd(a, b); }
  static R load_part(const T* p, int n) { return _mm512_maskz_loadu_pd((__mmask8)((1u << n) - 1), p); }
  static void store_part(T* p, R v, int n) { _mm512_mask_storeu_pd(p, (__mmask8)((1u << n) - 1), v); }
};

#include "gemm_impl.h"

const GemmKernels<float> kernels_f32 = make_kernels<F32, 14, 2>(280, 256, 4096);
const GemmKernels<double> kernels_f64 = make_kernels<F64, 14, 2>(140, 256, 2048);

}  // namespace pydl::gemm_avx512
