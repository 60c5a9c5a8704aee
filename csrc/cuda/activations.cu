// Activations (twins: pydl/reference/activations.py, csrc/cpu/activations.cpp). Element-wise kernels: a
// grid-stride loop over 16-byte packs, kUnroll a thread per round; softmax: one warp per row.
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

// Element-wise maps. Each thread takes kUnroll 16-byte packs a round and loads them all before it stores
// any: with one 4-byte load in flight per thread a kernel reaches only about a third of a GPU's memory
// bandwidth. Packs need 16-byte aligned arrays (cudaMalloc's are; a view may not be): the elements that
// no pack covers, or all of them, go through the scalar loop. A thread reads each element before
// writing it, so the output may be an input.
constexpr int kUnroll = 4;

template <typename T>
struct alignas(16) Pack {
  static constexpr int kLanes = 16 / sizeof(T);
  T v[kLanes];
};

__device__ __forceinline__ bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

// Calls body(i) for the pack indices [0, packs) of this thread, kUnroll of them at once: load(i) reads a
// pack's inputs, body stores its outputs.
template <typename Load, typename Store>
__device__ __forceinline__ void for_packs(int64_t packs, Load load, Store store) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  for (; i + (kUnroll - 1) * stride < packs; i += kUnroll * stride) {
    decltype(load(i)) in[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) in[u] = load(i + u * stride);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) store(i + u * stride, in[u]);
  }
  for (; i < packs; i += stride) store(i, load(i));
}

template <typename T, typename F>
__device__ __forceinline__ void map_unary(const T* x, T* y, int64_t n, F f) {
  using P = Pack<T>;
  const int64_t packs = aligned16(x) && aligned16(y) ? n / P::kLanes : 0;
  for_packs(packs, [=](int64_t i) { return reinterpret_cast<const P*>(x)[i]; },
            [=](int64_t i, P v) {
#pragma unroll
              for (int l = 0; l < P::kLanes; ++l) v.v[l] = f(v.v[l]);
              reinterpret_cast<P*>(y)[i] = v;
            });
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = packs * P::kLanes + blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += stride) {
    y[i] = f(x[i]);
  }
}

template <typename T, typename F>
__device__ __forceinline__ void map_binary(const T* a, const T* b, T* out, int64_t n, F f) {
  using P = Pack<T>;
  struct Two {
    P a, b;
  };
  const int64_t packs = aligned16(a) && aligned16(b) && aligned16(out) ? n / P::kLanes : 0;
  for_packs(packs, [=](int64_t i) { return Two{reinterpret_cast<const P*>(a)[i], reinterpret_cast<const P*>(b)[i]}; },
            [=](int64_t i, Two v) {
#pragma unroll
              for (int l = 0; l < P::kLanes; ++l) v.a.v[l] = f(v.a.v[l], v.b.v[l]);
              reinterpret_cast<P*>(out)[i] = v.a;
            });
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = packs * P::kLanes + blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += stride) {
    out[i] = f(a[i], b[i]);
  }
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
    const T s = drcp(T(1) + e);
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
