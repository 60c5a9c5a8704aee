// Dense layer kernels: the products go through pydl's GEMM. Bias and activation are one pass over y
// right after the product, while y (for training batches some 100 KB) is still in cache.
#include "dense.h"

#include <vector>

#include "activations.h"
#include "gemm.h"
#include "parallel.h"

namespace pydl {

// Element-wise work below this many elements per thread is faster on one thread (as for the activations).
constexpr int64_t kEpilogueGrain = 1 << 16;

template <typename T>
static void bias_activation(const T* b, Activation act, T* y, int64_t rows, int64_t cols) {
  if (b) {
    for (int64_t r = 0; r < rows; ++r) {
      T* yr = y + r * cols;
      for (int64_t j = 0; j < cols; ++j) yr[j] += b[j];
    }
  }
  // The rows are contiguous, so the activation runs as one call over the whole block. Its NaN flag
  // is ignored: inputs were checked, and NaN here can only come from inf * 0 in the product.
  switch (act) {
    case Activation::relu: relu(y, y, rows * cols); break;
    case Activation::sigmoid: sigmoid(y, y, rows * cols); break;
    case Activation::tanh: tanh(y, y, rows * cols); break;
    case Activation::none: break;
  }
}

template <typename T>
void dense_forward(const T* x, const T* w, const T* b, Activation act, T* y, int64_t n, int64_t in, int64_t out) {
  if (is_narrow(in, out)) return dense_narrow_forward(false, x, in, w, b, act, y, n, in, out);
  gemm(false, false, n, out, in, T(1), x, in, w, out, T(0), y, out);
  if (!b && act == Activation::none) return;
  parallel_for(n, kEpilogueGrain / out + 1, [&](int64_t r0, int64_t r1) {
    bias_activation(b, act, y + r0 * out, r1 - r0, out);
  });
}

// Column sums of dy in double (float32 sums over a large batch would lose digits), one slice of
// columns per thread.
template <typename T>
static void column_sums(const T* dy, int64_t n, int64_t cols, T* db, bool accumulate) {
  parallel_for(cols, kEpilogueGrain / n + 1, [&](int64_t c0, int64_t c1) {
    std::vector<double> sum(c1 - c0, 0.0);
    for (int64_t r = 0; r < n; ++r) {
      const T* row = dy + r * cols + c0;
      for (int64_t j = 0; j < c1 - c0; ++j) sum[j] += row[j];
    }
    for (int64_t j = 0; j < c1 - c0; ++j) db[c0 + j] = T(sum[j] + (accumulate ? double(db[c0 + j]) : 0.0));
  });
}

template <typename T>
void dense_backward(const T* x, const T* w, const T* dy, T* dx, T* dw, T* db, int64_t n, int64_t in, int64_t out,
                    bool accumulate) {
  if (is_narrow(in, out)) {
    return dense_narrow_backward(false, x, in, w, dy, Activation::none, dy, dx, dw, db, n, in, out, accumulate);
  }
  gemm(true, false, in, out, n, T(1), x, in, dy, out, accumulate ? T(1) : T(0), dw, out);
  if (db) column_sums(dy, n, out, db, accumulate);
  if (dx) gemm(false, true, n, in, out, T(1), dy, out, w, out, T(0), dx, in);
}

template void dense_forward<float>(const float*, const float*, const float*, Activation, float*, int64_t, int64_t,
                                   int64_t);
template void dense_forward<double>(const double*, const double*, const double*, Activation, double*, int64_t,
                                    int64_t, int64_t);
template void dense_backward<float>(const float*, const float*, const float*, float*, float*, float*, int64_t,
                                    int64_t, int64_t, bool);
template void dense_backward<double>(const double*, const double*, const double*, double*, double*, double*,
                                     int64_t, int64_t, int64_t, bool);

}  // namespace pydl
