// Element-wise activation loops, written once and compiled per instruction set: activations.cpp,
// activations_avx2.cpp and activations_avx512.cpp each include this inside their own namespace.
// The loops are branch-free so the compiler vectorises them; each also reports whether an input
// was NaN, folded into the same pass so validation costs no extra read of memory.
#include "vmath.h"

template <typename T>
static bool sigmoid_loop(const T* x, T* y, int64_t n) {
  int nan = 0;
  for (int64_t i = 0; i < n; ++i) {
    T v = x[i];
    nan |= v != v;
    T a = v < T(0) ? -v : v;
    T e = vexp(-a);  // in (0, 1]: never overflows
    T s = T(1) / (T(1) + e);
    y[i] = v >= T(0) ? s : e * s;
  }
  return nan != 0;
}

// tanh: an odd polynomial/rational near 0 (where 1 - e^-2|x| loses digits), the exp form elsewhere.
static inline float tanh_small(float x) {
  float z = x * x;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  return p * z * x + x;
}

static inline double tanh_small(double x) {
  double z = x * x;
  double p = (-9.64399179425052238628e-1 * z - 9.92877231001918586564e1) * z - 1.61468768441708447952e3;
  double q = ((z + 1.12811678491632931402e2) * z + 2.23548839060100448583e3) * z + 4.84406305325125486048e3;
  return x + x * z * p / q;
}

template <typename T>
static bool tanh_loop(const T* x, T* y, int64_t n) {
  int nan = 0;
  for (int64_t i = 0; i < n; ++i) {
    T v = x[i];
    nan |= v != v;
    T a = v < T(0) ? -v : v;
    T e = vexp(T(-2) * a);
    T big = (T(1) - e) / (T(1) + e);
    T r = a < T(0.625) ? tanh_small(a) : big;
    y[i] = v < T(0) ? -r : r;
  }
  return nan != 0;
}

template <typename T>
static bool relu_loop(const T* x, T* y, int64_t n) {
  int nan = 0;
  for (int64_t i = 0; i < n; ++i) {
    T v = x[i];
    nan |= v != v;
    y[i] = v > T(0) ? v : T(0);
  }
  return nan != 0;
}

// The entry points activations.cpp dispatches to, one set per instruction set.
bool sigmoid(const float* x, float* y, int64_t n) { return sigmoid_loop(x, y, n); }
bool sigmoid(const double* x, double* y, int64_t n) { return sigmoid_loop(x, y, n); }
bool tanh(const float* x, float* y, int64_t n) { return tanh_loop(x, y, n); }
bool tanh(const double* x, double* y, int64_t n) { return tanh_loop(x, y, n); }
bool relu(const float* x, float* y, int64_t n) { return relu_loop(x, y, n); }
bool relu(const double* x, double* y, int64_t n) { return relu_loop(x, y, n); }
