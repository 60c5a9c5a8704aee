// The native training loop (trainer.h). Narrow networks (2 -> 3 -> 1 in the reports) keep activations
// and gradients feature-major (features x rows), so every loop runs across the batch, where the vector
// units have work; networks with a wide layer are stored row-major, where their GEMMs run fastest.
#include "trainer.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>

#include "activations.h"
#include "cpu.h"
#include "gemm.h"
#include "optim.h"
#include "parallel.h"

namespace pydl {

namespace trainer_math {
#include "vmath.h"

// log(x) for x >= the smallest normal number, written like vmath.h's vexp so loops calling it
// vectorise (integer and float arithmetic only: no branches, no selects). As musl's log does, the
// reduction x = 2^k m uses an offset so that m lands in [sqrt(1/2), sqrt(2)); then log m = 2 atanh(s)
// with s = (m - 1) / (m + 1), |s| < 0.172, summed as an odd series in s. About 1 ulp. The losses take
// logs of clipped probabilities (>= eps), of 1 + e and of sums of exponentials >= 1; callers clamp
// the argument to the normal range (a BCE eps below 1e-38 clips a little higher).
static inline double vlog(double x) {
  const int64_t off = INT64_C(0x3fe6a09e667f3bcd);  // sqrt(1/2)
  const int64_t ix = f64_to_bits(x), tmp = ix - off;
  const double m = bits_to_f64(ix - (tmp & INT64_C(-4503599627370496)));  // keep the exponent of off
  // k = tmp >> 52 (arithmetic), made non-negative for a logical shift and converted through the 2^52
  // magic number: AVX2 has neither a 64-bit arithmetic shift nor an int64 -> double conversion.
  const uint64_t biased = (uint64_t(tmp) + (UINT64_C(1) << 62)) >> 52;  // k + 1024
  const double k = bits_to_f64(int64_t(biased | UINT64_C(0x4330000000000000))) - (4503599627370496.0 + 1024.0);
  const double s = (m - 1) / (m + 1), z = s * s;
  // sum_{j=1..11} z^j / (2j + 1): the next term is below 1e-18 relative.
  double p = 1.0 / 23;
  p = p * z + 1.0 / 21;
  p = p * z + 1.0 / 19;
  p = p * z + 1.0 / 17;
  p = p * z + 1.0 / 15;
  p = p * z + 1.0 / 13;
  p = p * z + 1.0 / 11;
  p = p * z + 1.0 / 9;
  p = p * z + 1.0 / 7;
  p = p * z + 1.0 / 5;
  p = p * z + 1.0 / 3;
  const double r = 2 * s + 2 * s * (p * z);
  return k * 6.93147180369123816490e-01 + (r + k * 1.90821492927058770002e-10);
}

static inline float vlog(float x) {
  const int32_t off = 0x3f3504f3;  // sqrt(1/2)
  const int32_t ix = f32_to_bits(x), tmp = ix - off;
  const float m = bits_to_f32(ix - (tmp & int32_t(0xff800000)));
  const float k = float(tmp >> 23);
  const float s = (m - 1) / (m + 1), z = s * s;
  float p = 1.0f / 13;
  p = p * z + 1.0f / 11;
  p = p * z + 1.0f / 9;
  p = p * z + 1.0f / 7;
  p = p * z + 1.0f / 5;
  p = p * z + 1.0f / 3;
  const float r = 2 * s + 2 * s * (p * z);
  return k * 0.693359375f + (r + k * -2.12194440e-4f);
}

// log(1 + e) for e in [0, 1], with the rounding of 1 + e corrected (e tiny would otherwise give 0).
template <typename T>
static inline T vlog1p(T e) {
  const T u = T(1) + e;
  return vlog(u) - ((u - T(1)) - e) / u;
}
}  // namespace trainer_math

using trainer_math::bits_to_f32;
using trainer_math::bits_to_f64;
using trainer_math::f32_to_bits;
using trainer_math::f64_to_bits;
using trainer_math::vexp;
using trainer_math::vlog;
using trainer_math::vlog1p;

// 1 / (1 + e^-x) with vexp's reduction and polynomial, but e^-x taken only over [-87, 88] (float;
// [-708, 709] double), where 2^n is one normal number: one scaling multiply instead of two, and no
// overflow select. Inside that range e^-x is vexp's to the bit; outside it 1 + e^-x is 1 or the result
// is below 1e-38 either way (vexp's inf gave 0, this gives 6e-39; the Python kernel e^x / (1 + e^x)
// gives e^x, closer still).
static inline float sigmoid_of(float x) {
  int32_t n;
  const float p = trainer_math::exp_reduce(std::min(std::max(-x, -87.0f), 88.0f), &n);
  return 1.0f / (1.0f + p * bits_to_f32((n + 127) << 23));
}

static inline double sigmoid_of(double x) {
  int64_t n;
  const double p = trainer_math::exp_reduce(std::min(std::max(-x, -708.0), 709.0), &n);
  return 1.0 / (1.0 + p * bits_to_f64((n + 1023) << 52));
}

// Dense layers with in * out at most this use plain loops across the batch; wider ones pay for a GEMM
// call's packing.
constexpr int64_t kSmallDense = 128;
// The plain dense loops sweep a chunk of this many rows per weight so the chunk stays in L1.
constexpr int64_t kRowChunk = 1024;

// ---- dense layer, feature-major: X (in x rows), Y (out x rows), W (in, out) row-major -------------------

template <typename T>
static void dense_forward_fm(const TrainLayer<T>& L, const T* X, T* Y, int64_t rows) {
  const int64_t in = L.in, out = L.out;
  const T* W = L.w.data;
  const T* b = L.b.data;
  if (in * out > kSmallDense) {
    gemm(true, false, out, rows, in, T(1), W, out, X, rows, T(0), Y, rows);
    if (b) {
      for (int64_t j = 0; j < out; ++j) {
        T* __restrict y = Y + j * rows;
        const T bj = b[j];
        for (int64_t r = 0; r < rows; ++r) y[r] += bj;
      }
    }
    return;
  }
  // Same order of additions as the GEMM path of the Python layer: sum over k, then the bias.
  for (int64_t r0 = 0; r0 < rows; r0 += kRowChunk) {
    const int64_t nr = std::min(kRowChunk, rows - r0);
    for (int64_t j = 0; j < out; ++j) {
      T* __restrict y = Y + j * rows + r0;
      const T w0 = W[j];
      const T* __restrict x0 = X + r0;
      for (int64_t r = 0; r < nr; ++r) y[r] = x0[r] * w0;
      for (int64_t k = 1; k < in; ++k) {
        const T wk = W[k * out + j];
        const T* __restrict xk = X + k * rows + r0;
        for (int64_t r = 0; r < nr; ++r) y[r] += xk[r] * wk;
      }
      if (b) {
        const T bj = b[j];
        for (int64_t r = 0; r < nr; ++r) y[r] += bj;
      }
    }
  }
}

// ---- narrow dense layer and the activation after it, in one pass --------------------------------------
// A dense layer with at most kFusedWidth inputs, followed by an element-wise activation, is computed one
// output feature at a time in a single pass across the batch: the weighted sum, the bias and the
// activation per sample, with the input count a template argument so the sum is unrolled and the pass
// vectorises across samples. The dense output itself is never stored (nothing reads it). Backward
// likewise forms the input gradient of such a layer and applies the previous activation's derivative
// in the same pass. The reports' 2 -> 3 -> 1 network then makes 7 passes over the batch per step where
// separate loops made 23.
constexpr int64_t kFusedWidth = 4;

template <typename T>
struct ActIdentity {
  T operator()(T s) const { return s; }
};
template <typename T>
struct ActSigmoid {
  T operator()(T s) const { return sigmoid_of(s); }
};
template <typename T>
struct ActSigmoidClip {  // the clip bounds rounded to T as NumPy rounds np.clip(y, clip, 1 - clip)
  T lo, hi;
  T operator()(T s) const { return std::min(std::max(sigmoid_of(s), lo), hi); }
};
template <typename T>
struct ActRelu {
  T operator()(T s) const { return s > T(0) ? s : T(0); }
};

// Y[j] = act(sum_k X[k] W[k, j] + b[j]) for the IN inputs, summed in the order of the unfused loops.
template <int IN, typename T, typename Act>
static void dense_act_forward_fm(const TrainLayer<T>& L, const T* __restrict X, T* __restrict Y, int64_t rows,
                                 Act act) {
  const int64_t out = L.out;
  for (int64_t j = 0; j < out; ++j) {
    T w[IN];
    for (int k = 0; k < IN; ++k) w[k] = L.w.data[k * out + j];
    T* __restrict y = Y + j * rows;
    if (L.b.data) {
      const T bj = L.b.data[j];
      for (int64_t r = 0; r < rows; ++r) {
        T s = X[r] * w[0];
        for (int k = 1; k < IN; ++k) s += X[k * rows + r] * w[k];
        y[r] = act(s + bj);
      }
    } else {
      for (int64_t r = 0; r < rows; ++r) {
        T s = X[r] * w[0];
        for (int k = 1; k < IN; ++k) s += X[k * rows + r] * w[k];
        y[r] = act(s);
      }
    }
  }
}

template <int IN, typename T>
static void dense_act_forward_fm(const TrainLayer<T>& L, const TrainLayer<T>* A, const T* X, T* Y, int64_t rows) {
  if (!A) return dense_act_forward_fm<IN>(L, X, Y, rows, ActIdentity<T>{});
  if (A->op == TrainOp::relu) return dense_act_forward_fm<IN>(L, X, Y, rows, ActRelu<T>{});
  if (A->clip > 0)
    return dense_act_forward_fm<IN>(L, X, Y, rows, ActSigmoidClip<T>{T(A->clip), T(1.0 - A->clip)});
  dense_act_forward_fm<IN>(L, X, Y, rows, ActSigmoid<T>{});
}

// Y = act(dense(X)) for a layer with at most kFusedWidth inputs; A is a sigmoid or ReLU, or null for none.
template <typename T>
static void dense_act_forward_fm(const TrainLayer<T>& L, const TrainLayer<T>* A, const T* X, T* Y, int64_t rows) {
  switch (L.in) {
    case 1: return dense_act_forward_fm<1>(L, A, X, Y, rows);
    case 2: return dense_act_forward_fm<2>(L, A, X, Y, rows);
    case 3: return dense_act_forward_fm<3>(L, A, X, Y, rows);
    default: return dense_act_forward_fm<4>(L, A, X, Y, rows);
  }
}

// dX[k] = (sum_j W[k, j] dZ[j]) * act'(at Y[k]), the input gradient of a dense layer with OUT outputs
// times the derivative of the activation before it, whose output Y is this layer's input.
template <int OUT, typename T>
static void dense_input_grad_fm(const TrainLayer<T>& L, TrainOp prev, const T* __restrict Y, const T* __restrict dZ,
                                T* __restrict dX, int64_t rows) {
  for (int64_t k = 0; k < L.in; ++k) {
    T w[OUT];
    for (int j = 0; j < OUT; ++j) w[j] = L.w.data[k * OUT + j];
    const T* __restrict y = Y + k * rows;
    T* __restrict dx = dX + k * rows;
    if (prev == TrainOp::sigmoid) {
      for (int64_t r = 0; r < rows; ++r) {
        T s = dZ[r] * w[0];
        for (int j = 1; j < OUT; ++j) s += dZ[j * rows + r] * w[j];
        dx[r] = s * y[r] * (T(1) - y[r]);
      }
    } else {
      for (int64_t r = 0; r < rows; ++r) {
        T s = dZ[r] * w[0];
        for (int j = 1; j < OUT; ++j) s += dZ[j * rows + r] * w[j];
        dx[r] = y[r] > T(0) ? s : T(0);
      }
    }
  }
}

// The input gradient of a dense layer with at most kFusedWidth outputs through the sigmoid or ReLU before it.
template <typename T>
static void dense_input_grad_fm(const TrainLayer<T>& L, TrainOp prev, const T* Y, const T* dZ, T* dX, int64_t rows) {
  switch (L.out) {
    case 1: return dense_input_grad_fm<1>(L, prev, Y, dZ, dX, rows);
    case 2: return dense_input_grad_fm<2>(L, prev, Y, dZ, dX, rows);
    case 3: return dense_input_grad_fm<3>(L, prev, Y, dZ, dX, rows);
    default: return dense_input_grad_fm<4>(L, prev, Y, dZ, dX, rows);
  }
}

// Reductions are written with GCC vector types: the compiler may not reorder a scalar sum, and its own
// attempt at vectorising partial sums shuffles more than it adds. A 64-byte vector is one AVX-512
// register; in the AVX2 and generic copies of the epoch loop GCC splits it into two or four.
// Vec<T>::Full: 64 bytes of T; Vec<T>::Eight: eight T (converted to Vec<double>::Full when summing).
template <typename T>
struct Vec;
template <>
struct Vec<float> {
  typedef float Full __attribute__((vector_size(64)));
  typedef float Eight __attribute__((vector_size(32)));
};
template <>
struct Vec<double> {
  typedef double Full __attribute__((vector_size(64)));
  typedef double Eight __attribute__((vector_size(64)));
};

template <typename V, typename T>
static inline V load_vec(const T* p) {
  V v;
  __builtin_memcpy(&v, p, sizeof(V));
  return v;
}

template <typename T>
static T dot(const T* a, const T* b, int64_t n) {
  constexpr int64_t W = 64 / sizeof(T);
  using V = typename Vec<T>::Full;
  V acc[4] = {};  // four chains hide the latency of the multiply-adds
  int64_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W)
    for (int c = 0; c < 4; ++c) acc[c] += load_vec<V>(a + i + c * W) * load_vec<V>(b + i + c * W);
  for (; i + W <= n; i += W) acc[0] += load_vec<V>(a + i) * load_vec<V>(b + i);
  const V total = (acc[0] + acc[1]) + (acc[2] + acc[3]);
  T sum = 0;
  for (int64_t l = 0; l < W; ++l) sum += total[l];
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// Sum in double (bias gradients as dense.cpp sums them: float32 sums over a large batch lose digits).
template <typename T>
static double sum_of(const T* a, int64_t n) {
  using Acc = Vec<double>::Full;
  using In = typename Vec<T>::Eight;
  Acc acc[4] = {};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int c = 0; c < 4; ++c) acc[c] += __builtin_convertvector(load_vec<In>(a + i + 8 * c), Acc);
  for (; i + 8 <= n; i += 8) acc[0] += __builtin_convertvector(load_vec<In>(a + i), Acc);
  const Acc total = (acc[0] + acc[1]) + (acc[2] + acc[3]);
  double sum = 0;
  for (int l = 0; l < 8; ++l) sum += total[l];
  for (; i < n; ++i) sum += double(a[i]);
  return sum;
}

// dW = X dZ^T and db = row sums of dZ (in double, as sum_of) in one pass across the batch, for a layer
// of IN x OUT <= 4 x 4: each input and output row is read once instead of once per product (2 -> 3 -> 1:
// 4 passes where dot and sum_of made 13). Eight lanes per vector, as sum_of converts eight at a time;
// on Zen 4 a 64-byte operation costs two 32-byte ones, so eight float lanes lose nothing there.
template <int IN, int OUT, typename T>
static void dense_param_grad_fm(const TrainLayer<T>& L, const T* X, const T* dZ, int64_t rows) {
  using V = typename Vec<T>::Eight;
  using D = Vec<double>::Full;
  V acc[IN][OUT] = {};
  D bacc[OUT] = {};
  int64_t r = 0;
  for (; r + 8 <= rows; r += 8) {
    V x[IN];
    for (int k = 0; k < IN; ++k) x[k] = load_vec<V>(X + k * rows + r);
    for (int j = 0; j < OUT; ++j) {
      const V dz = load_vec<V>(dZ + j * rows + r);
      for (int k = 0; k < IN; ++k) acc[k][j] += x[k] * dz;
      bacc[j] += __builtin_convertvector(dz, D);
    }
  }
  for (int k = 0; k < IN; ++k)
    for (int j = 0; j < OUT; ++j) {
      T sum = 0;
      for (int l = 0; l < 8; ++l) sum += acc[k][j][l];
      for (int64_t q = r; q < rows; ++q) sum += X[k * rows + q] * dZ[j * rows + q];
      L.w.grad[k * OUT + j] = sum;
    }
  if (!L.b.data) return;
  for (int j = 0; j < OUT; ++j) {
    double sum = 0;
    for (int l = 0; l < 8; ++l) sum += bacc[j][l];
    for (int64_t q = r; q < rows; ++q) sum += double(dZ[j * rows + q]);
    L.b.grad[j] = T(sum);
  }
}

template <int IN, typename T>
static void dense_param_grad_fm(const TrainLayer<T>& L, const T* X, const T* dZ, int64_t rows) {
  switch (L.out) {
    case 1: return dense_param_grad_fm<IN, 1>(L, X, dZ, rows);
    case 2: return dense_param_grad_fm<IN, 2>(L, X, dZ, rows);
    case 3: return dense_param_grad_fm<IN, 3>(L, X, dZ, rows);
    default: return dense_param_grad_fm<IN, 4>(L, X, dZ, rows);
  }
}

// dW = X dZ^T, db = row sums of dZ, and dX = W dZ when dX is non-null.
template <typename T>
static void dense_backward_fm(const TrainLayer<T>& L, const T* X, const T* dZ, T* dX, int64_t rows) {
  const int64_t in = L.in, out = L.out;
  const T* W = L.w.data;
  T* dW = L.w.grad;
  if (in <= kFusedWidth && out <= kFusedWidth) {
    switch (in) {
      case 1: dense_param_grad_fm<1>(L, X, dZ, rows); break;
      case 2: dense_param_grad_fm<2>(L, X, dZ, rows); break;
      case 3: dense_param_grad_fm<3>(L, X, dZ, rows); break;
      default: dense_param_grad_fm<4>(L, X, dZ, rows); break;
    }
  } else if (L.b.data) {
    for (int64_t j = 0; j < out; ++j) L.b.grad[j] = T(sum_of(dZ + j * rows, rows));
  }
  if (in * out > kSmallDense) {
    gemm(false, true, in, out, rows, T(1), X, rows, dZ, rows, T(0), dW, out);
    if (dX) gemm(false, false, in, rows, out, T(1), W, out, dZ, rows, T(0), dX, rows);
    return;
  }
  if (in > kFusedWidth || out > kFusedWidth) {
    for (int64_t k = 0; k < in; ++k)
      for (int64_t j = 0; j < out; ++j) dW[k * out + j] = dot(X + k * rows, dZ + j * rows, rows);
  }
  if (!dX) return;
  for (int64_t r0 = 0; r0 < rows; r0 += kRowChunk) {
    const int64_t nr = std::min(kRowChunk, rows - r0);
    for (int64_t k = 0; k < in; ++k) {
      T* __restrict dx = dX + k * rows + r0;
      const T w0 = W[k * out];
      const T* __restrict dz0 = dZ + r0;
      for (int64_t r = 0; r < nr; ++r) dx[r] = dz0[r] * w0;
      for (int64_t j = 1; j < out; ++j) {
        const T wj = W[k * out + j];
        const T* __restrict dzj = dZ + j * rows + r0;
        for (int64_t r = 0; r < nr; ++r) dx[r] += dzj[r] * wj;
      }
    }
  }
}

// ---- dense layer, row-major: X (rows x in), Y (rows x out), as the Python layer computes it -----------

// With relu, a ReLU after the layer is applied in the bias pass (one pass over Y instead of two).
template <typename T>
static void dense_forward_rm(const TrainLayer<T>& L, const T* X, T* Y, int64_t rows, bool relu) {
  const int64_t in = L.in, out = L.out;
  gemm(false, false, rows, out, in, T(1), X, in, L.w.data, out, T(0), Y, out);
  const T* __restrict b = L.b.data;
  if (!b && !relu) return;
  for (int64_t r = 0; r < rows; ++r) {
    T* __restrict y = Y + r * out;
    if (!relu) {
      for (int64_t j = 0; j < out; ++j) y[j] += b[j];
    } else if (b) {
      for (int64_t j = 0; j < out; ++j) y[j] = y[j] + b[j] > T(0) ? y[j] + b[j] : T(0);
    } else {
      for (int64_t j = 0; j < out; ++j) y[j] = y[j] > T(0) ? y[j] : T(0);
    }
  }
}

// Least flops of each of a layer's two gradient products for computing them at once on two threads.
constexpr double kConcurrentGradFlops = 1e6;

// dW = X^T dZ, db = column sums of dZ (in double, in `acc`: out values), dX = dZ W^T when dX is non-null.
template <typename T>
static void dense_backward_rm(const TrainLayer<T>& L, const T* X, const T* dZ, T* dX, int64_t rows, double* acc) {
  const int64_t in = L.in, out = L.out;
  if (L.b.data) {
    for (int64_t j = 0; j < out; ++j) acc[j] = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const T* __restrict dz = dZ + r * out;
      for (int64_t j = 0; j < out; ++j) acc[j] += double(dz[j]);
    }
    for (int64_t j = 0; j < out; ++j) L.b.grad[j] = T(acc[j]);
  }
  auto weight_grad = [&] { gemm(true, false, in, out, rows, T(1), X, in, dZ, out, T(0), L.w.grad, out); };
  auto input_grad = [&] { gemm(false, true, rows, in, out, T(1), dZ, out, L.w.data, out, T(0), dX, in); };
  if (!dX) return weight_grad();
  // The two products are independent and equally large: with two threads each computes one, instead of
  // both splitting each product (which packs the shared operand twice and joins twice), and products
  // too small to split (100 x 128 x 64 of the MNIST MLP) no longer run on one thread.
  if (2.0 * double(in) * double(out) * double(rows) >= kConcurrentGradFlops && num_threads() >= 2) {
    parallel_for(2, 1, [&](int64_t first, int64_t last) {
      for (int64_t task = first; task < last; ++task) task == 0 ? weight_grad() : input_grad();
    });
    return;
  }
  weight_grad();
  input_grad();
}

// ---- softmax across the features of each sample (a column in this layout) ----------------------

// Loops run feature by feature across all samples, so they vectorise; mx and sum hold one value per
// sample (the maximum, then the sum of exponentials, which cross-entropy reuses).
// Element (feature j, sample r) of a c x rows activation: feature-major (the default) or, with RM,
// row-major (samples x features, the layout of networks with wide layers: see Trainer::rm_).
template <bool RM>
static inline int64_t at(int64_t j, int64_t r, int64_t c, int64_t rows) {
  return RM ? r * c + j : j * rows + r;
}

template <bool RM, typename T>
static void softmax_fm(const T* X, T* Y, int64_t c, int64_t rows, T* mx, T* sum) {
  for (int64_t r = 0; r < rows; ++r) {
    mx[r] = X[at<RM>(0, r, c, rows)];
    sum[r] = 0;
  }
  for (int64_t j = 1; j < c; ++j)
    for (int64_t r = 0; r < rows; ++r) mx[r] = std::max(mx[r], X[at<RM>(j, r, c, rows)]);
  for (int64_t j = 0; j < c; ++j) {
    for (int64_t r = 0; r < rows; ++r) {
      const T e = vexp(X[at<RM>(j, r, c, rows)] - mx[r]);
      Y[at<RM>(j, r, c, rows)] = e;
      sum[r] += e;
    }
  }
  for (int64_t j = 0; j < c; ++j)
    for (int64_t r = 0; r < rows; ++r) Y[at<RM>(j, r, c, rows)] *= T(1) / sum[r];
}

template <bool RM, typename T>
static void softmax_backward(const T* Y, const T* dY, T* dX, int64_t c, int64_t rows, T* dot_yd) {
  for (int64_t r = 0; r < rows; ++r) dot_yd[r] = 0;
  for (int64_t j = 0; j < c; ++j)
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t k = at<RM>(j, r, c, rows);
      dot_yd[r] += dY[k] * Y[k];
    }
  for (int64_t j = 0; j < c; ++j)
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t k = at<RM>(j, r, c, rows);
      dX[k] = Y[k] * (dY[k] - dot_yd[r]);
    }
}

// Softmax cross-entropy from logits Z: the gradient (p sum(t) - t) / rows into G, per-sample loss terms.
// scratch holds 2 rows values; t is the float target (null with labels lab).
template <bool RM, typename T>
static void cross_entropy_fm(const T* Z, const T* t, const int64_t* lab, T* G, double* term, T* scratch, int64_t c,
                             int64_t rows) {
  // Softmax into G and the log-partition per sample, then loss and gradient.
  T* lse = scratch;
  softmax_fm<RM>(Z, G, c, rows, scratch + rows, lse);
  for (int64_t r = 0; r < rows; ++r) lse[r] = vlog(lse[r]) + scratch[rows + r];
  const T inv_rows = T(1.0 / double(rows));
  if (lab) {
    for (int64_t j = 0; j < c; ++j)
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t k = at<RM>(j, r, c, rows);
        G[k] = G[k] * inv_rows - (lab[r] == j ? inv_rows : T(0));
      }
    for (int64_t r = 0; r < rows; ++r) term[r] = double(lse[r] - Z[at<RM>(lab[r], r, c, rows)]);
  } else {
    T* t_sum = scratch + rows;
    for (int64_t r = 0; r < rows; ++r) {
      t_sum[r] = 0;
      term[r] = 0;
    }
    for (int64_t j = 0; j < c; ++j) {
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t k = at<RM>(j, r, c, rows);
        const T tj = t[k];
        term[r] -= double(tj * (Z[k] - lse[r]));
        t_sum[r] += tj;
      }
    }
    for (int64_t j = 0; j < c; ++j)
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t k = at<RM>(j, r, c, rows);
        G[k] = (G[k] * t_sum[r] - t[k]) * inv_rows;
      }
  }
}

// Backward of an element-wise activation from its output y. The buffers are distinct: saying so lets
// the loops vectorise without run-time overlap checks (which GCC got wrong-footed by, running them scalar).
template <typename T>
static void elementwise_backward(TrainOp op, const T* __restrict y, const T* __restrict dy, T* __restrict dx,
                                 int64_t n) {
  switch (op) {
    case TrainOp::sigmoid:
      for (int64_t k = 0; k < n; ++k) dx[k] = dy[k] * y[k] * (T(1) - y[k]);
      break;
    case TrainOp::relu:
      for (int64_t k = 0; k < n; ++k) dx[k] = y[k] > T(0) ? dy[k] : T(0);
      break;
    case TrainOp::tanh:
      for (int64_t k = 0; k < n; ++k) dx[k] = dy[k] * (T(1) - y[k] * y[k]);
      break;
    default: break;
  }
}

// BCE terms -(t log p + (1 - t) log(1 - p)) of probabilities p = Z clipped to [lo, hi], and the gradient
// in the same pass: with FusedSigmoid, with respect to the input of the sigmoid whose output Z is
// (into D, see loss_and_grad), else (p - t) / (p (1 - p)) / n with respect to Z. With 0/1 targets one
// log does: t p + (1 - t)(1 - p) is then exactly p or 1 - p.
template <bool Binary, bool FusedSigmoid, typename T>
static void bce_pass(const T* Z, const T* t, T* term, T* D, int64_t n, T lo, T hi, T inv_n) {
  // Where the clip changed y, p is lo or hi and 1 / (p (1 - p)) a constant: no division per element.
  const T k_lo = T(1) / (lo * (T(1) - lo)), k_hi = T(1) / (hi * (T(1) - hi));
  for (int64_t k = 0; k < n; ++k) {
    const T y = Z[k], tk = t[k], p = std::min(std::max(y, lo), hi);
    term[k] = Binary ? -vlog(tk * p + (T(1) - tk) * (T(1) - p)) : -(tk * vlog(p) + (T(1) - tk) * vlog(T(1) - p));
    if (FusedSigmoid) {
      const T scale = y < lo ? k_lo * y * (T(1) - y) : (y > hi ? k_hi * y * (T(1) - y) : T(1));
      D[k] = (p - tk) * scale * inv_n;
    } else {
      D[k] = (p - tk) / (p * (T(1) - p)) * inv_n;
    }
  }
}

// ---- the trainer ----------------------------------------------------------------------------------

template <typename T>
Trainer<T>::Trainer(std::vector<TrainLayer<T>> layers, TrainLoss loss, double bce_eps, const TrainOptimConfig& opt)
    : layers_(std::move(layers)), loss_(loss), bce_eps_(bce_eps), opt_(opt) {
  bool params_before = false;
  for (const auto& L : layers_) {
    need_dx_.push_back(params_before);
    params_before = params_before || L.op == TrainOp::dense;
  }
  fused_sigmoid_bce_ = loss_ == TrainLoss::bce && layers_.back().op == TrainOp::sigmoid && need_dx_.back();
  for (const auto& L : layers_) rm_ = rm_ || (L.op == TrainOp::dense && L.in * L.out > kSmallDense);
  act_.resize(layers_.size() + 1);
  grad_.resize(layers_.size() + 1);
  param_start_.push_back(0);
  for (const auto& L : layers_) {
    if (L.op != TrainOp::dense) continue;
    for (const TrainParam<T>* p : {&L.w, &L.b}) {
      if (!p->data) continue;
      params_.push_back(p);
      param_start_.push_back(param_start_.back() + p->size);
    }
  }
  param_nan_.assign(params_.size(), 0);
}

// Buffers grow to the largest batch seen and are then reused: the steady-state step allocates nothing.
template <typename T>
void Trainer<T>::reserve(int64_t rows) {
  if (rows <= capacity_) return;
  act_[0].resize(layers_[0].in * rows);
  for (size_t i = 0; i < layers_.size(); ++i) {
    act_[i + 1].resize(layers_[i].out * rows);
    grad_[i + 1].resize(layers_[i].out * rows);
  }
  // A layer's input gradient is only written when need_dx says so; the network input never gets one.
  for (size_t i = 1; i < layers_.size(); ++i) grad_[i].resize(need_dx_[i] ? layers_[i].in * rows : 0);
  target_.resize(layers_.back().out * rows);
  target_labels_.resize(rows);
  scratch_.resize(2 * rows);
  int64_t widest = 0;
  for (const auto& L : layers_) widest = std::max(widest, L.out);
  col_sums_.resize(widest);
  const bool bce = loss_ == TrainLoss::bce;  // BCE keeps its terms in T, the other losses in double
  terms_.resize(bce ? 0 : layers_.back().out * rows);
  bce_terms_.resize(bce ? layers_.back().out * rows : 0);
  capacity_ = rows;
}

// Least elements of x per thread when gathering a batch.
constexpr int64_t kGatherGrain = int64_t(1) << 14;

// Copies the batch's rows of x and of the target into the buffers, in their layout (rm_).
template <typename T>
void Trainer<T>::gather(const TrainEpoch<T>& e, int64_t start, int64_t rows) {
  // A full batch in order is the same every epoch: with the caller's word that the data did not
  // change, the buffers already hold it.
  const bool whole = e.perm == nullptr && rows == e.n;
  if (whole && e.same_data && holds_all_of_ == e.x) return;
  holds_all_of_ = whole ? e.x : nullptr;
  const int64_t f = e.features, c = layers_.back().out;
  T* X = act_[0].data();
  const int64_t fs = rm_ ? 1 : rows, rs = rm_ ? c : 1;  // target strides: feature, sample
  // Shuffled rows of a large x come from memory, one cache miss after another: two threads wait for
  // twice as many lines at once (MNIST, 100 rows of 784: 49 us on one thread).
  parallel_for(rows, std::max<int64_t>(1, kGatherGrain / f), [&](int64_t r_begin, int64_t r_end) {
    for (int64_t r = r_begin; r < r_end; ++r) {
      const int64_t idx = e.perm ? e.perm[start + r] : start + r;
      const T* src = e.x + idx * f;
      if (rm_) std::copy(src, src + f, X + r * f);
      else
        for (int64_t k = 0; k < f; ++k) X[k * rows + r] = src[k];
      if (e.target_labels) {
        target_labels_[r] = e.target_labels[idx];
        // multi_bce works on one-hot rows; building them here keeps the loss loop free of selects.
        if (loss_ == TrainLoss::multi_bce)
          for (int64_t j = 0; j < c; ++j) target_[j * fs + r * rs] = T(e.target_labels[idx] == j);
      } else {
        const T* t = e.target + idx * c;
        for (int64_t j = 0; j < c; ++j) target_[j * fs + r * rs] = t[j];
      }
    }
  });
  // Ask for the next batch's rows now, so they arrive from memory while this step computes: the
  // gather above is a string of cache misses otherwise (MNIST, 100 rows of 784: 49 us on one thread).
  const int64_t next_end = std::min(e.n, start + 2 * rows);
  if (e.perm && f * int64_t(sizeof(T)) >= 1024) {
    for (int64_t i = start + rows; i < next_end; ++i) {
      const char* src = reinterpret_cast<const char*>(e.x + e.perm[i] * f);
      for (int64_t b = 0; b < f * int64_t(sizeof(T)); b += 64) __builtin_prefetch(src + b, 0, 1);
    }
  }
}

template <typename T>
void Trainer<T>::forward(int64_t rows) {
  for (size_t i = 0; i < layers_.size(); ++i) {
    const TrainLayer<T>& L = layers_[i];
    const T* X = act_[i].data();
    T* Y = act_[i + 1].data();
    const int64_t n = L.out * rows;
    switch (L.op) {
      case TrainOp::dense: {
        const TrainLayer<T>* next = i + 1 < layers_.size() ? &layers_[i + 1] : nullptr;
        const bool with_act = next && (next->op == TrainOp::sigmoid || next->op == TrainOp::relu);
        if (rm_) {
          const bool with_relu = next && next->op == TrainOp::relu;
          dense_forward_rm(L, X, act_[i + 1 + with_relu].data(), rows, with_relu);
          i += with_relu;
        } else if (L.in <= kFusedWidth) {
          dense_act_forward_fm(L, with_act ? next : nullptr, X, act_[i + 1 + with_act].data(), rows);
          i += with_act;
        } else dense_forward_fm(L, X, Y, rows);
        break;
      }
      case TrainOp::relu: relu(X, Y, n); break;
      case TrainOp::tanh: tanh(X, Y, n); break;
      case TrainOp::softmax:
        if (rm_) softmax_fm<true>(X, Y, L.out, rows, scratch_.data(), scratch_.data() + rows);
        else softmax_fm<false>(X, Y, L.out, rows, scratch_.data(), scratch_.data() + rows);
        break;
      case TrainOp::sigmoid: {
        // 1 / (1 + e^-x) straight (sigmoid_of): as accurate as the kernel's two-sided form, with fewer
        // operations per element. The clip bounds are rounded to T the way NumPy rounds the layer's
        // np.clip(y, clip, 1 - clip); without a clip the loop has no min/max at all.
        if (L.clip > 0) {
          const T lo = T(L.clip), hi = T(1.0 - L.clip);
          for (int64_t k = 0; k < n; ++k) Y[k] = std::min(std::max(sigmoid_of(X[k]), lo), hi);
        } else {
          for (int64_t k = 0; k < n; ++k) Y[k] = sigmoid_of(X[k]);
        }
        break;
      }
    }
  }
}

template <typename T>
void Trainer<T>::backward(int64_t rows) {
  // A sigmoid fused into BCE already has its input gradient from loss_and_grad.
  for (size_t i = layers_.size() - (fused_sigmoid_bce_ ? 1 : 0); i-- > 0;) {
    const TrainLayer<T>& L = layers_[i];
    const T* Y = act_[i + 1].data();
    const T* dY = grad_[i + 1].data();
    T* dX = need_dx_[i] ? grad_[i].data() : nullptr;
    const int64_t n = L.out * rows;
    switch (L.op) {
      case TrainOp::dense:
        if (rm_) dense_backward_rm(L, act_[i].data(), dY, dX, rows, col_sums_.data());
        else if (dX && L.out <= kFusedWidth && (layers_[i - 1].op == TrainOp::sigmoid ||
                                                layers_[i - 1].op == TrainOp::relu)) {
          // Straight to the gradient of the activation's input; that activation is then done.
          dense_backward_fm(L, act_[i].data(), dY, static_cast<T*>(nullptr), rows);
          dense_input_grad_fm(L, layers_[i - 1].op, act_[i].data(), dY, grad_[i - 1].data(), rows);
          --i;
        } else dense_backward_fm(L, act_[i].data(), dY, dX, rows);
        break;
      case TrainOp::sigmoid:
      case TrainOp::relu:
      case TrainOp::tanh:
        if (dX) elementwise_backward(L.op, Y, dY, dX, n);
        break;
      case TrainOp::softmax:
        if (dX) {
          if (rm_) softmax_backward<true>(Y, dY, dX, L.out, rows, scratch_.data());
          else softmax_backward<false>(Y, dY, dX, L.out, rows, scratch_.data());
        }
        break;
    }
    if (!dX) break;  // nothing before this layer has parameters
  }
}

// The batch's mean loss, and its gradient with respect to the network output in grad_.back(). Same
// formulas as losses.cpp (and the same clipping), with logs and exps in T through vlog/vexp. Each loop
// writes per-element terms that a separate pass sums in double: a running double sum inside the loop
// would be a reduction the compiler may not reorder, and so would keep the whole loop scalar.
template <typename T>
double Trainer<T>::loss_and_grad(int64_t rows) {
  const int64_t c = layers_.back().out, n = c * rows;
  const T* Z = act_.back().data();
  const T* t = target_.data();
  const int64_t* lab = target_labels_.data();
  T* G = grad_.back().data();
  double* term = terms_.data();
  switch (loss_) {
    case TrainLoss::mse: {
      const double scale = 2.0 / double(n);
      for (int64_t k = 0; k < n; ++k) {
        const double d = double(Z[k]) - double(t[k]);
        term[k] = d * d;
        G[k] = T(scale * d);
      }
      return sum_of(term, n) / double(n);
    }
    case TrainLoss::bce: {
      // vlog needs normal arguments: an eps below the normal range clips at its bottom instead.
      const T lo = std::max(T(bce_eps_), std::numeric_limits<T>::min()), hi = T(1) - T(bce_eps_);
      const T inv_n = T(1.0 / double(n));
      // A fused sigmoid gets its input gradient here: (p - t) / (p (1 - p)) / n times the sigmoid's
      // y (1 - y) is (y - t) / n wherever the clip left p = y. That saves a division and a pass.
      T* term_t = bce_terms_.data();
      T* D = fused_sigmoid_bce_ ? grad_[layers_.size() - 1].data() : G;
      if (binary_target_) {
        if (fused_sigmoid_bce_) bce_pass<true, true>(Z, t, term_t, D, n, lo, hi, inv_n);
        else bce_pass<true, false>(Z, t, term_t, D, n, lo, hi, inv_n);
      } else {
        if (fused_sigmoid_bce_) bce_pass<false, true>(Z, t, term_t, D, n, lo, hi, inv_n);
        else bce_pass<false, false>(Z, t, term_t, D, n, lo, hi, inv_n);
      }
      return sum_of(term_t, n) / double(n);
    }
    case TrainLoss::bce_with_logits:
    case TrainLoss::multi_bce: {
      // max(z, 0) - z t + log(1 + exp(-|z|)), gradient sigmoid(z) - t.
      const T inv_n = T(1.0 / double(n));
      for (int64_t k = 0; k < n; ++k) {
          const T z = Z[k], tk = t[k];
          const T e = vexp(-std::abs(z)), inv = T(1) / (T(1) + e), e_inv = e * inv;
          const T sig = z >= T(0) ? inv : e_inv;
          term[k] = double(std::max(z, T(0)) - z * tk + vlog1p(e));
          G[k] = (sig - tk) * inv_n;
      }
      return sum_of(term, n) / double(n);
    }
    case TrainLoss::cross_entropy: {
      const int64_t* labels = lab_mode_ ? lab : nullptr;
      if (rm_) cross_entropy_fm<true>(Z, t, labels, G, term, scratch_.data(), c, rows);
      else cross_entropy_fm<false>(Z, t, labels, G, term, scratch_.data(), c, rows);
      return sum_of(term, rows) / double(rows);
    }
  }
  return 0;
}

// Arg-max over the columns of a feature-major matrix (first maximum on ties, like np.argmax).
template <typename T>
static int64_t argmax_fm(const T* A, int64_t c, int64_t rows, int64_t r, bool rm) {
  const int64_t fs = rm ? 1 : rows;
  const T* a = A + (rm ? r * c : r);
  int64_t best = 0;
  for (int64_t j = 1; j < c; ++j)
    if (a[j * fs] > a[best * fs]) best = j;
  return best;
}

// Samples whose predicted class (Loss.labels: a single output above the threshold, else the arg-max)
// equals the target's class (Loss.target_labels: labels, a target above 0.5, or the target's arg-max).
template <typename T>
int64_t Trainer<T>::count_correct(int64_t rows) const {
  const int64_t c = layers_.back().out;
  const T* Z = act_.back().data();
  const T* t = target_.data();
  const T threshold = loss_ == TrainLoss::bce_with_logits ? T(0) : T(0.5);
  int64_t correct = 0;
  if (c == 1 && !lab_mode_) {
    // The common binary case as a branch-free loop over the batch, so it vectorises.
    for (int64_t r = 0; r < rows; ++r) correct += int64_t((Z[r] > threshold) == (t[r] > T(0.5)));
    return correct;
  }
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t pred = c == 1 ? int64_t(Z[r] > threshold) : argmax_fm(Z, c, rows, r, rm_);
    const int64_t truth = lab_mode_ ? target_labels_[r] : argmax_fm(t, c, rows, r, rm_);
    correct += pred == truth;
  }
  return correct;
}

// Least elements per thread of an optimizer step, which streams each parameter and its state once:
// optim.cpp's own grain. The step's pieces stay below twice this, so the update functions run them on
// the calling thread.
constexpr int64_t kUpdateGrain = int64_t(1) << 15;

// One optimizer step over every parameter; returns the index of the first whose gradient held NaN, or -1.
// The update is element-wise, so all parameters form one list of elements cut evenly across the threads:
// left to the update functions, only the wide layer's weights were split and the rest (41K of the
// MLP's 235K elements) ran on one thread after them.
template <typename T>
int64_t Trainer<T>::update(double lr, int64_t step) {
  auto apply = [&](const TrainParam<T>& p, int64_t o, int64_t len) {
    T* s[3];
    for (int q = 0; q < 3; ++q) s[q] = p.state[q] ? p.state[q] + o : nullptr;
    switch (opt_.kind) {
      case TrainOptim::sgd:
        return sgd_update(p.data + o, p.grad + o, s[0], len,
                          SgdConfig{lr, opt_.momentum, opt_.dampening, p.weight_decay, opt_.nesterov, step == 1});
      case TrainOptim::rmsprop:
        return rmsprop_update(p.data + o, p.grad + o, s[0], s[1], s[2], len,
                              RmspropConfig{lr, opt_.alpha, opt_.eps, p.weight_decay, opt_.momentum, opt_.centered});
      case TrainOptim::adam:
        return adam_update(p.data + o, p.grad + o, s[0], s[1], len,
                           AdamConfig{lr, opt_.beta1, opt_.beta2, opt_.eps, p.weight_decay, step});
    }
    return false;
  };
  const size_t np = params_.size();
  for (size_t i = 0; i < np; ++i) param_nan_[i] = 0;
  parallel_for(param_start_[np], kUpdateGrain, [&](int64_t begin, int64_t end) {
    for (size_t i = 0; i < np; ++i) {
      const int64_t lo = std::max(begin, param_start_[i]), hi = std::min(end, param_start_[i + 1]);
      for (int64_t b = lo; b < hi; b += kUpdateGrain) {
        if (apply(*params_[i], b - param_start_[i], std::min(hi - b, kUpdateGrain)))
          __atomic_store_n(&param_nan_[i], 1, __ATOMIC_RELAXED);
      }
    }
  });
  for (size_t i = 0; i < np; ++i)
    if (param_nan_[i]) return int64_t(i);
  return -1;
}

int ThreadChooser::next(int most) {
  if (most != most_) {  // the setting changed: measure afresh
    most_ = most;
    phase_ = 0;
  }
  if (most_ <= 1) return 1;
  if (phase_ >= 2 * kSamples && ++held_ > hold_) phase_ = 0;  // time to measure again
  if (phase_ < 2 * kSamples) return phase_ % 2 == 0 ? most_ : 1;
  return chosen_;
}

void ThreadChooser::record(double seconds) {
  if (phase_ < 2 * kSamples) {
    samples_[phase_ % 2][phase_ / 2] = seconds;
    if (++phase_ < 2 * kSamples) return;
    double median[2];
    for (int s = 0; s < 2; ++s) {
      double* v = samples_[s];
      std::sort(v, v + kSamples);
      median[s] = v[kSamples / 2];
    }
    // One thread only when clearly faster: a stalled step while measuring must not cost the next kHold.
    const int previous = chosen_;
    chosen_ = median[1] < 0.9 * median[0] ? 1 : most_;
    hold_ = chosen_ != 1 ? kHold : previous == 1 ? std::min(2 * hold_, kHold) : kHoldOne;
    baseline_ = std::min(median[0], median[1]);
    held_ = slow_ = 0;
    return;
  }
  slow_ = seconds > 2 * baseline_ ? slow_ + 1 : 0;
  if (slow_ >= kSamples) phase_ = 0;  // the machine got busier (or quieter): measure again now
}

template <typename T>
TrainStats Trainer<T>::epoch(const TrainEpoch<T>& e, int64_t& step) {
  TrainStats stats;
  const int64_t bs = std::min(e.batch_size, e.n);
  lab_mode_ = e.target_labels != nullptr;
  binary_target_ = e.binary_target;
  reserve(bs);
  const int most = num_threads();
  for (int64_t start = 0; start < e.n; start += bs) {
    const int64_t rows = std::min(bs, e.n - start);
    // Only full-size steps are timed: a smaller last batch would read as a faster choice.
    const bool full = rows == bs;
    ThreadCap cap(full ? threads_.next(most) : threads_.chosen(most));
    const bool timed = full && threads_.timing();
    const auto t0 = timed ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    gather(e, start, rows);
    forward(rows);
    const double loss = loss_and_grad(rows);  // before the update, as the Python path reports it
    stats.loss_sum += loss * double(rows);
    stats.correct += count_correct(rows);
    backward(rows);
    stats.nan_param = update(e.lr, ++step);
    if (timed) threads_.record(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    if (stats.nan_param >= 0) break;
  }
  return stats;
}

// The epoch loop once per instruction set, like the *_avx2.cpp / *_avx512.cpp kernels but from this one
// file: flatten inlines every call the loop makes into each copy (all but the kernels of other files,
// which dispatch themselves), so the whole loop body is compiled for that copy's target. Nothing is
// emitted out of line with these flags, so no generic symbol can be replaced by an AVX-512 one.
struct TrainerIsa {
  template <typename T>
  [[gnu::flatten]] static TrainStats generic(Trainer<T>& t, const TrainEpoch<T>& e, int64_t& step) {
    return t.epoch(e, step);
  }
#ifdef PYDL_X86
  template <typename T>
  [[gnu::flatten, gnu::target("avx2,fma")]] static TrainStats avx2(Trainer<T>& t, const TrainEpoch<T>& e,
                                                                   int64_t& step) {
    return t.epoch(e, step);
  }
  template <typename T>
  [[gnu::flatten, gnu::target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")]] static TrainStats avx512(
      Trainer<T>& t, const TrainEpoch<T>& e, int64_t& step) {
    return t.epoch(e, step);
  }
#endif
};

template <typename T>
TrainStats Trainer<T>::run_epoch(const TrainEpoch<T>& e, int64_t& step) {
#ifdef PYDL_X86
  switch (simd_level()) {
    case SimdLevel::avx512: return TrainerIsa::avx512(*this, e, step);
    case SimdLevel::avx2: return TrainerIsa::avx2(*this, e, step);
    default: break;
  }
#endif
  return TrainerIsa::generic(*this, e, step);
}

template class Trainer<float>;
template class Trainer<double>;

}  // namespace pydl
