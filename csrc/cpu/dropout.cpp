// Dropout: the run-time choice between the portable, AVX2 and AVX-512 builds of the mask loop (dropout_impl.h).
#include "dropout.h"

#include <cmath>

#include "cpu.h"
#include "parallel.h"

namespace pydl {

namespace generic_dropout {
#include "dropout_impl.h"
}  // namespace generic_dropout

#ifdef PYDL_X86
#define PYDL_DECLARE_DROPOUT(isa)                                                                             \
  namespace isa {                                                                                             \
  void dropout_pairs(const float* x, float* y, float* mask, int64_t b, int64_t e, uint64_t key, uint64_t t,    \
                     float scale);                                                                            \
  void dropout_pairs(const double* x, double* y, double* mask, int64_t b, int64_t e, uint64_t key, uint64_t t, \
                     double scale);                                                                           \
  }
PYDL_DECLARE_DROPOUT(avx2_dropout)
PYDL_DECLARE_DROPOUT(avx512_dropout)
#undef PYDL_DECLARE_DROPOUT
#endif

namespace {

// A hash and a few operations per element: below this many per thread one thread is faster (as activations).
constexpr int64_t kDropoutGrain = 1 << 16;

template <typename T>
void pairs(const T* x, T* y, T* mask, int64_t b, int64_t e, uint64_t key, uint64_t threshold, T scale) {
#ifdef PYDL_X86
  switch (simd_level()) {
    case SimdLevel::avx512: return avx512_dropout::dropout_pairs(x, y, mask, b, e, key, threshold, scale);
    case SimdLevel::avx2: return avx2_dropout::dropout_pairs(x, y, mask, b, e, key, threshold, scale);
    default: break;
  }
#endif
  generic_dropout::dropout_pairs(x, y, mask, b, e, key, threshold, scale);
}

}  // namespace

template <typename T>
void dropout_forward(const T* x, T* y, T* mask, int64_t n, double p, uint64_t seed) {
  const T scale = T(1.0 / (1.0 - p));  // torch.nn.functional.dropout's 1 / (1 - p)
  const uint64_t key = generic_dropout::mix(seed);
  // bits * 2^-32 >= p exactly when bits >= ceil(p * 2^32) (p * 2^32 is exact): an integer compare.
  const uint64_t threshold = uint64_t(std::ceil(p * 0x1.0p32));
  // Chunks of whole pairs, so each hash serves the two elements it belongs to.
  parallel_for(n / 2, kDropoutGrain / 2, [&](int64_t b, int64_t e) { pairs(x, y, mask, b, e, key, threshold, scale); });
  if (n % 2) {  // the last element of an odd count: the high half of its pair's hash
    const uint64_t z = generic_dropout::mix(key + (uint64_t(n / 2) + 1) * generic_dropout::kGamma);
    const T m = (z >> 32) >= threshold ? scale : T(0);
    const T v = x[n - 1];
    mask[n - 1] = m;
    y[n - 1] = v * m;
  }
}

template <typename T>
void dropout_backward(const T* dy, const T* mask, T* dx, int64_t n) {
  parallel_for(n, kDropoutGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) dx[i] = dy[i] * mask[i];
  });
}

template void dropout_forward<float>(const float*, float*, float*, int64_t, double, uint64_t);
template void dropout_forward<double>(const double*, double*, double*, int64_t, double, uint64_t);
template void dropout_backward<float>(const float*, const float*, float*, int64_t);
template void dropout_backward<double>(const double*, const double*, double*, int64_t);

}  // namespace pydl
