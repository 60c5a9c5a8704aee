// CUDA batch-normalization launchers (PyTorch's BatchNorm1d/2d) over x viewed as (n, c, l), C-contiguous:
// raw device pointers, sizes and a stream; no validation, launch only. Statistics per channel over its
// n * l values, accumulated in double in a fixed order (n * l >= 2 in training).
#pragma once
#include <cstdint>

#include "runtime.h"

namespace pydl::cuda {

// Training: y = (x - mean) * invstd * gamma + beta with the batch mean and biased variance, invstd =
// 1 / sqrt(var + eps); running_mean/var = momentum * batch + (1 - momentum) * running (unbiased variance).
// y may be x.
template <typename T>
void batch_norm_train(const T* x, const T* gamma, const T* beta, T* running_mean, T* running_var, T* y, T* mean,
                      T* invstd, int64_t n, int64_t c, int64_t l, double momentum, double eps, cudaStream_t stream);
// Eval: the same with the running statistics; y may be x.
template <typename T>
void batch_norm_eval(const T* x, const T* gamma, const T* beta, const T* running_mean, const T* running_var, T* y,
                     int64_t n, int64_t c, int64_t l, double eps, cudaStream_t stream);
// dgamma = sum(dy * xhat), dbeta = sum(dy), dx (skipped when null; may be dy) through the batch statistics.
template <typename T>
void batch_norm_backward(const T* x, const T* gamma, const T* dy, const T* mean, const T* invstd, T* dx, T* dgamma,
                         T* dbeta, int64_t n, int64_t c, int64_t l, cudaStream_t stream);

}  // namespace pydl::cuda
