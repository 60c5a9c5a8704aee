// Narrow dense layers (dense.h: is_narrow) as plain loops, written once and compiled per instruction set
// (dense_narrow.cpp, dense_narrow_avx2.cpp, dense_narrow_avx512.cpp include this inside their own
// namespace). Each formula is written once for both layouts, so a row-major call (the Python layer) and
// a feature-major call (the plan of a narrow network) give the same bits:
//   rows:     element (sample r, feature k) of an (n, f) activation at r * f + k
//   features: the same element at k * ld + r (ld = n except for x, which may be a slice of a wider block)
// Feature-major, the loops run across the batch, where the vector units have work for 2 -> 3 -> 1.
#include "vmath.h"
#include "activation_math.h"
#include "lanes.h"

template <typename T>
static inline T identity_of(T v) { return v; }

template <bool FM>
static inline int64_t at(int64_t k, int64_t r, int64_t ld, int64_t f) { return FM ? k * ld + r : r * f + k; }

// y[j] = act(sum_k x[k] w[k, j] + b[j]) for rows [r0, r1): the sum from 0 in the order of k, then the bias.
template <bool FM, int IN, typename T, T (*act)(T)>
static void forward_rows(const T* x, int64_t ldx, const T* w, const T* b, T* y, int64_t r0, int64_t r1, int64_t n,
                         int64_t out) {
  for (int64_t j = 0; j < out; ++j) {
    T wj[IN];
    for (int k = 0; k < IN; ++k) wj[k] = w[k * out + j];
    const T bj = b ? b[j] : T(0);
    for (int64_t r = r0; r < r1; ++r) {
      T s = T(0);
      for (int k = 0; k < IN; ++k) s = mul_add(x[at<FM>(k, r, ldx, IN)], wj[k], s);
      if (b) s += bj;
      y[at<FM>(j, r, n, out)] = act(s);
    }
  }
}

// Sums over the batch go in kLanes fixed lanes (sample r in lane r % kLanes) over whole blocks of kLanes
// samples, the lanes then added in order, then the samples after the last whole block one by one: the
// order is fixed by n alone, so it is the same in both layouts and on any thread count.
constexpr int kLanes = 16;
constexpr int kMaxOut = 8;  // dense.h: kNarrowOut

// The activations' derivatives on one value or on kLanes (activation_math.h's formulas take either).
struct IdentityGrad {
  template <typename V> static V apply(const V&, const V& dy) { return dy; }
};
struct ReluGrad {
  template <typename V> static V apply(const V& y, const V& dy) { return relu_grad(y, dy); }
};
struct SigmoidGrad {
  template <typename V> static V apply(const V& y, const V& dy) { return sigmoid_grad(y, dy); }
};
struct TanhGrad {
  template <typename V> static V apply(const V& y, const V& dy) { return tanh_grad(y, dy); }
};

// dz = grad(y, dy) (the layer's activation), dw = x^T dz, db = column sums of dz (in double), dx = dz w^T.
template <bool FM, int IN, typename T, typename Grad>
static void backward_rows(const T* x, int64_t ldx, const T* w, const T* y, const T* dy, T* dx, T* dw, T* db,
                          int64_t n, int64_t out, bool accumulate) {
  T acc[IN][kMaxOut][kLanes] = {};
  double dacc[kMaxOut][kLanes] = {};
  int64_t r = 0;
  for (; r + kLanes <= n; r += kLanes) {
    T xv[IN][kLanes], dxv[IN][kLanes] = {};
    for (int k = 0; k < IN; ++k)
      for (int l = 0; l < kLanes; ++l) xv[k][l] = x[at<FM>(k, r + l, ldx, IN)];
    for (int64_t j = 0; j < out; ++j) {
      T dz[kLanes];
      for (int l = 0; l < kLanes; ++l) {
        const int64_t i = at<FM>(j, r + l, n, out);
        dz[l] = Grad::apply(y[i], dy[i]);
      }
      for (int k = 0; k < IN; ++k)
        for (int l = 0; l < kLanes; ++l) acc[k][j][l] = mul_add(xv[k][l], dz[l], acc[k][j][l]);
      for (int l = 0; l < kLanes; ++l) dacc[j][l] += double(dz[l]);
      if (!dx) continue;
      const T* wj = w + j;
      for (int k = 0; k < IN; ++k)
        for (int l = 0; l < kLanes; ++l) dxv[k][l] = mul_add(dz[l], wj[k * out], dxv[k][l]);
    }
    if (dx) {
      for (int k = 0; k < IN; ++k)
        for (int l = 0; l < kLanes; ++l) dx[at<FM>(k, r + l, n, IN)] = dxv[k][l];
    }
  }
  T sum[IN][kMaxOut];
  double dsum[kMaxOut];
  for (int64_t j = 0; j < out; ++j) {
    for (int k = 0; k < IN; ++k) {
      sum[k][j] = acc[k][j][0];
      for (int l = 1; l < kLanes; ++l) sum[k][j] += acc[k][j][l];
    }
    dsum[j] = dacc[j][0];
    for (int l = 1; l < kLanes; ++l) dsum[j] += dacc[j][l];
  }
  for (; r < n; ++r) {
    T dxr[IN] = {};
    for (int64_t j = 0; j < out; ++j) {
      const int64_t i = at<FM>(j, r, n, out);
      const T dz = Grad::apply(y[i], dy[i]);
      for (int k = 0; k < IN; ++k) sum[k][j] = mul_add(x[at<FM>(k, r, ldx, IN)], dz, sum[k][j]);
      dsum[j] += double(dz);
      for (int k = 0; k < IN; ++k) dxr[k] = mul_add(dz, w[k * out + j], dxr[k]);
    }
    if (dx) {
      for (int k = 0; k < IN; ++k) dx[at<FM>(k, r, n, IN)] = dxr[k];
    }
  }
  for (int64_t j = 0; j < out; ++j) {
    for (int k = 0; k < IN; ++k) dw[k * out + j] = accumulate ? dw[k * out + j] + sum[k][j] : sum[k][j];
    if (db) db[j] = T(dsum[j] + (accumulate ? double(db[j]) : 0.0));
  }
}

// kLanes values of T as a GCC vector (lanes.h; one AVX-512 register of float): the feature-major backward
// below holds its lanes in them, because GCC's AVX-512 code for backward_rows assembled the lanes from
// scalar loads.
template <typename T>
using LaneVec = typename Lanes<T, kLanes>::type;

// The double sums of kLanes lanes as two halves of 8 (one AVX-512 register each): GCC kept a
// 16-double vector in memory, a store and a reload in every iteration's dependency chain.
static_assert(kLanes == 16, "DoubleLanes::add shuffles two halves of 8");
using HalfLanes = Lanes<double, kLanes / 2>::type;
struct DoubleLanes {
  HalfLanes lo{}, hi{};
  template <typename V>
  void add(const V& v) {
#ifdef __AVX512F__
    if constexpr (sizeof(v[0]) == sizeof(float)) {
      // Two 512-bit conversions: GCC 12 lowers the generic ones below to four 128-bit ones and inserts.
      __m512 f;
      __builtin_memcpy(&f, &v, sizeof(f));
      lo += HalfLanes(_mm512_cvtps_pd(_mm512_castps512_ps256(f)));
      hi += HalfLanes(_mm512_cvtps_pd(_mm512_extractf32x8_ps(f, 1)));
      return;
    }
#endif
    lo += __builtin_convertvector(__builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7), HalfLanes);
    hi += __builtin_convertvector(__builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15), HalfLanes);
  }
  double operator[](int l) const { return l < kLanes / 2 ? lo[l] : hi[l - kLanes / 2]; }
};

// mul_add (vmath.h) lane by lane, one FMA a 512-bit register, as the scalar loops of backward_rows do per
// lane (backward_fm runs in the AVX-512 build only).
#ifdef __AVX512F__
template <typename T>
struct Register512;
template <>
struct Register512<float> {
  using type = __m512;
  static type fmadd(type a, type b, type c) { return _mm512_fmadd_ps(a, b, c); }
};
template <>
struct Register512<double> {
  using type = __m512d;
  static type fmadd(type a, type b, type c) { return _mm512_fmadd_pd(a, b, c); }
};

template <typename V>
static inline V lanes_mul_add(const V& a, const V& b, const V& c) {
  using Reg = Register512<typename std::decay<decltype(a[0])>::type>;
  using R = typename Reg::type;
  static_assert(sizeof(V) % sizeof(R) == 0, "whole registers");
  V r;
  for (size_t q = 0; q < sizeof(V) / sizeof(R); ++q) {
    R x, y, z;
    __builtin_memcpy(&x, reinterpret_cast<const char*>(&a) + sizeof(R) * q, sizeof(R));
    __builtin_memcpy(&y, reinterpret_cast<const char*>(&b) + sizeof(R) * q, sizeof(R));
    __builtin_memcpy(&z, reinterpret_cast<const char*>(&c) + sizeof(R) * q, sizeof(R));
    const R f = Reg::fmadd(x, y, z);
    __builtin_memcpy(reinterpret_cast<char*>(&r) + sizeof(R) * q, &f, sizeof(R));
  }
  return r;
}
#endif

// backward_rows<true, ...> with each lane a vector element: the same operations on the same values
// in the same order, so the same bits. One output feature at a time (dx accumulates over them in
// memory, in the order of j, as dxv does there).
template <int IN, typename T, typename Grad>
static void backward_fm(const T* x, int64_t ldx, const T* w, const T* y, const T* dy, T* dx, T* dw, T* db,
                        int64_t n, int64_t out, bool accumulate) {
  using V = LaneVec<T>;
  const int64_t blocks_end = n / kLanes * kLanes;
  for (int64_t j = 0; j < out; ++j) {
    const T* yj = y + j * n;
    const T* dyj = dy + j * n;
    T wj[IN];
    for (int k = 0; k < IN; ++k) wj[k] = w[k * out + j];
    V acc[IN] = {};
    DoubleLanes dacc;
    for (int64_t r = 0; r < blocks_end; r += kLanes) {
      const V dz = Grad::apply(load_lanes<V>(yj + r), load_lanes<V>(dyj + r));
      for (int k = 0; k < IN; ++k) acc[k] = lanes_mul_add(load_lanes<V>(x + k * ldx + r), dz, acc[k]);
      dacc.add(dz);
      if (!dx) continue;
      for (int k = 0; k < IN; ++k) {
        T* d = dx + k * n + r;
        store_lanes(d, lanes_mul_add(dz, V{} + wj[k], j == 0 ? V{} : load_lanes<V>(d)));
      }
    }
    T sum[IN];
    for (int k = 0; k < IN; ++k) {
      sum[k] = acc[k][0];
      for (int l = 1; l < kLanes; ++l) sum[k] += acc[k][l];
    }
    double dsum = dacc[0];
    for (int l = 1; l < kLanes; ++l) dsum += dacc[l];
    for (int64_t r = blocks_end; r < n; ++r) {
      const T dz = Grad::apply(yj[r], dyj[r]);
      for (int k = 0; k < IN; ++k) sum[k] = mul_add(x[k * ldx + r], dz, sum[k]);
      dsum += double(dz);
      if (dx) {
        for (int k = 0; k < IN; ++k) dx[k * n + r] = mul_add(dz, wj[k], j == 0 ? T(0) : dx[k * n + r]);
      }
    }
    for (int k = 0; k < IN; ++k) dw[k * out + j] = accumulate ? dw[k * out + j] + sum[k] : sum[k];
    if (db) db[j] = T(dsum + (accumulate ? double(db[j]) : 0.0));
  }
}

// With AVX-512's 32 registers GCC keeps backward_fm's lanes in them; with AVX2's 16 (and SSE2's) it
// spills them, and the plain loops are faster there (2 -> 3 float with dx, n = 1000: AVX-512 3.4 -> 0.9
// us, AVX2 2.0 -> 2.4 us).
#ifdef __AVX512F__
constexpr bool kLaneVectors = true;
#else
constexpr bool kLaneVectors = false;
#endif

template <bool FM, int IN, typename T, typename Grad>
static void backward_layout(const T* x, int64_t ldx, const T* w, const T* y, const T* dy, T* dx, T* dw, T* db,
                            int64_t n, int64_t out, bool accumulate) {
  if constexpr (FM && kLaneVectors) {
    backward_fm<IN, T, Grad>(x, ldx, w, y, dy, dx, dw, db, n, out, accumulate);
  } else {
    backward_rows<FM, IN, T, Grad>(x, ldx, w, y, dy, dx, dw, db, n, out, accumulate);
  }
}

template <bool FM, int IN, typename T>
static void forward_in(const T* x, int64_t ldx, const T* w, const T* b, int act, T* y, int64_t r0, int64_t r1,
                       int64_t n, int64_t out) {
  switch (act) {  // dense.h's Activation: none, relu, sigmoid, tanh
    case 1: return forward_rows<FM, IN, T, relu_of<T>>(x, ldx, w, b, y, r0, r1, n, out);
    case 2: return forward_rows<FM, IN, T, sigmoid_of<T>>(x, ldx, w, b, y, r0, r1, n, out);
    case 3: return forward_rows<FM, IN, T, tanh_of<T>>(x, ldx, w, b, y, r0, r1, n, out);
    default: return forward_rows<FM, IN, T, identity_of<T>>(x, ldx, w, b, y, r0, r1, n, out);
  }
}

template <bool FM, int IN, typename T>
static void backward_in(const T* x, int64_t ldx, const T* w, const T* y, int act, const T* dy, T* dx, T* dw, T* db,
                        int64_t n, int64_t out, bool accumulate) {
  switch (act) {
    case 1: return backward_layout<FM, IN, T, ReluGrad>(x, ldx, w, y, dy, dx, dw, db, n, out, accumulate);
    case 2: return backward_layout<FM, IN, T, SigmoidGrad>(x, ldx, w, y, dy, dx, dw, db, n, out, accumulate);
    case 3: return backward_layout<FM, IN, T, TanhGrad>(x, ldx, w, y, dy, dx, dw, db, n, out, accumulate);
    default: return backward_layout<FM, IN, T, IdentityGrad>(x, ldx, w, dy, dy, dx, dw, db, n, out, accumulate);
  }
}

#define PYDL_NARROW_DISPATCH(fn, fm, in, ...)                                       \
  switch ((fm ? 4 : 0) + int(in) - 1) {                                             \
    case 0: return fn<false, 1>(__VA_ARGS__);                                       \
    case 1: return fn<false, 2>(__VA_ARGS__);                                       \
    case 2: return fn<false, 3>(__VA_ARGS__);                                       \
    case 3: return fn<false, 4>(__VA_ARGS__);                                       \
    case 4: return fn<true, 1>(__VA_ARGS__);                                        \
    case 5: return fn<true, 2>(__VA_ARGS__);                                        \
    case 6: return fn<true, 3>(__VA_ARGS__);                                        \
    default: return fn<true, 4>(__VA_ARGS__);                                       \
  }

// The entry points dense_narrow.cpp dispatches to, one set per instruction set.
#define PYDL_NARROW_ENTRY(T)                                                                                     \
  void narrow_forward(bool fm, const T* x, int64_t ldx, const T* w, const T* b, int act, T* y, int64_t r0,       \
                      int64_t r1, int64_t n, int64_t in, int64_t out) {                                          \
    PYDL_NARROW_DISPATCH(forward_in, fm, in, x, ldx, w, b, act, y, r0, r1, n, out)                               \
  }                                                                                                              \
  void narrow_backward(bool fm, const T* x, int64_t ldx, const T* w, const T* y, int act, const T* dy, T* dx,    \
                       T* dw, T* db, int64_t n, int64_t in, int64_t out, bool accumulate) {                      \
    PYDL_NARROW_DISPATCH(backward_in, fm, in, x, ldx, w, y, act, dy, dx, dw, db, n, out, accumulate)             \
  }
PYDL_NARROW_ENTRY(float)
PYDL_NARROW_ENTRY(double)
#undef PYDL_NARROW_ENTRY
#undef PYDL_NARROW_DISPATCH
