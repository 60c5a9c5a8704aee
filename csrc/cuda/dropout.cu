// Inverted dropout (twins: pydl/reference/dropout.py, csrc/cpu/dropout*): the mask of element i depends only
// on (seed, i), so every device, grid and thread order gives the CPU's mask bit for bit.
//   dropout_forward   x (n) -> y (n), mask (n); thread j handles the pair (2j, 2j + 1) of one hash
//   dropout_backward  dy (n), mask (n) -> dx (n)
#include "runtime.h"

#include <cmath>

#include "dropout.h"

namespace pydl::cuda {
namespace {

constexpr uint64_t kGamma = 0x9E3779B97F4A7C15ULL;  // SplitMix64's increment

// SplitMix64's finaliser, as csrc/cpu/dropout_impl.h.
__host__ __device__ __forceinline__ uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Pair j's hash mix(key + (j + 1) * gamma) gives element 2j its high half and 2j + 1 its low half.
template <typename T>
__global__ void dropout_forward_kernel(const T* x, T* y, T* mask, int64_t n, uint64_t key, uint64_t threshold,
                                       T scale) {
  const int64_t pairs = (n + 1) / 2;
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < pairs; j += int64_t(gridDim.x) * blockDim.x) {
    const uint64_t z = mix(key + (uint64_t(j) + 1) * kGamma);
    const T m0 = (z >> 32) >= threshold ? scale : T(0);
    mask[2 * j] = m0;
    y[2 * j] = x[2 * j] * m0;
    if (2 * j + 1 < n) {  // an odd count's last pair has one element
      const T m1 = (z & 0xFFFFFFFFull) >= threshold ? scale : T(0);
      mask[2 * j + 1] = m1;
      y[2 * j + 1] = x[2 * j + 1] * m1;
    }
  }
}

template <typename T>
__global__ void dropout_backward_kernel(const T* dy, const T* mask, T* dx, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    dx[i] = dy[i] * mask[i];
  }
}

}  // namespace

template <typename T>
void dropout_forward(const T* x, T* y, T* mask, int64_t n, double p, uint64_t seed, cudaStream_t stream) {
  const T scale = T(1.0 / (1.0 - p));  // torch.nn.functional.dropout's 1 / (1 - p)
  // bits * 2^-32 >= p exactly when bits >= ceil(p * 2^32) (p * 2^32 is exact): an integer compare.
  const uint64_t threshold = uint64_t(std::ceil(p * 0x1.0p32));
  PYDL_LAUNCH(dropout_forward_kernel<T>, grid_for((n + 1) / 2), kThreads, stream, x, y, mask, n, mix(seed), threshold,
              scale);
}

template <typename T>
void dropout_backward(const T* dy, const T* mask, T* dx, int64_t n, cudaStream_t stream) {
  PYDL_LAUNCH(dropout_backward_kernel<T>, grid_for(n), kThreads, stream, dy, mask, dx, n);
}

template void dropout_forward<float>(const float*, float*, float*, int64_t, double, uint64_t, cudaStream_t);
template void dropout_forward<double>(const double*, double*, double*, int64_t, double, uint64_t, cudaStream_t);
template void dropout_backward<float>(const float*, const float*, float*, int64_t, cudaStream_t);
template void dropout_backward<double>(const double*, const double*, double*, int64_t, cudaStream_t);

}  // namespace pydl::cuda
