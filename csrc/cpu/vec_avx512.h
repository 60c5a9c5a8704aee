// The vector interface of the AVX-512 kernels (gemm_impl.h, conv_direct_impl.h): element type T,
// register type R, W lanes, and the few operations the kernels use (sum: of all lanes, in a fixed order;
// where_positive(y, v): v where y > 0, else 0). 512-bit F32 / F64 and, with AVX-512VL masks for the
// partial loads and stores, 256-bit F32x8 / F64x4. Included inside each kernel file's own namespace,
// compiled with that file's AVX-512 flags (see DEVELOPING.md).
// Needs <immintrin.h> included before the enclosing namespace is opened.

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
  static R add(R a, R b) { return _mm512_add_ps(a, b); }
  static R relu(R a) { return _mm512_max_ps(a, zero()); }  // NaN -> 0, as relu()
  static R where_positive(R y, R v) { return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(y, zero(), _CMP_GT_OQ), v); }
  static T sum(R a) { return _mm512_reduce_add_ps(a); }
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
  static R add(R a, R b) { return _mm512_add_pd(a, b); }
  static R relu(R a) { return _mm512_max_pd(a, zero()); }  // NaN -> 0, as relu()
  static R where_positive(R y, R v) { return _mm512_maskz_mov_pd(_mm512_cmp_pd_mask(y, zero(), _CMP_GT_OQ), v); }
  static T sum(R a) { return _mm512_reduce_add_pd(a); }
  static R load_part(const T* p, int n) { return _mm512_maskz_loadu_pd((__mmask8)((1u << n) - 1), p); }
  static void store_part(T* p, R v, int n) { _mm512_mask_storeu_pd(p, (__mmask8)((1u << n) - 1), v); }
};

struct F32x8 {
  using T = float;
  using R = __m256;
  static constexpr int W = 8;
  static R zero() { return _mm256_setzero_ps(); }
  static R load(const T* p) { return _mm256_loadu_ps(p); }
  static void store(T* p, R v) { _mm256_storeu_ps(p, v); }
  static R set1(T a) { return _mm256_set1_ps(a); }
  static R fma(R a, R b, R c) { return _mm256_fmadd_ps(a, b, c); }
  static R mul(R a, R b) { return _mm256_mul_ps(a, b); }
  static R add(R a, R b) { return _mm256_add_ps(a, b); }
  static R relu(R a) { return _mm256_max_ps(a, zero()); }  // NaN -> 0, as relu()
  static R where_positive(R y, R v) { return _mm256_maskz_mov_ps(_mm256_cmp_ps_mask(y, zero(), _CMP_GT_OQ), v); }
  static T sum(R a) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
  }
  static R load_part(const T* p, int n) { return _mm256_maskz_loadu_ps((__mmask8)((1u << n) - 1), p); }
  static void store_part(T* p, R v, int n) { _mm256_mask_storeu_ps(p, (__mmask8)((1u << n) - 1), v); }
};

struct F64x4 {
  using T = double;
  using R = __m256d;
  static constexpr int W = 4;
  static R zero() { return _mm256_setzero_pd(); }
  static R load(const T* p) { return _mm256_loadu_pd(p); }
  static void store(T* p, R v) { _mm256_storeu_pd(p, v); }
  static R set1(T a) { return _mm256_set1_pd(a); }
  static R fma(R a, R b, R c) { return _mm256_fmadd_pd(a, b, c); }
  static R mul(R a, R b) { return _mm256_mul_pd(a, b); }
  static R add(R a, R b) { return _mm256_add_pd(a, b); }
  static R relu(R a) { return _mm256_max_pd(a, zero()); }  // NaN -> 0, as relu()
  static R where_positive(R y, R v) { return _mm256_maskz_mov_pd(_mm256_cmp_pd_mask(y, zero(), _CMP_GT_OQ), v); }
  static T sum(R a) {
    const __m128d h = _mm_add_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
    return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
  }
  static R load_part(const T* p, int n) { return _mm256_maskz_loadu_pd((__mmask8)((1u << n) - 1), p); }
  static void store_part(T* p, R v, int n) { _mm256_mask_storeu_pd(p, (__mmask8)((1u << n) - 1), v); }
};
