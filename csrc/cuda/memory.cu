// Element-wise helpers, one thread per element in a grid-stride loop.
//   fill       a (n) <- value
//   clip       a (n) <- min(max(a, low), high)
//   cast       src (n) -> dst (n) in another type
#include "runtime.h"

#include "memory.h"

namespace pydl::cuda {
namespace {

template <typename T>
__global__ void fill_kernel(T* a, int64_t n, T value) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    a[i] = value;
  }
}

template <typename T>
__global__ void clip_kernel(T* a, int64_t n, T low, T high) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const T v = a[i];
    a[i] = v < low ? low : (v > high ? high : v);  // NaN stays NaN, as np.clip
  }
}

template <typename From, typename To>
__global__ void cast_kernel(const From* src, To* dst, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    dst[i] = static_cast<To>(src[i]);
  }
}

}  // namespace

template <typename T>
void fill(T* a, int64_t n, T value, cudaStream_t stream) {
  PYDL_LAUNCH(fill_kernel<T>, grid_for(n), kThreads, stream, a, n, value);
}

template <typename T>
void clip(T* a, int64_t n, T low, T high, cudaStream_t stream) {
  PYDL_LAUNCH(clip_kernel<T>, grid_for(n), kThreads, stream, a, n, low, high);
}

template <typename From, typename To>
void cast(const From* src, To* dst, int64_t n, cudaStream_t stream) {
  PYDL_LAUNCH((cast_kernel<From, To>), grid_for(n), kThreads, stream, src, dst, n);
}

template void fill<float>(float*, int64_t, float, cudaStream_t);
template void fill<double>(double*, int64_t, double, cudaStream_t);
template void fill<int64_t>(int64_t*, int64_t, int64_t, cudaStream_t);
template void clip<float>(float*, int64_t, float, float, cudaStream_t);
template void clip<double>(double*, int64_t, double, double, cudaStream_t);
template void cast<float, double>(const float*, double*, int64_t, cudaStream_t);
template void cast<double, float>(const double*, float*, int64_t, cudaStream_t);

}  // namespace pydl::cuda
