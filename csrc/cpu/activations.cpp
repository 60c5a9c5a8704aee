// Element-wise activations: the portable build of the loops and the run-time choice between it and
// the AVX2 / AVX-512 builds.
#include "activations.h"

#include <atomic>
#include <cstdint>

#include "cpu.h"
#include "parallel.h"

namespace pydl {

namespace generic {
#include "elementwise_impl.h"
}  // namespace generic

#ifdef PYDL_X86
#define PYDL_DECLARE_BACKWARD(name)                                                \
  bool name##_backward(const float* y, const float* dy, float* dx, int64_t n);     \
  bool name##_backward(const double* y, const double* dy, double* dx, int64_t n);
#define PYDL_DECLARE_ISA(isa)                               \
  namespace isa {                                           \
  bool sigmoid(const float* x, float* y, int64_t n);        \
  bool sigmoid(const double* x, double* y, int64_t n);      \
  bool tanh(const float* x, float* y, int64_t n);           \
  bool tanh(const double* x, double* y, int64_t n);         \
  bool relu(const float* x, float* y, int64_t n);           \
  bool relu(const double* x, double* y, int64_t n);         \
  PYDL_DECLARE_BACKWARD(sigmoid)                            \
  PYDL_DECLARE_BACKWARD(tanh)                               \
  PYDL_DECLARE_BACKWARD(relu)                               \
  }
PYDL_DECLARE_ISA(avx2)
PYDL_DECLARE_ISA(avx512)
#define PYDL_DISPATCH(loop, ...)                                         \
  switch (simd_level()) {                                                \
    case SimdLevel::avx512: return avx512::loop(__VA_ARGS__);            \
    case SimdLevel::avx2: return avx2::loop(__VA_ARGS__);                \
    default: return generic::loop(__VA_ARGS__);                          \
  }
#else
#define PYDL_DISPATCH(loop, ...) return generic::loop(__VA_ARGS__);
#endif

bool sigmoid(const float* x, float* y, int64_t n) { PYDL_DISPATCH(sigmoid, x, y, n) }
bool sigmoid(const double* x, double* y, int64_t n) { PYDL_DISPATCH(sigmoid, x, y, n) }
bool tanh(const float* x, float* y, int64_t n) { PYDL_DISPATCH(tanh, x, y, n) }
bool tanh(const double* x, double* y, int64_t n) { PYDL_DISPATCH(tanh, x, y, n) }
bool relu(const float* x, float* y, int64_t n) { PYDL_DISPATCH(relu, x, y, n) }
bool relu(const double* x, double* y, int64_t n) { PYDL_DISPATCH(relu, x, y, n) }

template <typename T>
static bool sigmoid_backward(const T* y, const T* dy, T* dx, int64_t n) { PYDL_DISPATCH(sigmoid_backward, y, dy, dx, n) }
template <typename T>
static bool tanh_backward(const T* y, const T* dy, T* dx, int64_t n) { PYDL_DISPATCH(tanh_backward, y, dy, dx, n) }
template <typename T>
static bool relu_backward(const T* y, const T* dy, T* dx, int64_t n) { PYDL_DISPATCH(relu_backward, y, dy, dx, n) }

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
      yr[c] = generic::vexp_nonpos(xr[c] - mx);
      sum += yr[c];
    }
    T inv = T(1) / sum;
    for (int64_t c = 0; c < cols; ++c) yr[c] *= inv;
  }
  return nan != 0;
}

bool softmax(const float* x, float* y, int64_t rows, int64_t cols) { return softmax_rows(x, y, rows, cols); }
bool softmax(const double* x, double* y, int64_t rows, int64_t cols) { return softmax_rows(x, y, rows, cols); }

// Element-wise work below this many elements per thread is faster on one thread.
constexpr int64_t kElementwiseGrain = 1 << 16;

template <typename T>
bool activation_forward(Activation act, const T* x, T* y, int64_t n) {
  bool (*loop)(const T*, T*, int64_t) = nullptr;
  switch (act) {
    case Activation::sigmoid: loop = &sigmoid; break;
    case Activation::tanh: loop = &tanh; break;
    case Activation::relu: loop = &relu; break;
    case Activation::none: return false;
  }
  std::atomic<int> nan{0};
  parallel_for(n, kElementwiseGrain, [&](int64_t b, int64_t e) {
    if (loop(x + b, y + b, e - b)) nan.fetch_or(1);
  });
  return nan.load() != 0;
}

template <typename T>
bool activation_backward(Activation act, const T* y, const T* dy, T* dx, int64_t n) {
  bool (*loop)(const T*, const T*, T*, int64_t) = nullptr;
  switch (act) {
    case Activation::sigmoid: loop = &sigmoid_backward<T>; break;
    case Activation::tanh: loop = &tanh_backward<T>; break;
    case Activation::relu: loop = &relu_backward<T>; break;
    case Activation::none: return false;
  }
  std::atomic<int> nan{0};
  parallel_for(n, kElementwiseGrain, [&](int64_t b, int64_t e) {
    if (loop(y + b, dy + b, dx + b, e - b)) nan.fetch_or(1);
  });
  return nan.load() != 0;
}

template <typename T>
bool leaky_relu_forward(const T* x, T* y, int64_t n, double slope) {
  const T a = T(slope);
  std::atomic<int> nan{0};
  parallel_for(n, kElementwiseGrain, [&](int64_t b, int64_t e) {
    int bad = 0;
    for (int64_t i = b; i < e; ++i) {
      const T v = x[i];
      bad |= v != v;
      y[i] = v > T(0) ? v : v * a;
    }
    if (bad) nan.fetch_or(1);
  });
  return nan.load() != 0;
}

template <typename T>
bool leaky_relu_backward(const T* y, const T* dy, T* dx, int64_t n, double slope) {
  const T a = T(slope);
  std::atomic<int> nan{0};
  parallel_for(n, kElementwiseGrain, [&](int64_t b, int64_t e) {
    int bad = 0;
    for (int64_t i = b; i < e; ++i) {
      bad |= (y[i] != y[i]) | (dy[i] != dy[i]);
      // With slope >= 0, y > 0 exactly where x > 0 (PyTorch's test, on the input).
      dx[i] = y[i] > T(0) ? dy[i] : dy[i] * a;
    }
    if (bad) nan.fetch_or(1);
  });
  return nan.load() != 0;
}

template <typename T>
void clip_probabilities(T* y, int64_t n, double clip) {
  const T lo = T(clip), hi = T(1.0 - clip);
  for (int64_t i = 0; i < n; ++i) y[i] = y[i] < lo ? lo : (y[i] > hi ? hi : y[i]);
}

template <typename T>
bool softmax_forward(const T* x, T* y, int64_t rows, int64_t cols) {
  std::atomic<int> nan{0};
  parallel_for(rows, kElementwiseGrain / cols + 1, [&](int64_t b, int64_t e) {
    if (softmax(x + b * cols, y + b * cols, e - b, cols)) nan.fetch_or(1);
  });
  return nan.load() != 0;
}

template <typename T>
void softmax_backward(const T* y, const T* dy, T* dx, int64_t rows, int64_t cols) {
  parallel_for(rows, kElementwiseGrain / cols + 1, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const T* yr = y + r * cols;
      const T* dyr = dy + r * cols;
      T dot = 0;
      for (int64_t c = 0; c < cols; ++c) dot += yr[c] * dyr[c];
      for (int64_t c = 0; c < cols; ++c) dx[r * cols + c] = yr[c] * (dyr[c] - dot);
    }
  });
}

#define PYDL_INSTANTIATE(T)                                                                      \
  template bool activation_forward<T>(Activation, const T*, T*, int64_t);                        \
  template bool activation_backward<T>(Activation, const T*, const T*, T*, int64_t);             \
  template void clip_probabilities<T>(T*, int64_t, double);                                      \
  template bool leaky_relu_forward<T>(const T*, T*, int64_t, double);                            \
  template bool leaky_relu_backward<T>(const T*, const T*, T*, int64_t, double);                 \
  template bool softmax_forward<T>(const T*, T*, int64_t, int64_t);                              \
  template void softmax_backward<T>(const T*, const T*, T*, int64_t, int64_t);
PYDL_INSTANTIATE(float)
PYDL_INSTANTIATE(double)
#undef PYDL_INSTANTIATE

}  // namespace pydl
