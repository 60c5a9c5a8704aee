#include "dropout.h"

#include "parallel.h"

namespace pydl {

namespace {

// SplitMix64's finaliser (Steele, Lea, Flood 2014): a bijection that mixes every input bit into every output bit.
inline uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

constexpr uint64_t kGamma = 0x9E3779B97F4A7C15ULL;  // SplitMix64's increment
// A few integer operations per element: below this many per thread one thread is faster (as activations).
constexpr int64_t kDropoutGrain = 1 << 16;

}  // namespace

double dropout_uniform(uint64_t seed, uint64_t i) {
  return double(mix(mix(seed) + (i + 1) * kGamma) >> 11) * 0x1.0p-53;
}

template <typename T>
void dropout_forward(const T* x, T* y, T* mask, int64_t n, double p, uint64_t seed) {
  const T scale = T(1.0 / (1.0 - p));  // torch.nn.functional.dropout's 1 / (1 - p)
  const uint64_t key = mix(seed);
  parallel_for(n, kDropoutGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const double u = double(mix(key + (uint64_t(i) + 1) * kGamma) >> 11) * 0x1.0p-53;
      mask[i] = u >= p ? scale : T(0);
      y[i] = x[i] * mask[i];
    }
  });
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
