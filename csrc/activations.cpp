// Element-wise activations: the portable build of the loops and the run-time choice between it and
// the AVX2 / AVX-512 builds.
#include "activations.h"

#include <cstdint>

#include "cpu.h"

namespace pydl {

namespace generic {
#include "elementwise_impl.h"
}  // namespace generic

#ifdef PYDL_X86
#define PYDL_DECLARE_ISA(isa)                               \
  namespace isa {                                           \
  bool sigmoid(const float* x, float* y, int64_t n);        \
  bool sigmoid(const double* x, double* y, int64_t n);      \
  bool tanh(const float* x, float* y, int64_t n);           \
  bool tanh(const double* x, double* y, int64_t n);         \
  bool relu(const float* x, float* y, int64_t n);           \
  bool relu(const double* x, double* y, int64_t n);         \
  }
PYDL_DECLARE_ISA(avx2)
PYDL_DECLARE_ISA(avx512)
#define PYDL_DISPATCH(loop, x, y, n)                                     \
  switch (simd_level()) {                                                \
    case SimdLevel::avx512: return avx512::loop(x, y, n);                \
    case SimdLevel::avx2: return avx2::loop(x, y, n);                    \
    default: return generic::loop(x, y, n);                       \
  }
#else
#define PYDL_DISPATCH(loop, x, y, n) return generic::loop(x, y, n);
#endif

bool sigmoid(const float* x, float* y, int64_t n) { PYDL_DISPATCH(sigmoid, x, y, n) }
bool sigmoid(const double* x, double* y, int64_t n) { PYDL_DISPATCH(sigmoid, x, y, n) }
bool tanh(const float* x, float* y, int64_t n) { PYDL_DISPATCH(tanh, x, y, n) }
bool tanh(const double* x, double* y, int64_t n) { PYDL_DISPATCH(tanh, x, y, n) }
bool relu(const float* x, float* y, int64_t n) { PYDL_DISPATCH(relu, x, y, n) }
bool relu(const double* x, double* y, int64_t n) { PYDL_DISPATCH(relu, x, y, n) }

template <typename T>
static bool softmax_rows(const T* x, T* y, int64_t rows, int64_t cols) {
  int nan = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * cols;
    T* yr = y + r * cols;
    T mx = xr[0];
    for (int64_t c = 0; c < cols; ++c) {
      nan |= xr[c] != xr[c];
      mx = xr[c] > mx ? xr[c] : mx;
    }
    T sum = 0;
    for (int64_t c = 0; c < cols; ++c) {
      yr[c] = generic::vexp(xr[c] - mx);
      sum += yr[c];
    }
    T inv = T(1) / sum;
    for (int64_t c = 0; c < cols; ++c) yr[c] *= inv;
  }
  return nan != 0;
}

bool softmax(const float* x, float* y, int64_t rows, int64_t cols) { return softmax_rows(x, y, rows, cols); }
bool softmax(const double* x, double* y, int64_t rows, int64_t cols) { return softmax_rows(x, y, rows, cols); }

}  // namespace pydl
