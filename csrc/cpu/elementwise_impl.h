// Element-wise activation loops, written once and compiled per instruction set: activations.cpp,
// activations_avx2.cpp and activations_avx512.cpp each include this inside their own namespace.
// The loops are branch-free so the compiler vectorises them; each also reports whether an input
// was NaN, folded into the same pass so validation costs no extra read of memory.
#include "vmath.h"
#include "activation_math.h"

template <typename T, T (*f)(T)>
static bool forward_loop(const T* x, T* y, int64_t n) {
  int nan = 0;
  for (int64_t i = 0; i < n; ++i) {
    T v = x[i];
    nan |= v != v;
    y[i] = f(v);
  }
  return nan != 0;
}

template <typename T, T (*g)(T, T)>
static bool backward_loop(const T* y, const T* dy, T* dx, int64_t n) {
  int nan = 0;
  for (int64_t i = 0; i < n; ++i) {
    nan |= (y[i] != y[i]) | (dy[i] != dy[i]);
    dx[i] = g(y[i], dy[i]);
  }
  return nan != 0;
}

// The entry points activations.cpp dispatches to, one set per instruction set.
#define PYDL_ELEMENTWISE(name)                                                                                   \
  bool name(const float* x, float* y, int64_t n) { return forward_loop<float, name##_of<float>>(x, y, n); }      \
  bool name(const double* x, double* y, int64_t n) { return forward_loop<double, name##_of<double>>(x, y, n); }  \
  bool name##_backward(const float* y, const float* dy, float* dx, int64_t n) {                                  \
    return backward_loop<float, name##_grad<float>>(y, dy, dx, n);                                               \
  }                                                                                                              \
  bool name##_backward(const double* y, const double* dy, double* dx, int64_t n) {                               \
    return backward_loop<double, name##_grad<double>>(y, dy, dx, n);                                             \
  }
PYDL_ELEMENTWISE(sigmoid)
PYDL_ELEMENTWISE(tanh)
PYDL_ELEMENTWISE(relu)
#undef PYDL_ELEMENTWISE
