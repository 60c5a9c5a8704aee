// Activations (twins: pydl/reference/activations.py, csrc/cpu/activations.cpp). Element-wise kernels: a
// grid-stride loop, kUnroll elements a thread per round; softmax: one warp per row.
//   relu                 x (n) -> y (n)
//   relu_backward        y (n), dy (n) -> dx (n)
//   sigmoid              x (n) -> y (n), optionally clipped to [lo, hi]
//   sigmoid_backward     y (n), dy (n) -> dx (n)
//   leaky_relu           x (n) -> y (n)
//   leaky_relu_backward  y (n), dy (n) -> dx (n)
//   tanh                 x (n) -> y (n)
//   tanh_backward        y (n), dy (n) -> dx (n)
//   softmax              x (rows, cols) -> y (rows, cols)
//   softmax_backward     y (rows, cols), dy (rows, cols) -> dx (rows, cols)
// Outputs may be their inputs (in place): each thread reads an element before it writes it.
#include "runtime.h"

// device_math.h first: its unqualified tanh(x) must not find the tanh launcher declared below.
#include "device_math.h"
#include "activations.h"

namespace pydl::cuda {
namespace {

constexpr int kWarp = 32;
constexpr int kRowsPerBlock = kThreads / kWarp;

// Each thread takes kUnroll elements a round and loads them all before it stores any: with one load in
// flight per thread an element-wise kernel reaches only about a third of a GPU's memory bandwidth. A
// thread reads each element before writing it, so the output may be an input.
constexpr int kUnroll = 4;

template <typename T, typename F>
__device__ __forceinline__ void map_unary(const T* x, T* y, int64_t n, F f) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  for (; i + (kUnroll - 1) * stride < n; i += kUnroll * stride) {
    T v[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) v[u] = x[i + u * stride];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) y[i + u * stride] = f(v[u]);
  }
  for (; i < n; i += stride) y[i] = f(x[i]);
}

template <typename T, typename F>
__device__ __forceinline__ void map_binary(const T* a, const T* b, T* out, int64_t n, F f) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  for (; i + (kUnroll - 1) * stride < n; i += kUnroll * stride) {
    T va[kUnroll], vb[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      va[u] = a[i + u * stride];
      vb[u] = b[i + u * stride];
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) out[i + u * stride] = f(va[u], vb[u]);
  }
  for (; i < n; i += stride) out[i] = f(a[i], b[i]);
}

template <typename T>
__global__ void relu_kernel(const T* x, T* y, int64_t n) {
  // NaN passes through, as in the CPU kernel.
  map_unary(x, y, n, [](T v) { return v > T(0) ? v : (v == v ? T(0) : v); });
}

template <typename T>
__global__ void relu_backward_kernel(const T* y, const T* dy, T* dx, int64_t n) {
  map_binary(y, dy, dx, n, [](T v, T g) { return v > T(0) ? g : T(0); });
}

template <typename T>
__global__ void sigmoid_kernel(const T* x, T* y, int64_t n, bool clip, T lo, T hi) {
  map_unary(x, y, n, [=](T v) {
    // From exp(-|x|) in (0, 1], so no exp overflows for any finite x (as csrc/core/activation_math.h).
    const T e = dexp(-dfabs(v));
    const T s = T(1) / (T(1) + e);
    const T r = v >= T(0) ? s : e * s;
    return clip ? (r < lo ? lo : (r > hi ? hi : r)) : r;
  });
}

template <typename T>
__global__ void sigmoid_backward_kernel(const T* y, const T* dy, T* dx, int64_t n) {
  map_binary(y, dy, dx, n, [](T v, T g) { return g * v * (T(1) - v); });
}

template <typename T>
__global__ void leaky_relu_kernel(const T* x, T* y, int64_t n, T slope) {
  map_unary(x, y, n, [=](T v) { return v > T(0) ? v : v * slope; });
}

template <typename T>
__global__ void leaky_relu_backward_kernel(const T* y, const T* dy, T* dx, int64_t n, T slope) {
  // With slope >= 0, y > 0 exactly where x > 0 (PyTorch's test, on the input).
  map_binary(y, dy, dx, n, [=](T v, T g) { return v > T(0) ? g : g * slope; });
}

template <typename T>
__global__ void tanh_kernel(const T* x, T* y, int64_t n) {
  map_unary(x, y, n, [](T v) { return dtanh(v); });
}

template <typename T>
__global__ void tanh_backward_kernel(const T* y, const T* dy, T* dx, int64_t n) {
  map_binary(y, dy, dx, n, [](T v, T g) { return g * (T(1) - v * v); });
}

// Butterfly reductions over a warp: every lane ends with the same bits, as a + b == b + a exactly.
template <typename T>
__device__ __forceinline__ T warp_max(T v) {
  for (int offset = kWarp / 2; offset > 0; offset >>= 1) v = dfmax(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int offset = kWarp / 2; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// Lane l of a row's warp owns columns l, l + 32, ...; after the first shuffle (which every lane reaches
// having read xr[0]) a lane reads and writes only its own columns, so y may be x.
template <typename T>
__global__ void softmax_kernel(const T* x, T* y, int64_t rows, int64_t cols) {
  const int lane = threadIdx.x % kWarp;
  const int64_t row = blockIdx.x * int64_t(kRowsPerBlock) + threadIdx.x / kWarp;
  if (row >= rows) return;  // the whole warp leaves together
  const T* xr = x + row * cols;
  T* yr = y + row * cols;
  T mx = xr[0];
  for (int64_t c = lane; c < cols; c += kWarp) mx = dfmax(mx, xr[c]);
  mx = warp_max(mx);
  T sum = T(0);
  for (int64_t c = lane; c < cols; c += kWarp) {
    const T e = dexp(xr[c] - mx);
    yr[c] = e;
    sum += e;
  }
  const T inv = T(1) / warp_sum(sum);
  for (int64_t c = lane; c < cols; c += kWarp) yr[c] *= inv;
}

template <typename T>
__global__ void softmax_backward_kernel(const T* y, const T* dy, T* dx, int64_t rows, int64_t cols) {
  const int lane = threadIdx.x % kWarp;
  const int64_t row = blockIdx.x * int64_t(kRowsPerBlock) + threadIdx.x / kWarp;
  if (row >= rows) return;
  const T* yr = y + row * cols;
  const T* dyr = dy + row * cols;
  T* dxr = dx + row * cols;
  T dot = T(0);
  for (int64_t c = lane; c < cols; c += kWarp) dot += yr[c] * dyr[c];
  dot = warp_sum(dot);
  for (int64_t c = lane; c < cols; c += kWarp) dxr[c] = yr[c] * (dyr[c] - dot);
}

// One block per kRowsPerBlock rows: not grid-strided, so never capped.
unsigned blocks_for_rows(int64_t rows) { return unsigned((rows + kRowsPerBlock - 1) / kRowsPerBlock); }

}  // namespace

template <typename T>
void relu(const T* x, T* y, int64_t n, cudaStream_t stream) {
  PYDL_LAUNCH(relu_kernel<T>, grid_for(n), kThreads, stream, x, y, n);
}

template <typename T>
void relu_backward(const T* y, const T* dy, T* dx, int64_t n, cudaStream_t stream) {
  PYDL_LAUNCH(relu_backward_kernel<T>, grid_for(n), kThreads, stream, y, dy, dx, n);
}

template <typename T>
void sigmoid(const T* x, T* y, int64_t n, bool clip, double clip_value, cudaStream_t stream) {
  PYDL_LAUNCH(sigmoid_kernel<T>, grid_for(n), kThreads, stream, x, y, n, clip, T(clip_value), T(1.0 - clip_value));
}

template <typename T>
void sigmoid_backward(const T* y, const T* dy, T* dx, int64_t n, cudaStream_t stream) {
  PYDL_LAUNCH(sigmoid_backward_kernel<T>, grid_for(n), kThreads, stream, y, dy, dx, n);
}

template <typename T>
void leaky_relu(const T* x, T* y, int64_t n, double negative_slope, cudaStream_t stream) {
  PYDL_LAUNCH(leaky_relu_kernel<T>, grid_for(n), kThreads, stream, x, y, n, T(negative_slope));
}

template <typename T>
void leaky_relu_backward(const T* y, const T* dy, T* dx, int64_t n, double negative_slope, cudaStream_t stream) {
  PYDL_LAUNCH(leaky_relu_backward_kernel<T>, grid_for(n), kThreads, stream, y, dy, dx, n, T(negative_slope));
}

template <typename T>
void tanh(const T* x, T* y, int64_t n, cudaStream_t stream) {
  PYDL_LAUNCH(tanh_kernel<T>, grid_for(n), kThreads, stream, x, y, n);
}

template <typename T>
void tanh_backward(const T* y, const T* dy, T* dx, int64_t n, cudaStream_t stream) {
  PYDL_LAUNCH(tanh_backward_kernel<T>, grid_for(n), kThreads, stream, y, dy, dx, n);
}

template <typename T>
void softmax(const T* x, T* y, int64_t rows, int64_t cols, cudaStream_t stream) {
  PYDL_LAUNCH(softmax_kernel<T>, blocks_for_rows(rows), kThreads, stream, x, y, rows, cols);
}

template <typename T>
void softmax_backward(const T* y, const T* dy, T* dx, int64_t rows, int64_t cols, cudaStream_t stream) {
  PYDL_LAUNCH(softmax_backward_kernel<T>, blocks_for_rows(rows), kThreads, stream, y, dy, dx, rows, cols);
}

#define PYDL_INSTANTIATE(T)                                                                      \
  template void relu<T>(const T*, T*, int64_t, cudaStream_t);                                    \
  template void relu_backward<T>(const T*, const T*, T*, int64_t, cudaStream_t);                 \
  template void sigmoid<T>(const T*, T*, int64_t, bool, double, cudaStream_t);                   \
  template void sigmoid_backward<T>(const T*, const T*, T*, int64_t, cudaStream_t);              \
  template void leaky_relu<T>(const T*, T*, int64_t, double, cudaStream_t);                      \
  template void leaky_relu_backward<T>(const T*, const T*, T*, int64_t, double, cudaStream_t);   \
  template void tanh<T>(const T*, T*, int64_t, cudaStream_t);                                    \
  template void tanh_backward<T>(const T*, const T*, T*, int64_t, cudaStream_t);                 \
  template void softmax<T>(const T*, T*, int64_t, int64_t, cudaStream_t);                        \
  template void softmax_backward<T>(const T*, const T*, T*, int64_t, int64_t, cudaStream_t);
PYDL_INSTANTIATE(float)
PYDL_INSTANTIATE(double)
#undef PYDL_INSTANTIATE

}  // namespace pydl::cuda
