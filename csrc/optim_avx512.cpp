// The optimizer loops compiled for AVX512 (flags from CMakeLists.txt); entered only when cpu.h says so.
#include <cmath>
#include <cstdint>

#include "optim.h"

namespace pydl::avx512 {
#include "optim_impl.h"

#define PYDL_OPTIM_ENTRY(T)                                                                                   \
  bool sgd(T* p, const T* g, T* buf, int64_t n, const SgdConfig& c) { return sgd_loop(p, g, buf, n, c); }     \
  bool rmsprop(T* p, const T* g, T* sq, T* buf, T* ga, int64_t n, const RmspropConfig& c) {                   \
    return rmsprop_loop(p, g, sq, buf, ga, n, c);                                                             \
  }                                                                                                           \
  bool adam(T* p, const T* g, T* m, T* v, int64_t n, const AdamConfig& c, T step_size, T inv_sqrt_bc2) {      \
    return adam_loop(p, g, m, v, n, c, step_size, inv_sqrt_bc2);                                              \
  }
PYDL_OPTIM_ENTRY(float)
PYDL_OPTIM_ENTRY(double)
}  // namespace pydl::avx512
