// The activations' element formulas, forward and backward, written once: the element-wise kernels
// (elementwise_impl.h) and the narrow dense kernels (dense_narrow_impl.h) both compute through these, so
// a fused dense+activation gives the bits of the dense kernel followed by the activation kernel. Included
// inside an ISA namespace after vmath.h, like the files that use it.

template <typename T>
static inline T sigmoid_of(T v) {
  T e = vexp_nonpos(neg_abs(v));  // in [0, 1]; -0 for v = +-0 gives e = 1 as +0 does
  T s = T(1) / (T(1) + e);
  return v >= T(0) ? s : e * s;
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
static inline T tanh_of(T v) {
  T a = v < T(0) ? -v : v;
  T e = vexp_nonpos(T(-2) * a);
  T big = (T(1) - e) / (T(1) + e);
  T r = a < T(0.625) ? tanh_small(a) : big;
  return v < T(0) ? -r : r;
}

template <typename T>
static inline T relu_of(T v) { return v > T(0) ? v : T(0); }

// dL/d(input) from the forward output y and dL/dy; T a floating-point type or a GCC vector of one.
template <typename T>
static inline T sigmoid_grad(T y, T dy) { return dy * y * (1 - y); }
template <typename T>
static inline T tanh_grad(T y, T dy) { return dy * (1 - y * y); }
template <typename T>
static inline T relu_grad(T y, T dy) { return y > 0 ? dy : T{}; }
