// Sum of one double per thread over a 1-D block, in a fixed tree order, so that the result has the same
// bits for every order in which the threads run. Include after runtime.h.
#pragma once

namespace pydl::cuda {

// scratch: a __shared__ double[blockDim.x] of the calling kernel; blockDim.x a power of two. Every thread
// of the block must call it; all get the sum.
__device__ __forceinline__ double block_sum(double v, double* scratch) {
  const int t = threadIdx.x;
  scratch[t] = v;
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half /= 2) {
    if (t < half) scratch[t] += scratch[t + half];
    __syncthreads();
  }
  const double sum = scratch[0];
  __syncthreads();  // scratch may be reused right after
  return sum;
}

}  // namespace pydl::cuda
