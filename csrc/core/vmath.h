// exp() and log() written so that GCC vectorises loops calling them (no calls, no branches, no table
// look-ups): Cephes' range reduction and polynomials, exact to about 1 ulp. Included inside an ISA namespace by
// the element-wise kernel files (see elementwise_impl.h), so each instruction set gets its own copy.
// Needs <cstdint> included before the enclosing namespace is opened.



static inline float bits_to_f32(int32_t i) { float f; __builtin_memcpy(&f, &i, 4); return f; }
static inline int32_t f32_to_bits(float f) { int32_t i; __builtin_memcpy(&i, &f, 4); return i; }
static inline double bits_to_f64(int64_t i) { double f; __builtin_memcpy(&f, &i, 8); return f; }
static inline int64_t f64_to_bits(double f) { int64_t i; __builtin_memcpy(&i, &f, 8); return i; }

// -|x| by setting the sign bit: one operation where x < 0 ? x : -x is a compare, a negation and a blend.
static inline float neg_abs(float x) { return bits_to_f32(int32_t(uint32_t(f32_to_bits(x)) | 0x80000000u)); }
static inline double neg_abs(double x) {
  return bits_to_f64(int64_t(uint64_t(f64_to_bits(x)) | UINT64_C(0x8000000000000000)));
}

// a * b + c rounded once where the instruction set has FMA (the AVX2 and AVX-512 builds, which so give the
// same bits), else rounded twice (the generic build, where fma would be a library call per element).
template <typename T>
static inline T mul_add(T a, T b, T c) {
#ifdef __FMA__
  if constexpr (sizeof(T) == sizeof(float)) {
    return __builtin_fmaf(a, b, c);
  } else {
    return __builtin_fma(a, b, c);
  }
#else
  return a * b + c;
#endif
}

// exp(x) for x <= 0 (every caller takes exp of a non-positive value: -|x|, x - max), +0 below the
// denormal range like expf; NaN stays NaN. p * 2^n is formed as (p * 2^(n + 64)) * 2^-64: the first
// product is exact (n + 64 >= -86 keeps it normal), the second rounds once, so results down in the
// denormal range are correctly rounded. 2^(n + 64) comes from t's bits shifted into the exponent: the
// low bits of t = u / ln 2 + 1.5 * 2^23 hold n (and those of 1.5 * 2^23 are zero).
static inline float vexp_nonpos(float x) {
  const float lo = -103.972084f;  // below this expf is 0
  const float xc = x < lo ? lo : x;
  const float magic = 12582912.0f;
  const float t = mul_add(xc, 1.44269504088896341f, magic);
  const float fn = t - magic;
  float r = mul_add(fn, -0.693359375f, xc);
  r = mul_add(fn, 2.12194440e-4f, r);
  float p = 1.9875691500e-4f;
  p = mul_add(p, r, 1.3981999507e-3f);
  p = mul_add(p, r, 8.3334519073e-3f);
  p = mul_add(p, r, 4.1665795894e-2f);
  p = mul_add(p, r, 1.6666665459e-1f);
  p = mul_add(p, r, 5.0000001201e-1f);
  p = mul_add(p * r, r, r) + 1.0f;
  // Shifts on unsigned: for a NaN x the bits are arbitrary (p is NaN then, and so is the result).
  const float scale = bits_to_f32(int32_t((uint32_t(f32_to_bits(t)) << 23) + (uint32_t(127 + 64) << 23)));
  return p * scale * 0x1p-64f;
}

// The double twin of the above: n + 600 >= -475 keeps the first product normal.
static inline double vexp_nonpos(double x) {
  const double lo = -745.1332191019412;
  const double xc = x < lo ? lo : x;
  const double magic = 6755399441055744.0;  // 1.5 * 2^52
  const double t = mul_add(xc, 1.4426950408889634074, magic);
  const double fn = t - magic;
  double r = mul_add(fn, -6.93145751953125e-1, xc);
  r = mul_add(fn, -1.42860682030941723212e-6, r);
  // Taylor series to r^13 / 13!: |r| <= ln2/2 makes the next term below 1e-17 relative.
  double p = 1.0 / 6227020800.0;
  p = mul_add(p, r, 1.0 / 479001600.0);
  p = mul_add(p, r, 1.0 / 39916800.0);
  p = mul_add(p, r, 1.0 / 3628800.0);
  p = mul_add(p, r, 1.0 / 362880.0);
  p = mul_add(p, r, 1.0 / 40320.0);
  p = mul_add(p, r, 1.0 / 5040.0);
  p = mul_add(p, r, 1.0 / 720.0);
  p = mul_add(p, r, 1.0 / 120.0);
  p = mul_add(p, r, 1.0 / 24.0);
  p = mul_add(p, r, 1.0 / 6.0);
  p = mul_add(p, r, 0.5);
  p = mul_add(p * r, r, r) + 1.0;
  const double scale = bits_to_f64(int64_t((uint64_t(f64_to_bits(t)) << 52) + (uint64_t(1023 + 600) << 52)));
  return p * scale * 0x1p-600;
}


// log(x) for x >= 0 (x = 0 gives -inf; subnormal x is scaled by 2^54 first), the old trainer's vlog
// (23ee593:csrc/trainer.cpp). As musl's log does, the reduction x = 2^k m uses an offset so that m
// lands in [sqrt(1/2), sqrt(2)); then log m = 2 atanh(s) with s = (m - 1) / (m + 1), |s| < 0.172,
// summed as an odd series in s. About 1 ulp. Integer and float arithmetic only: no branches, no selects.
// vlog_reduce is the reduction (m returned, k as a double), vlog_finish the series.
static inline double vlog_reduce(double x, double* k_out) {
  // Subnormal and zero x are handled by integer arithmetic, not selects: GCC turns a select between
  // floating-point results into a branch, and without AVX-512's masks it may not speculate an
  // operation that can raise an FP exception, so the AVX2 and SSE2 builds would not vectorise.
  // All-ones masks, not multiplies or int64 -> double conversions, which AVX2 lacks.
  const int64_t sub = -int64_t(x < 2.2250738585072014e-308);  // below the smallest normal: scale by 2^54
  const double xs = x * bits_to_f64(INT64_C(0x3ff0000000000000) + (sub & (INT64_C(54) << 52)));
  const int64_t off = INT64_C(0x3fe6a09e667f3bcd);  // sqrt(1/2)
  const int64_t ix = f64_to_bits(xs), tmp = ix - off;
  // k = tmp >> 52 (arithmetic), made non-negative for a logical shift and converted through the 2^52
  // magic number: AVX2 has neither a 64-bit arithmetic shift nor an int64 -> double conversion.
  const uint64_t biased = (uint64_t(tmp) + (UINT64_C(1) << 62)) >> 52;  // k + 1024
  *k_out = bits_to_f64(int64_t(biased | UINT64_C(0x4330000000000000))) - (4503599627370496.0 + 1024.0) -
           bits_to_f64(sub & INT64_C(0x404b000000000000));  // 54 or +0
  return bits_to_f64(ix - (tmp & INT64_C(-4503599627370496)));  // keep the exponent of off
}

// log x = k ln 2 + 2 atanh(s), s = (m - 1) / (m + 1); -inf added at x = 0 (the result is finite there).
static inline double vlog_finish(double x, double k, double s) {
  const double z = s * s;
  // sum_{j=1..11} z^j / (2j + 1): the next term is below 1e-18 relative.
  double p = 1.0 / 23;
  p = p * z + 1.0 / 21;
  p = p * z + 1.0 / 19;
  p = p * z + 1.0 / 17;
  p = p * z + 1.0 / 15;
  p = p * z + 1.0 / 13;
  p = p * z + 1.0 / 11;
  p = p * z + 1.0 / 9;
  p = p * z + 1.0 / 7;
  p = p * z + 1.0 / 5;
  p = p * z + 1.0 / 3;
  const double r = 2 * s + 2 * s * (p * z);
  const double l = k * 6.93147180369123816490e-01 + (r + k * 1.90821492927058770002e-10);
  return l + bits_to_f64(-int64_t(x == 0) & INT64_C(-4503599627370496));  // + -inf at 0, else + 0
}

static inline double vlog(double x) {
  double k;
  const double m = vlog_reduce(x, &k);
  return vlog_finish(x, k, (m - 1) / (m + 1));
}

// log a and log b with one division for both s (divisions dominate the vectorised loop): a few
// tenths of an ulp more error than two vlog calls.
static inline void vlog_pair(double a, double b, double* la, double* lb) {
  double ka, kb;
  const double ma = vlog_reduce(a, &ka), mb = vlog_reduce(b, &kb);
  const double inv = 1 / ((ma + 1) * (mb + 1));  // in [1/5.9, 1/2.9]
  *la = vlog_finish(a, ka, ((ma - 1) * (mb + 1)) * inv);
  *lb = vlog_finish(b, kb, ((mb - 1) * (ma + 1)) * inv);
}

// log(x) for a normal float x > 0: the reduction of the double version and Cephes' logf polynomial in
// f = m - 1, no division. k_bias is subtracted from the exponent (vlog's scaling of subnormals).
static inline float vlog_normal(float x, float k_bias = 0.0f) {
  const int32_t off = 0x3f3504f3;  // sqrt(1/2)
  const int32_t ix = f32_to_bits(x), tmp = ix - off;
  const float m = bits_to_f32(ix - (tmp & int32_t(0xff800000)));
  const float k = float(tmp >> 23) - k_bias;  // - +0 is folded away
  const float f = m - 1.0f, z = f * f;
  float p = 7.0376836292e-2f;
  p = p * f - 1.1514610310e-1f;
  p = p * f + 1.1676998740e-1f;
  p = p * f - 1.2420140846e-1f;
  p = p * f + 1.4249322787e-1f;
  p = p * f - 1.6668057665e-1f;
  p = p * f + 2.0000714765e-1f;
  p = p * f - 2.4999993993e-1f;
  p = p * f + 3.3333331174e-1f;
  float y = p * f * z;
  y = y + k * -2.12194440e-4f;
  y = y - 0.5f * z;
  return f + y + k * 0.693359375f;
}

// log(x) for float x >= 0: 0 gives -inf, subnormal x is scaled by 2^25 first (integer masks as above).
// The same values as vlog_normal for normal x; within 0.83 ulp of the true log for every positive float
// (checked exhaustively against double log).
static inline float vlog(float x) {
  const int32_t sub = -int32_t(x < 1.17549435e-38f);  // below the smallest normal
  const float xs = x * bits_to_f32(0x3f800000 + (sub & (25 << 23)));
  const float l = vlog_normal(xs, bits_to_f32(sub & 0x41c80000));  // 25.0f or +0
  return l + bits_to_f32(-int32_t(x == 0) & int32_t(0xff800000));  // + -inf at 0, else + 0
}

// log a and log b of floats: two calls (vlog(float) has no division to share).
static inline void vlog_pair(float a, float b, float* la, float* lb) {
  *la = vlog(a);
  *lb = vlog(b);
}
