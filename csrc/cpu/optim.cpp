// Optimizer updates: split across threads above a work threshold, each chunk run by the loop
// compiled for the best instruction set the CPU has (optim_impl.h).
#include "optim.h"

#include <atomic>
#include <cmath>

#include "cpu.h"
#include "parallel.h"

namespace pydl {

namespace generic {
#include "optim_impl.h"
}  // namespace generic

#ifdef PYDL_X86
#define PYDL_DECLARE_OPTIM(isa, T)                                                                  \
  namespace isa {                                                                                   \
  bool sgd(T* p, const T* g, T* buf, int64_t n, const SgdConfig& c);                                \
  bool rmsprop(T* p, const T* g, T* sq, T* buf, T* ga, int64_t n, const RmspropConfig& c);          \
  bool adam(T* p, const T* g, T* m, T* v, int64_t n, const AdamConfig& c, T step_size, T inv_bc2); \
  }
PYDL_DECLARE_OPTIM(avx2, float)
PYDL_DECLARE_OPTIM(avx2, double)
PYDL_DECLARE_OPTIM(avx512, float)
PYDL_DECLARE_OPTIM(avx512, double)
#endif

// Updates touch each element a few times: below this many per thread, one thread is faster.
constexpr int64_t kOptimGrain = 1 << 15;

template <typename Body>
static bool chunked(int64_t n, Body body) {
  std::atomic<int> nan{0};
  parallel_for(n, kOptimGrain, [&](int64_t b, int64_t e) {
    if (body(b, e)) nan.fetch_or(1);
  });
  return nan.load() != 0;
}

template <typename T>
bool sgd_update(T* p, const T* grad, T* buf, int64_t n, const SgdConfig& c) {
  return chunked(n, [&](int64_t b, int64_t e) {
    T* bb = buf ? buf + b : nullptr;
#ifdef PYDL_X86
    switch (simd_level()) {
      case SimdLevel::avx512: return avx512::sgd(p + b, grad + b, bb, e - b, c);
      case SimdLevel::avx2: return avx2::sgd(p + b, grad + b, bb, e - b, c);
      default: break;
    }
#endif
    return generic::sgd(p + b, grad + b, bb, e - b, c);
  });
}

template <typename T>
bool rmsprop_update(T* p, const T* grad, T* sq, T* buf, T* gavg, int64_t n, const RmspropConfig& c) {
  return chunked(n, [&](int64_t b, int64_t e) {
    T* bb = buf ? buf + b : nullptr;
    T* ga = gavg ? gavg + b : nullptr;
#ifdef PYDL_X86
    switch (simd_level()) {
      case SimdLevel::avx512: return avx512::rmsprop(p + b, grad + b, sq + b, bb, ga, e - b, c);
      case SimdLevel::avx2: return avx2::rmsprop(p + b, grad + b, sq + b, bb, ga, e - b, c);
      default: break;
    }
#endif
    return generic::rmsprop(p + b, grad + b, sq + b, bb, ga, e - b, c);
  });
}

template <typename T>
bool adam_update(T* p, const T* grad, T* m, T* v, int64_t n, const AdamConfig& c) {
  const T step_size = T(c.lr / (1 - std::pow(c.beta1, double(c.step))));
  const T inv_sqrt_bc2 = T(1 / std::sqrt(1 - std::pow(c.beta2, double(c.step))));
  return chunked(n, [&](int64_t b, int64_t e) {
#ifdef PYDL_X86
    switch (simd_level()) {
      case SimdLevel::avx512: return avx512::adam(p + b, grad + b, m + b, v + b, e - b, c, step_size, inv_sqrt_bc2);
      case SimdLevel::avx2: return avx2::adam(p + b, grad + b, m + b, v + b, e - b, c, step_size, inv_sqrt_bc2);
      default: break;
    }
#endif
    return generic::adam(p + b, grad + b, m + b, v + b, e - b, c, step_size, inv_sqrt_bc2);
  });
}

template bool sgd_update<float>(float*, const float*, float*, int64_t, const SgdConfig&);
template bool sgd_update<double>(double*, const double*, double*, int64_t, const SgdConfig&);
template bool rmsprop_update<float>(float*, const float*, float*, float*, float*, int64_t, const RmspropConfig&);
template bool rmsprop_update<double>(double*, const double*, double*, double*, double*, int64_t,
                                     const RmspropConfig&);
template bool adam_update<float>(float*, const float*, float*, float*, int64_t, const AdamConfig&);
template bool adam_update<double>(double*, const double*, double*, double*, int64_t, const AdamConfig&);

}  // namespace pydl
