// Batch normalization (twins: pydl/reference/normalization.py, csrc/cpu/normalization.cpp) over x viewed as
// (n, c, l). One block per channel: its threads accumulate the channel's n * l values in double, each a fixed
// strided subset, summed in a fixed tree, so the statistics have the same bits on every run.
// batch_norm_train_kernel     x (n, c, l), gamma, beta (c,), running_mean, running_var (c,) updated in place
//                             -> y (n, c, l), mean, invstd (c,)
// batch_norm_eval_kernel      x (n, c, l), gamma, beta, running_mean, running_var (c,) -> y (n, c, l)
// batch_norm_backward_kernel  x, dy (n, c, l), gamma, mean, invstd (c,) -> dx (n, c, l) or none, dgamma, dbeta (c,)
#include "runtime.h"

#include "device_math.h"
#include "normalization.h"

namespace pydl::cuda {
namespace {

constexpr int kBlock = kThreads;  // a power of two: the tree sum halves it

// Offset of value q (0 <= q < n * l) of channel ch: sample q / l, position q % l.
__device__ __forceinline__ int64_t at(int64_t q, int64_t ch, int64_t c, int64_t l) {
  const int64_t i = q / l;
  return (i * c + ch) * l + (q - i * l);
}

// The block's total of v, given to every thread; sh: kBlock doubles of shared memory.
__device__ double block_sum(double v, double* sh) {
  sh[threadIdx.x] = v;
  __syncthreads();
  for (int s = kBlock / 2; s > 0; s >>= 1) {
    if (int(threadIdx.x) < s) sh[threadIdx.x] += sh[threadIdx.x + s];
    __syncthreads();
  }
  const double total = sh[0];
  __syncthreads();  // sh is overwritten by the next sum
  return total;
}

template <typename T>
__global__ void batch_norm_train_kernel(const T* x, const T* gamma, const T* beta, T* running_mean, T* running_var,
                                        T* y, T* mean, T* invstd, int64_t n, int64_t c, int64_t l, double momentum,
                                        double eps) {
  __shared__ double sh[kBlock];
  const int64_t m = n * l;
  for (int64_t ch = blockIdx.x; ch < c; ch += gridDim.x) {  // uniform per block: the barriers stay whole
    double sum = 0;
    for (int64_t q = threadIdx.x; q < m; q += blockDim.x) sum += double(x[at(q, ch, c, l)]);
    const double mu = block_sum(sum, sh) / double(m);
    double sq = 0;
    for (int64_t q = threadIdx.x; q < m; q += blockDim.x) {
      const double d = double(x[at(q, ch, c, l)]) - mu;
      sq += d * d;
    }
    sq = block_sum(sq, sh);
    // Every thread holds the same mu and sq; thread 0 alone writes the channel's statistics.
    const T saved_mean = T(mu), saved_invstd = T(1.0 / dsqrt(sq / double(m) + eps));
    if (threadIdx.x == 0) {
      mean[ch] = saved_mean;
      invstd[ch] = saved_invstd;
      running_mean[ch] = T(momentum * mu + (1 - momentum) * double(running_mean[ch]));
      running_var[ch] = T(momentum * (sq / double(m - 1)) + (1 - momentum) * double(running_var[ch]));
    }
    // From the saved (rounded) statistics, so backward works from exactly what forward used. y may be x:
    // all reads of x above are behind block_sum's barriers.
    const double mu_saved = double(saved_mean), inv = double(saved_invstd), g = double(gamma[ch]), b = double(beta[ch]);
    for (int64_t q = threadIdx.x; q < m; q += blockDim.x) {
      const int64_t k = at(q, ch, c, l);
      y[k] = T((double(x[k]) - mu_saved) * inv * g + b);
    }
  }
}

template <typename T>
__global__ void batch_norm_eval_kernel(const T* x, const T* gamma, const T* beta, const T* running_mean,
                                       const T* running_var, T* y, int64_t total, int64_t c, int64_t l, double eps) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < total; k += stride) {
    const int64_t ch = (k / l) % c;
    const double inv = 1.0 / dsqrt(double(running_var[ch]) + eps);  // NaN for a negative variance, as in C++
    y[k] = T((double(x[k]) - double(running_mean[ch])) * inv * double(gamma[ch]) + double(beta[ch]));
  }
}

// PyTorch's form: dx = (dy - mean(dy) - (x - mean) * dot * invstd^2 / m) * invstd * gamma, with
// dot = sum((x - mean) * dy); dx may be dy (each thread rewrites only what it read).
template <typename T>
__global__ void batch_norm_backward_kernel(const T* x, const T* gamma, const T* dy, const T* mean, const T* invstd,
                                           T* dx, T* dgamma, T* dbeta, int64_t n, int64_t c, int64_t l) {
  __shared__ double sh[kBlock];
  const int64_t m = n * l;
  for (int64_t ch = blockIdx.x; ch < c; ch += gridDim.x) {
    const double mu = double(mean[ch]), inv = double(invstd[ch]);
    double sum_dy = 0, dot = 0;
    for (int64_t q = threadIdx.x; q < m; q += blockDim.x) {
      const int64_t k = at(q, ch, c, l);
      const double g = double(dy[k]);
      sum_dy += g;
      dot += (double(x[k]) - mu) * g;
    }
    sum_dy = block_sum(sum_dy, sh);
    dot = block_sum(dot, sh);
    if (threadIdx.x == 0) {
      dgamma[ch] = T(dot * inv);
      dbeta[ch] = T(sum_dy);
    }
    if (dx == nullptr) continue;
    const double mean_dy = sum_dy / double(m), proj = dot * inv * inv / double(m), scale = inv * double(gamma[ch]);
    for (int64_t q = threadIdx.x; q < m; q += blockDim.x) {
      const int64_t k = at(q, ch, c, l);
      dx[k] = T((double(dy[k]) - mean_dy - (double(x[k]) - mu) * proj) * scale);
    }
  }
}

// One block per channel, grid-strided beyond grid_for's cap.
unsigned blocks_for_channels(int64_t c) { return grid_for(c, 1); }

}  // namespace

template <typename T>
void batch_norm_train(const T* x, const T* gamma, const T* beta, T* running_mean, T* running_var, T* y, T* mean,
                      T* invstd, int64_t n, int64_t c, int64_t l, double momentum, double eps, cudaStream_t stream) {
  PYDL_LAUNCH(batch_norm_train_kernel<T>, blocks_for_channels(c), kBlock, stream, x, gamma, beta, running_mean,
              running_var, y, mean, invstd, n, c, l, momentum, eps);
}

template <typename T>
void batch_norm_eval(const T* x, const T* gamma, const T* beta, const T* running_mean, const T* running_var, T* y,
                     int64_t n, int64_t c, int64_t l, double eps, cudaStream_t stream) {
  const int64_t total = n * c * l;
  PYDL_LAUNCH(batch_norm_eval_kernel<T>, grid_for(total), kBlock, stream, x, gamma, beta, running_mean, running_var, y,
              total, c, l, eps);
}

template <typename T>
void batch_norm_backward(const T* x, const T* gamma, const T* dy, const T* mean, const T* invstd, T* dx, T* dgamma,
                         T* dbeta, int64_t n, int64_t c, int64_t l, cudaStream_t stream) {
  PYDL_LAUNCH(batch_norm_backward_kernel<T>, blocks_for_channels(c), kBlock, stream, x, gamma, dy, mean, invstd, dx,
              dgamma, dbeta, n, c, l);
}

#define PYDL_INSTANTIATE(T)                                                                                     \
  template void batch_norm_train<T>(const T*, const T*, const T*, T*, T*, T*, T*, T*, int64_t, int64_t, int64_t, \
                                    double, double, cudaStream_t);                                              \
  template void batch_norm_eval<T>(const T*, const T*, const T*, const T*, const T*, T*, int64_t, int64_t,      \
                                   int64_t, double, cudaStream_t);                                              \
  template void batch_norm_backward<T>(const T*, const T*, const T*, const T*, const T*, T*, T*, T*, int64_t,   \
                                       int64_t, int64_t, cudaStream_t);
PYDL_INSTANTIATE(float)
PYDL_INSTANTIATE(double)
#undef PYDL_INSTANTIATE

}  // namespace pydl::cuda
