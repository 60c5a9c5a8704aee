// Narrow dense layers: the portable build of dense_narrow_impl.h's loops, the run-time choice between it
// and the AVX2 / AVX-512 builds, and the feature-major entry points.
#include <cstdint>

#include "cpu.h"
#include "dense.h"
#include "parallel.h"

namespace pydl {

namespace generic_narrow {
#include "dense_narrow_impl.h"
}  // namespace generic_narrow

#ifdef PYDL_X86
#define PYDL_DECLARE_ISA(isa)                                                                                   \
  namespace isa {                                                                                               \
  void narrow_forward(bool, const float*, int64_t, const float*, const float*, int, float*, int64_t, int64_t,   \
                      int64_t, int64_t, int64_t);                                                               \
  void narrow_forward(bool, const double*, int64_t, const double*, const double*, int, double*, int64_t,        \
                      int64_t, int64_t, int64_t, int64_t);                                                      \
  void narrow_backward(bool, const float*, int64_t, const float*, const float*, int, const float*, float*,      \
                       float*, float*, int64_t, int64_t, int64_t, bool);                                        \
  void narrow_backward(bool, const double*, int64_t, const double*, const double*, int, const double*, double*, \
                       double*, double*, int64_t, int64_t, int64_t, bool);                                      \
  }
PYDL_DECLARE_ISA(avx2_narrow)
PYDL_DECLARE_ISA(avx512_narrow)
#define PYDL_DISPATCH(loop, ...)                                \
  switch (simd_level()) {                                       \
    case SimdLevel::avx512: return avx512_narrow::loop(__VA_ARGS__); \
    case SimdLevel::avx2: return avx2_narrow::loop(__VA_ARGS__);     \
    default: return generic_narrow::loop(__VA_ARGS__);               \
  }
#else
#define PYDL_DISPATCH(loop, ...) return generic_narrow::loop(__VA_ARGS__);
#endif

// Element-wise work below this many outputs per thread is faster on one thread (as for the activations).
constexpr int64_t kNarrowGrain = 1 << 16;

template <typename T>
static void forward_rows(bool fm, const T* x, int64_t ldx, const T* w, const T* b, Activation act, T* y, int64_t r0,
                         int64_t r1, int64_t n, int64_t in, int64_t out) {
  PYDL_DISPATCH(narrow_forward, fm, x, ldx, w, b, int(act), y, r0, r1, n, in, out)
}

template <typename T>
void dense_narrow_forward(bool fm, const T* x, int64_t ldx, const T* w, const T* b, Activation act, T* y, int64_t n,
                          int64_t in, int64_t out) {
  // Each output element is computed alone, so splitting the rows cannot change a result.
  parallel_for(n, kNarrowGrain / out + 1, [&](int64_t r0, int64_t r1) {
    forward_rows(fm, x, ldx, w, b, act, y, r0, r1, n, in, out);
  });
}

// One thread: the sums over the batch must not depend on the thread count, and a narrow layer's
// backward is a few multiply-adds per sample.
template <typename T>
void dense_narrow_backward(bool fm, const T* x, int64_t ldx, const T* w, const T* y, Activation act, const T* dy, T* dx,
                           T* dw, T* db, int64_t n, int64_t in, int64_t out, bool accumulate) {
  PYDL_DISPATCH(narrow_backward, fm, x, ldx, w, y, int(act), dy, dx, dw, db, n, in, out, accumulate)
}

#define PYDL_INSTANTIATE(T)                                                                                    \
  template void dense_narrow_forward<T>(bool, const T*, int64_t, const T*, const T*, Activation, T*, int64_t,   \
                                        int64_t, int64_t);                                                     \
  template void dense_narrow_backward<T>(bool, const T*, int64_t, const T*, const T*, Activation, const T*, T*, \
                                         T*, T*, int64_t, int64_t, int64_t, bool);
PYDL_INSTANTIATE(float)
PYDL_INSTANTIATE(double)

}  // namespace pydl
