// The dropout mask loop, written once and compiled per instruction set: dropout.cpp, dropout_avx2.cpp and
// dropout_avx512.cpp include this inside their own namespace (see cpu.h). Integer hashing and one multiply
// per element: every build gives the same bits.

// SplitMix64's finaliser (Steele, Lea, Flood 2014): a bijection that mixes every input bit into every output bit.
static inline uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

constexpr uint64_t kGamma = 0x9E3779B97F4A7C15ULL;  // SplitMix64's increment

// Element pairs [b, e): pair j's hash mix(key + (j + 1) * gamma) gives element 2j its high half, 2j+1 its low.
template <typename T>
static void pairs_loop(const T* x, T* y, T* mask, int64_t b, int64_t e, uint64_t key, uint64_t threshold, T scale) {
  uint64_t counter = key + (uint64_t(b) + 1) * kGamma;
  for (int64_t j = b; j < e; ++j, counter += kGamma) {
    const uint64_t z = mix(counter);
    const T m0 = (z >> 32) >= threshold ? scale : T(0);
    const T m1 = (z & 0xFFFFFFFFu) >= threshold ? scale : T(0);
    const T x0 = x[2 * j], x1 = x[2 * j + 1];
    mask[2 * j] = m0;
    mask[2 * j + 1] = m1;
    y[2 * j] = x0 * m0;
    y[2 * j + 1] = x1 * m1;
  }
}

#define PYDL_DROPOUT_ENTRY(T)                                                                                 \
  void dropout_pairs(const T* x, T* y, T* mask, int64_t b, int64_t e, uint64_t key, uint64_t threshold, T scale) { \
    pairs_loop(x, y, mask, b, e, key, threshold, scale);                                                      \
  }
PYDL_DROPOUT_ENTRY(float)
PYDL_DROPOUT_ENTRY(double)
#undef PYDL_DROPOUT_ENTRY
