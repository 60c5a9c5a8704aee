// Element-wise helpers, one thread per element in a grid-stride loop.
//   fill       a (n) <- value
//   clip       a (n) <- min(max(a, low), high)
//   cast       src (n) -> dst (n) in another type
//   count_bad  a (n) -> number of NaN (or non-finite) elements; integer atomics, so the count is exact
#include "runtime.h"

#include "device_math.h"
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

template <typename T>
__global__ void count_bad_kernel(const T* a, int64_t n, bool finite_only, unsigned long long* count) {
  unsigned long long mine = 0;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    mine += finite_only ? !disfinite(a[i]) : disnan(a[i]);
  }
  if (mine) atomicAdd(count, mine);
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

template <typename T>
int64_t count_bad(const T* a, int64_t n, bool finite_only, cudaStream_t stream) {
  unsigned long long* count = nullptr;
  PYDL_CUDA_CHECK(cudaMalloc(&count, sizeof(unsigned long long)));
  unsigned long long host = 0;
  PYDL_CUDA_CHECK(cudaMemsetAsync(count, 0, sizeof(unsigned long long), stream));
  PYDL_LAUNCH(count_bad_kernel<T>, grid_for(n), kThreads, stream, a, n, finite_only, count);
  const cudaError_t copied = cudaMemcpy(&host, count, sizeof(host), cudaMemcpyDeviceToHost);
  cudaFree(count);
  PYDL_CUDA_CHECK(copied);
  return static_cast<int64_t>(host);
}

template void fill<float>(float*, int64_t, float, cudaStream_t);
template void fill<double>(double*, int64_t, double, cudaStream_t);
template void fill<int64_t>(int64_t*, int64_t, int64_t, cudaStream_t);
template void clip<float>(float*, int64_t, float, float, cudaStream_t);
template void clip<double>(double*, int64_t, double, double, cudaStream_t);
template void cast<float, double>(const float*, double*, int64_t, cudaStream_t);
template void cast<double, float>(const double*, float*, int64_t, cudaStream_t);
template int64_t count_bad<float>(const float*, int64_t, bool, cudaStream_t);
template int64_t count_bad<double>(const double*, int64_t, bool, cudaStream_t);

}  // namespace pydl::cuda
