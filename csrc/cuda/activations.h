// Activation kernels on device memory. x, y, dy, dx: n contiguous elements (softmax: rows x cols,
// row-major); an output may be its input (in place). Launch only: the bindings validate.
#pragma once
#include <cstdint>

#include "runtime.h"

namespace pydl::cuda {

// y = max(x, 0) (NaN stays NaN).
template <typename T>
void relu(const T* x, T* y, int64_t n, cudaStream_t stream);
// dx = dy where y > 0, else 0.
template <typename T>
void relu_backward(const T* y, const T* dy, T* dx, int64_t n, cudaStream_t stream);
// y = 1 / (1 + exp(-x)); clip: then clipped to [T(clip_value), T(1 - clip_value)].
template <typename T>
void sigmoid(const T* x, T* y, int64_t n, bool clip, double clip_value, cudaStream_t stream);
// dx = dy * y * (1 - y).
template <typename T>
void sigmoid_backward(const T* y, const T* dy, T* dx, int64_t n, cudaStream_t stream);
// y = x > 0 ? x : slope * x (slope >= 0); dx = y > 0 ? dy : slope * dy.
template <typename T>
void leaky_relu(const T* x, T* y, int64_t n, double negative_slope, cudaStream_t stream);
template <typename T>
void leaky_relu_backward(const T* y, const T* dy, T* dx, int64_t n, double negative_slope, cudaStream_t stream);
// y = tanh(x); dx = dy * (1 - y^2).
template <typename T>
void tanh(const T* x, T* y, int64_t n, cudaStream_t stream);
template <typename T>
void tanh_backward(const T* y, const T* dy, T* dx, int64_t n, cudaStream_t stream);
// Row-wise softmax of finite x, max-subtracted; dx = y * (dy - sum(dy * y, row)).
template <typename T>
void softmax(const T* x, T* y, int64_t rows, int64_t cols, cudaStream_t stream);
template <typename T>
void softmax_backward(const T* y, const T* dy, T* dx, int64_t rows, int64_t cols, cudaStream_t stream);

}  // namespace pydl::cuda
