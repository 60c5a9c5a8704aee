// 2-D pooling on NCHW data seen as planes = n * c input planes x (h, w) and output planes (ho, wo); the
// window of output (oh, ow) starts at (oh * sh - ph, ow * sw - pw) and is clipped to the input. Each kernel
// is a grid-stride loop:
//   max_pool_forward   over outputs: the first maximum of the window and its flat index ih * w + iw
//   max_pool_backward  over input rows: zero the row, then add each dy whose argmax lies in it, scanning
//                      the plane's outputs in order (np.add.at's order of additions, no atomics)
//   avg_pool_forward   over outputs: window sum * 1 / (kh * kw)
//   avg_pool_backward  over input elements: dy * 1 / (kh * kw) of every window holding it, in output
//                      order (the reference's order of additions)
#include "runtime.h"

#include "pool.h"

namespace pydl::cuda {

namespace {

__device__ __forceinline__ int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
__device__ __forceinline__ int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

template <typename T>
__global__ void max_pool_forward(PoolGeom g, const T* x, T* y, int64_t* argmax, int64_t total) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ow = e % g.wo, oh = (e / g.wo) % g.ho, plane = e / (g.wo * g.ho);
    const int64_t h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
    const int64_t h_lo = max64(h0, 0), h_hi = min64(h0 + g.kh, g.h);
    const int64_t w_lo = max64(w0, 0), w_hi = min64(w0 + g.kw, g.w);
    const T* xp = x + plane * g.h * g.w;
    int64_t best = h_lo * g.w + w_lo;
    for (int64_t ih = h_lo; ih < h_hi; ++ih)
      for (int64_t iw = w_lo; iw < w_hi; ++iw)
        if (xp[ih * g.w + iw] > xp[best]) best = ih * g.w + iw;  // strictly greater: ties keep the first
    y[e] = xp[best];
    argmax[e] = best;
  }
}

template <typename T>
__global__ void max_pool_backward(PoolGeom g, const T* dy, const int64_t* argmax, T* dx, int64_t total) {
  const int64_t outputs = g.ho * g.wo;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t row = e % g.h, plane = e / g.h;
    T* dx_row = dx + e * g.w;
    for (int64_t iw = 0; iw < g.w; ++iw) dx_row[iw] = T(0);
    const int64_t* am = argmax + plane * outputs;
    const T* dyp = dy + plane * outputs;
    for (int64_t o = 0; o < outputs; ++o) {
      const int64_t a = am[o] - row * g.w;  // column of the maximum when it lies in this row
      if (a >= 0 && a < g.w) dx_row[a] += dyp[o];
    }
  }
}

template <typename T>
__global__ void avg_pool_forward(PoolGeom g, const T* x, T* y, T scale, int64_t total) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ow = e % g.wo, oh = (e / g.wo) % g.ho, plane = e / (g.wo * g.ho);
    const int64_t h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
    const int64_t h_lo = max64(h0, 0), h_hi = min64(h0 + g.kh, g.h);
    const int64_t w_lo = max64(w0, 0), w_hi = min64(w0 + g.kw, g.w);
    const T* xp = x + plane * g.h * g.w;
    T sum = T(0);
    for (int64_t ih = h_lo; ih < h_hi; ++ih)
      for (int64_t iw = w_lo; iw < w_hi; ++iw) sum += xp[ih * g.w + iw];
    y[e] = sum * scale;
  }
}

// The output rows [*lo, *hi] whose windows hold input row i: oh * s - p <= i < oh * s - p + k, 0 <= oh < out.
__device__ __forceinline__ void windows_holding(int64_t i, int64_t k, int64_t s, int64_t p, int64_t out, int64_t* lo,
                                                int64_t* hi) {
  const int64_t least = i + p - k + 1;  // oh * s must be at least this
  *lo = least <= 0 ? 0 : (least + s - 1) / s;
  *hi = min64((i + p) / s, out - 1);
}

template <typename T>
__global__ void avg_pool_backward(PoolGeom g, const T* dy, T* dx, T scale, int64_t total) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t iw = e % g.w, ih = (e / g.w) % g.h, plane = e / (g.w * g.h);
    int64_t oh_lo, oh_hi, ow_lo, ow_hi;
    windows_holding(ih, g.kh, g.sh, g.ph, g.ho, &oh_lo, &oh_hi);
    windows_holding(iw, g.kw, g.sw, g.pw, g.wo, &ow_lo, &ow_hi);
    const T* dyp = dy + plane * g.ho * g.wo;
    T sum = T(0);
    for (int64_t oh = oh_lo; oh <= oh_hi; ++oh)
      for (int64_t ow = ow_lo; ow <= ow_hi; ++ow) sum += dyp[oh * g.wo + ow] * scale;
    dx[e] = sum;
  }
}

// 1 / (kh * kw) in T, the product taken in double as the reference does (it may exceed int64).
template <typename T>
T window_scale(const PoolGeom& g) {
  return T(1.0 / (double(g.kh) * double(g.kw)));
}

}  // namespace

template <typename T>
void max_pool2d_forward(const PoolGeom& g, const T* x, T* y, int64_t* argmax, cudaStream_t stream) {
  const int64_t total = g.planes * g.ho * g.wo;
  PYDL_LAUNCH(max_pool_forward<T>, grid_for(total), kThreads, stream, g, x, y, argmax, total);
}

template <typename T>
void max_pool2d_backward(const PoolGeom& g, const T* dy, const int64_t* argmax, T* dx, cudaStream_t stream) {
  const int64_t total = g.planes * g.h;
  PYDL_LAUNCH(max_pool_backward<T>, grid_for(total), kThreads, stream, g, dy, argmax, dx, total);
}

template <typename T>
void avg_pool2d_forward(const PoolGeom& g, const T* x, T* y, cudaStream_t stream) {
  const int64_t total = g.planes * g.ho * g.wo;
  PYDL_LAUNCH(avg_pool_forward<T>, grid_for(total), kThreads, stream, g, x, y, window_scale<T>(g), total);
}

template <typename T>
void avg_pool2d_backward(const PoolGeom& g, const T* dy, T* dx, cudaStream_t stream) {
  const int64_t total = g.planes * g.h * g.w;
  PYDL_LAUNCH(avg_pool_backward<T>, grid_for(total), kThreads, stream, g, dy, dx, window_scale<T>(g), total);
}

#define PYDL_POOL_INSTANTIATE(T)                                                                     \
  template void max_pool2d_forward<T>(const PoolGeom&, const T*, T*, int64_t*, cudaStream_t);        \
  template void max_pool2d_backward<T>(const PoolGeom&, const T*, const int64_t*, T*, cudaStream_t); \
  template void avg_pool2d_forward<T>(const PoolGeom&, const T*, T*, cudaStream_t);                  \
  template void avg_pool2d_backward<T>(const PoolGeom&, const T*, T*, cudaStream_t);
PYDL_POOL_INSTANTIATE(float)
PYDL_POOL_INSTANTIATE(double)
#undef PYDL_POOL_INSTANTIATE

}  // namespace pydl::cuda
