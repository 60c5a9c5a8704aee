// GEMM micro-kernels for AVX2 + FMA (flags from CMakeLists.txt); entered only when cpu.h says so.
// 6 x 2 vectors: 12 accumulators + 2 B vectors + 1 broadcast of the 16 ymm registers.
#include <immintrin.h>

#include "gemm_kernels.h"

namespace pydl::gemm_avx2 {

struct F32 {
  using T = float;
  using R = __m256;
  static constexpr int W = 8;
  static __m256i mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static R zero() { return _mm256_setzero_ps(); }
  static R load(const T* p) { return _mm256_loadu_ps(p); }
  static void store(T* p, R v) { _mm256_storeu_ps(p, v); }
  static R set1(T a) { return _mm256_set1_ps(a); }
  static R fma(R a, R b, R c) { return _mm256_fmadd_ps(a, b, c); }
  static R mul(R a, R b) { return _mm256_mul_ps(a, b); }
  static R load_part(const T* p, int n) { return _mm256_maskload_ps(p, mask(n)); }
  static void store_part(T* p, R v, int n) { _mm256_maskstore_ps(p, mask(n), v); }
};

struct F64 {
  using T = double;
  using R = __m256d;
  static constexpr int W = 4;
  static __m256i mask(int n) { return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3)); }
  static R zero() { return _mm256_setzero_pd(); }
  static R load(const T* p) { return _mm256_loadu_pd(p); }
  static void store(T* p, R v) { _mm256_storeu_pd(p, v); }
  static R set1(T a) { return _mm256_set1_pd(a); }
  static R fma(R a, R b, R c) { return _mm256_fmadd_pd(a, b, c); }
  static R mul(R a, R b) { return _mm256_mul_pd(a, b); }
  static R load_part(const T* p, int n) { return _mm256_maskload_pd(p, mask(n)); }
  static void store_part(T* p, R v, int n) { _mm256_maskstore_pd(p, mask(n), v); }
};

#include "gemm_impl.h"

const GemmKernels<float> kernels_f32 = make_kernels<F32, 6, 2>(144, 256, 4096);
const GemmKernels<double> kernels_f64 = make_kernels<F64, 6, 2>(72, 256, 2048);

}  // namespace pydl::gemm_avx2
