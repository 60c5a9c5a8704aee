// Batch normalization (twins: pydl/reference/normalization.py, csrc/cpu/normalization.cpp) over x viewed as
// (n, c, l). A channel's statistics are accumulated in double by a fixed set of threads, each over a fixed
// strided subset of its values, then summed in a fixed tree: the same bits on every run and thread order.
//   batch_norm_train_kernel          x (n, c, l), gamma, beta (c), running_mean, running_var (c) updated in place
//                                    -> y (n, c, l), mean, invstd (c); one block per channel
//   batch_norm_train_rows_kernel     the same for l == 1, x (n, c): a block per 32 channels, 8 rows at a time,
//                                    so a warp reads 32 consecutive values
//   batch_norm_eval_kernel           x (n, c, l), gamma, beta, running_mean, running_var (c) -> y (n, c, l)
//   batch_norm_backward_kernel       x, dy (n, c, l), gamma, mean, invstd (c) -> dx (n, c, l) or none, dgamma,
//                                    dbeta (c); one block per channel
//   batch_norm_backward_rows_kernel  the same for l == 1, a block per 32 channels
#include "runtime.h"

#include "device_math.h"
#include "normalization.h"

namespace pydl::cuda {
namespace {

constexpr int kBlock = kThreads;  // a power of two: the tree sums halve it
constexpr int kTileChannels = 32;  // the rows kernels: threadIdx.x, a channel of the tile
constexpr int kRowGroups = kBlock / kTileChannels;  // threadIdx.y: rows y, y + 8, ...

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

// The total of v over threadIdx.y (the rows kernels' column of kRowGroups partial sums), given to the column.
__device__ double column_sum(double v, double (*sh)[kTileChannels]) {
  sh[threadIdx.y][threadIdx.x] = v;
  __syncthreads();
  for (int s = kRowGroups / 2; s > 0; s >>= 1) {
    if (int(threadIdx.y) < s) sh[threadIdx.y][threadIdx.x] += sh[threadIdx.y + s][threadIdx.x];
    __syncthreads();
  }
  const double total = sh[0][threadIdx.x];
  __syncthreads();
  return total;
}

// A channel's saved statistics from the sum of its m values and of their squared deviations.
template <typename T>
struct Saved {
  T mean, invstd;
};

template <typename T>
__device__ Saved<T> saved_statistics(double mu, double sq, double m, double eps) {
  return {T(mu), T(1.0 / dsqrt(sq / m + eps))};
}

template <typename T>
__device__ void store_statistics(int64_t ch, Saved<T> saved, double mu, double sq, double m, T* running_mean,
                                 T* running_var, T* mean, T* invstd, double momentum) {
  mean[ch] = saved.mean;
  invstd[ch] = saved.invstd;
  running_mean[ch] = T(momentum * mu + (1 - momentum) * double(running_mean[ch]));
  running_var[ch] = T(momentum * (sq / (m - 1)) + (1 - momentum) * double(running_var[ch]));  // unbiased
}

// y from the saved (rounded) statistics, so backward works from exactly what forward used.
template <typename T>
__device__ __forceinline__ T normalized(T v, double mean, double invstd, double gamma, double beta) {
  return T((double(v) - mean) * invstd * gamma + beta);
}

// PyTorch's form: dx = (dy - mean(dy) - (x - mean) * dot * invstd^2 / m) * invstd * gamma, with
// dot = sum((x - mean) * dy).
struct Backward {
  double mu, mean_dy, proj, scale;
};

__device__ Backward backward_terms(double mu, double inv, double gamma, double sum_dy, double dot, double m) {
  return {mu, sum_dy / m, dot * inv * inv / m, inv * gamma};
}

template <typename T>
__device__ __forceinline__ T dx_value(T g, T v, const Backward& b) {
  return T((double(g) - b.mean_dy - (double(v) - b.mu) * b.proj) * b.scale);
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
    const Saved<T> saved = saved_statistics<T>(mu, sq, double(m), eps);
    if (threadIdx.x == 0) store_statistics(ch, saved, mu, sq, double(m), running_mean, running_var, mean, invstd, momentum);
    // y may be x: every read of x above lies behind block_sum's barriers.
    const double g = double(gamma[ch]), b = double(beta[ch]);
    for (int64_t q = threadIdx.x; q < m; q += blockDim.x) {
      const int64_t k = at(q, ch, c, l);
      y[k] = normalized(x[k], double(saved.mean), double(saved.invstd), g, b);
    }
  }
}

template <typename T>
__global__ void batch_norm_train_rows_kernel(const T* x, const T* gamma, const T* beta, T* running_mean,
                                             T* running_var, T* y, T* mean, T* invstd, int64_t n, int64_t c,
                                             double momentum, double eps) {
  __shared__ double sh[kRowGroups][kTileChannels];
  for (int64_t c0 = blockIdx.x * int64_t(kTileChannels); c0 < c; c0 += int64_t(gridDim.x) * kTileChannels) {
    const int64_t ch = c0 + threadIdx.x;
    const bool live = ch < c;  // the last tile's spare columns still take part in the barriers
    double sum = 0;
    if (live) {
      for (int64_t i = threadIdx.y; i < n; i += kRowGroups) sum += double(x[i * c + ch]);
    }
    const double mu = column_sum(sum, sh) / double(n);
    double sq = 0;
    if (live) {
      for (int64_t i = threadIdx.y; i < n; i += kRowGroups) {
        const double d = double(x[i * c + ch]) - mu;
        sq += d * d;
      }
    }
    sq = column_sum(sq, sh);
    if (!live) continue;  // no barrier follows in this tile, and the next tile starts past c
    const Saved<T> saved = saved_statistics<T>(mu, sq, double(n), eps);
    if (threadIdx.y == 0) store_statistics(ch, saved, mu, sq, double(n), running_mean, running_var, mean, invstd, momentum);
    const double g = double(gamma[ch]), b = double(beta[ch]);
    for (int64_t i = threadIdx.y; i < n; i += kRowGroups) {
      y[i * c + ch] = normalized(x[i * c + ch], double(saved.mean), double(saved.invstd), g, b);
    }
  }
}

template <typename T>
__global__ void batch_norm_eval_kernel(const T* x, const T* gamma, const T* beta, const T* running_mean,
                                       const T* running_var, T* y, int64_t total, int64_t c, int64_t l, double eps) {
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < total; k += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ch = (k / l) % c;
    const double inv = 1.0 / dsqrt(double(running_var[ch]) + eps);  // NaN for a negative variance, as in C++
    y[k] = normalized(x[k], double(running_mean[ch]), inv, double(gamma[ch]), double(beta[ch]));
  }
}

// dx may be dy: each thread rewrites only values it read itself.
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
      sum_dy += double(dy[k]);
      dot += (double(x[k]) - mu) * double(dy[k]);
    }
    sum_dy = block_sum(sum_dy, sh);
    dot = block_sum(dot, sh);
    if (threadIdx.x == 0) {
      dgamma[ch] = T(dot * inv);
      dbeta[ch] = T(sum_dy);
    }
    if (dx == nullptr) continue;
    const Backward terms = backward_terms(mu, inv, double(gamma[ch]), sum_dy, dot, double(m));
    for (int64_t q = threadIdx.x; q < m; q += blockDim.x) {
      const int64_t k = at(q, ch, c, l);
      dx[k] = dx_value(dy[k], x[k], terms);
    }
  }
}

template <typename T>
__global__ void batch_norm_backward_rows_kernel(const T* x, const T* gamma, const T* dy, const T* mean,
                                                const T* invstd, T* dx, T* dgamma, T* dbeta, int64_t n, int64_t c) {
  __shared__ double sh[kRowGroups][kTileChannels];
  for (int64_t c0 = blockIdx.x * int64_t(kTileChannels); c0 < c; c0 += int64_t(gridDim.x) * kTileChannels) {
    const int64_t ch = c0 + threadIdx.x;
    const bool live = ch < c;
    const double mu = live ? double(mean[ch]) : 0.0, inv = live ? double(invstd[ch]) : 0.0;
    double sum_dy = 0, dot = 0;
    if (live) {
      for (int64_t i = threadIdx.y; i < n; i += kRowGroups) {
        sum_dy += double(dy[i * c + ch]);
        dot += (double(x[i * c + ch]) - mu) * double(dy[i * c + ch]);
      }
    }
    sum_dy = column_sum(sum_dy, sh);
    dot = column_sum(dot, sh);
    if (!live) continue;
    if (threadIdx.y == 0) {
      dgamma[ch] = T(dot * inv);
      dbeta[ch] = T(sum_dy);
    }
    if (dx == nullptr) continue;
    const Backward terms = backward_terms(mu, inv, double(gamma[ch]), sum_dy, dot, double(n));
    for (int64_t i = threadIdx.y; i < n; i += kRowGroups) dx[i * c + ch] = dx_value(dy[i * c + ch], x[i * c + ch], terms);
  }
}

// One block per channel (per 32 channels for l == 1), grid-strided beyond grid_for's cap.
unsigned blocks_for_channels(int64_t c) { return grid_for(c, 1); }
unsigned blocks_for_tiles(int64_t c) { return grid_for(c, kTileChannels); }

}  // namespace

template <typename T>
void batch_norm_train(const T* x, const T* gamma, const T* beta, T* running_mean, T* running_var, T* y, T* mean,
                      T* invstd, int64_t n, int64_t c, int64_t l, double momentum, double eps, cudaStream_t stream) {
  if (l == 1) {
    PYDL_LAUNCH(batch_norm_train_rows_kernel<T>, blocks_for_tiles(c), dim3(kTileChannels, kRowGroups), stream, x,
                gamma, beta, running_mean, running_var, y, mean, invstd, n, c, momentum, eps);
  } else {
    PYDL_LAUNCH(batch_norm_train_kernel<T>, blocks_for_channels(c), kBlock, stream, x, gamma, beta, running_mean,
                running_var, y, mean, invstd, n, c, l, momentum, eps);
  }
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
  if (l == 1) {
    PYDL_LAUNCH(batch_norm_backward_rows_kernel<T>, blocks_for_tiles(c), dim3(kTileChannels, kRowGroups), stream, x,
                gamma, dy, mean, invstd, dx, dgamma, dbeta, n, c);
  } else {
    PYDL_LAUNCH(batch_norm_backward_kernel<T>, blocks_for_channels(c), kBlock, stream, x, gamma, dy, mean, invstd, dx,
                dgamma, dbeta, n, c, l);
  }
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
