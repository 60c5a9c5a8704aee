// Batch normalization (PyTorch's BatchNorm1d/2d) over x viewed as (n, c, l): statistics per channel over
// the n * l values of that channel, accumulated in double, each channel by one thread in a fixed order
// (results do not depend on the thread count). mean/invstd: the batch's, saved for backward.
#pragma once
#include <cstdint>

namespace pydl {

struct NormShape {
  int64_t n, c, l;  // x is (n, c, l), C-contiguous; n * l >= 2 in training
};

// Training: y = (x - mean) * invstd * gamma + beta with the batch mean and biased variance, invstd =
// 1 / sqrt(var + eps); running_mean/var = momentum * batch + (1 - momentum) * running (unbiased variance).
template <typename T>
void batch_norm_train(const NormShape& s, const T* x, const T* gamma, const T* beta, T* running_mean,
                      T* running_var, T* y, T* mean, T* invstd, double momentum, double eps);
// Eval: the same with the running statistics.
template <typename T>
void batch_norm_eval(const NormShape& s, const T* x, const T* gamma, const T* beta, const T* running_mean,
                     const T* running_var, T* y, double eps);
// dgamma = sum(dy * xhat), dbeta = sum(dy), dx (skipped when null) through the batch statistics.
template <typename T>
void batch_norm_backward(const NormShape& s, const T* x, const T* gamma, const T* dy, const T* mean, const T* invstd,
                         T* dx, T* dgamma, T* dbeta);

}  // namespace pydl
