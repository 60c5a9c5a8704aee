// Lanes<T> of pool2d_impl.h in 256-bit registers (AVX2), for pool2d_avx2.cpp: one output row of a 28-wide
// input is two such vectors of float32. Needs <immintrin.h> included before the enclosing namespace is
// opened.

template <typename T>
struct Lanes;

template <>
struct Lanes<float> {
  using T = float;
  static constexpr int64_t N = 8;
  // [a0 a1 a2 a3 | b0 b1 b2 b3] as 64-bit pairs -> [a0 a1 b0 b1 | a2 a3 b2 b3] put back in order.
  static __m256 in_order(__m256 v) { return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(v), 0xD8)); }
  // The even and odd elements of p[0, 16).
  static void split(const float* p, __m256& even, __m256& odd) {
    const __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
    even = in_order(_mm256_shuffle_ps(a, b, 0x88));
    odd = in_order(_mm256_shuffle_ps(a, b, 0xDD));
  }
  static int max_chunk(const float* r0, const float* r1, float* y, int64_t* argmax, int64_t top, int64_t w) {
    __m256 a, b, c, d;
    split(r0, a, b);
    split(r1, c, d);
    const __m256 m1 = _mm256_cmp_ps(b, a, _CMP_GT_OQ);
    __m256 best = _mm256_blendv_ps(a, b, m1);
    const __m256 m2 = _mm256_cmp_ps(c, best, _CMP_GT_OQ);
    best = _mm256_blendv_ps(best, c, m2);
    const __m256 m3 = _mm256_cmp_ps(d, best, _CMP_GT_OQ);
    best = _mm256_blendv_ps(best, d, m3);
    _mm256_storeu_ps(y, best);
    __m256i at = _mm256_and_si256(_mm256_castps_si256(m1), _mm256_set1_epi32(1));
    at = _mm256_blendv_epi8(at, _mm256_set1_epi32(int32_t(w)), _mm256_castps_si256(m2));
    at = _mm256_blendv_epi8(at, _mm256_set1_epi32(int32_t(w + 1)), _mm256_castps_si256(m3));
    at = _mm256_add_epi32(at, _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14));
    const __m256i t = _mm256_set1_epi64x(top);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(argmax),
                        _mm256_add_epi64(t, _mm256_cvtepi32_epi64(_mm256_castsi256_si128(at))));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(argmax + 4),
                        _mm256_add_epi64(t, _mm256_cvtepi32_epi64(_mm256_extracti128_si256(at, 1))));
    const __m256 nan = _mm256_or_ps(_mm256_cmp_ps(a, b, _CMP_UNORD_Q), _mm256_cmp_ps(c, d, _CMP_UNORD_Q));
    return _mm256_movemask_ps(nan) ? pydl::kPoolNaN : 0;
  }
  // e0 o0 e1 o1 ... e7 o7 at p[0, 16).
  static void store_pairs(float* p, __m256 e, __m256 o) {
    const __m256 lo = _mm256_unpacklo_ps(e, o), hi = _mm256_unpackhi_ps(e, o);
    _mm256_storeu_ps(p, _mm256_permute2f128_ps(lo, hi, 0x20));
    _mm256_storeu_ps(p + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
  }
  static int unpool_chunk(const float* dy, const int64_t* argmax, int64_t top, int64_t w, float* d0, float* d1) {
    const __m256 d = _mm256_add_ps(_mm256_loadu_ps(dy), _mm256_setzero_ps());  // 0 + dy: -0 becomes +0
    const __m256i t = _mm256_set1_epi64x(top);
    const __m256i lo = _mm256_sub_epi64(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(argmax)),
                                        _mm256_add_epi64(t, _mm256_setr_epi64x(0, 2, 4, 6)));
    const __m256i hi = _mm256_sub_epi64(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(argmax + 4)),
                                        _mm256_add_epi64(t, _mm256_setr_epi64x(8, 10, 12, 14)));
    auto is = [&](int64_t v) {  // 64-bit comparisons narrowed to 32-bit lanes
      const __m256i vv = _mm256_set1_epi64x(v);
      return in_order(_mm256_shuffle_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi64(lo, vv)),
                                        _mm256_castsi256_ps(_mm256_cmpeq_epi64(hi, vv)), 0x88));
    };
    const __m256 e0 = is(0), e1 = is(1), ew = is(w), ew1 = is(w + 1);
    store_pairs(d0, _mm256_and_ps(e0, d), _mm256_and_ps(e1, d));
    store_pairs(d1, _mm256_and_ps(ew, d), _mm256_and_ps(ew1, d));
    const bool placed = _mm256_movemask_ps(_mm256_or_ps(_mm256_or_ps(e0, e1), _mm256_or_ps(ew, ew1))) == 0xFF;
    return (placed ? 0 : pydl::kPoolMisplaced) | (_mm256_movemask_ps(_mm256_cmp_ps(d, d, _CMP_UNORD_Q)) ? pydl::kPoolNaN : 0);
  }
};

template <>
struct Lanes<double> {
  using T = double;
  static constexpr int64_t N = 4;
  static __m256d in_order(__m256d v) { return _mm256_permute4x64_pd(v, 0xD8); }
  // The even and odd elements of p[0, 8).
  static void split(const double* p, __m256d& even, __m256d& odd) {
    const __m256d a = _mm256_loadu_pd(p), b = _mm256_loadu_pd(p + 4);
    even = in_order(_mm256_unpacklo_pd(a, b));
    odd = in_order(_mm256_unpackhi_pd(a, b));
  }
  static int max_chunk(const double* r0, const double* r1, double* y, int64_t* argmax, int64_t top, int64_t w) {
    __m256d a, b, c, d;
    split(r0, a, b);
    split(r1, c, d);
    const __m256d m1 = _mm256_cmp_pd(b, a, _CMP_GT_OQ);
    __m256d best = _mm256_blendv_pd(a, b, m1);
    const __m256d m2 = _mm256_cmp_pd(c, best, _CMP_GT_OQ);
    best = _mm256_blendv_pd(best, c, m2);
    const __m256d m3 = _mm256_cmp_pd(d, best, _CMP_GT_OQ);
    best = _mm256_blendv_pd(best, d, m3);
    _mm256_storeu_pd(y, best);
    __m256i at = _mm256_and_si256(_mm256_castpd_si256(m1), _mm256_set1_epi64x(1));
    at = _mm256_blendv_epi8(at, _mm256_set1_epi64x(w), _mm256_castpd_si256(m2));
    at = _mm256_blendv_epi8(at, _mm256_set1_epi64x(w + 1), _mm256_castpd_si256(m3));
    at = _mm256_add_epi64(at, _mm256_add_epi64(_mm256_set1_epi64x(top), _mm256_setr_epi64x(0, 2, 4, 6)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(argmax), at);
    const __m256d nan = _mm256_or_pd(_mm256_cmp_pd(a, b, _CMP_UNORD_Q), _mm256_cmp_pd(c, d, _CMP_UNORD_Q));
    return _mm256_movemask_pd(nan) ? pydl::kPoolNaN : 0;
  }
  // e0 o0 e1 o1 e2 o2 e3 o3 at p[0, 8).
  static void store_pairs(double* p, __m256d e, __m256d o) {
    const __m256d lo = _mm256_unpacklo_pd(e, o), hi = _mm256_unpackhi_pd(e, o);
    _mm256_storeu_pd(p, _mm256_permute2f128_pd(lo, hi, 0x20));
    _mm256_storeu_pd(p + 4, _mm256_permute2f128_pd(lo, hi, 0x31));
  }
  static int unpool_chunk(const double* dy, const int64_t* argmax, int64_t top, int64_t w, double* d0,
                          double* d1) {
    const __m256d d = _mm256_add_pd(_mm256_loadu_pd(dy), _mm256_setzero_pd());  // 0 + dy: -0 becomes +0
    const __m256i at = _mm256_sub_epi64(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(argmax)),
                                        _mm256_add_epi64(_mm256_set1_epi64x(top), _mm256_setr_epi64x(0, 2, 4, 6)));
    auto is = [&](int64_t v) { return _mm256_castsi256_pd(_mm256_cmpeq_epi64(at, _mm256_set1_epi64x(v))); };
    const __m256d e0 = is(0), e1 = is(1), ew = is(w), ew1 = is(w + 1);
    store_pairs(d0, _mm256_and_pd(e0, d), _mm256_and_pd(e1, d));
    store_pairs(d1, _mm256_and_pd(ew, d), _mm256_and_pd(ew1, d));
    const bool placed = _mm256_movemask_pd(_mm256_or_pd(_mm256_or_pd(e0, e1), _mm256_or_pd(ew, ew1))) == 0xF;
    return (placed ? 0 : pydl::kPoolMisplaced) | (_mm256_movemask_pd(_mm256_cmp_pd(d, d, _CMP_UNORD_Q)) ? pydl::kPoolNaN : 0);
  }
};
