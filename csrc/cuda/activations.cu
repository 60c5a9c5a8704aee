// Activations, one thread per element in a grid-stride loop.
//   relu           x (n) -> y (n)
//   relu_backward  y (n), dy (n) -> dx (n)
#include "runtime.h"

#include "activations.h"

namespace pydl::cuda {
namespace {

template <typename T>
__global__ void relu_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const T v = x[i];
    y[i] = v > T(0) ? v : (v == v ? T(0) : v);  // NaN passes through, as in the CPU kernel
  }
}

template <typename T>
__global__ void relu_backward_kernel(const T* __restrict__ y, const T* __restrict__ dy, T* __restrict__ dx, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    dx[i] = y[i] > T(0) ? dy[i] : T(0);
  }
}

}  // namespace

template <typename T>
void relu(const T* x, T* y, int64_t n, cudaStream_t stream) {
  PYDL_LAUNCH(relu_kernel<T>, grid_for(n), kThreads, stream, x, y, n);
}

template <typename T>
void relu_backward(const T* y, const T* dy, T* dx, int64_t n, cudaStream_t stream) {
  PYDL_LAUNCH(relu_backward_kernel<T>, grid_for(n), kThreads, stream, y, dy, dx, n);
}

template void relu<float>(const float*, float*, int64_t, cudaStream_t);
template void relu<double>(const double*, double*, int64_t, cudaStream_t);
template void relu_backward<float>(const float*, const float*, float*, int64_t, cudaStream_t);
template void relu_backward<double>(const double*, const double*, double*, int64_t, cudaStream_t);

}  // namespace pydl::cuda
