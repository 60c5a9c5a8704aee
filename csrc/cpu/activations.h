// Activation kernels. x, y, dy, dx: n contiguous elements (softmax: rows x cols, row-major).
// The element loops return true when they met NaN in an input; the *_forward / *_backward entry points
// split the work over threads above a measured size and are what bindings and the plan call.
#pragma once
#include <cstdint>

namespace pydl {

enum class Activation { none, relu, sigmoid, tanh };

bool sigmoid(const float* x, float* y, int64_t n);
bool sigmoid(const double* x, double* y, int64_t n);
bool tanh(const float* x, float* y, int64_t n);
bool tanh(const double* x, double* y, int64_t n);
bool relu(const float* x, float* y, int64_t n);
bool relu(const double* x, double* y, int64_t n);

bool softmax(const float* x, float* y, int64_t rows, int64_t cols);
bool softmax(const double* x, double* y, int64_t rows, int64_t cols);

// y = act(x) over threads; y may be x. Returns true when x held NaN.
template <typename T> bool activation_forward(Activation act, const T* x, T* y, int64_t n);
// dx = dy * act'(x) from the forward output y; dx may be y or dy. Returns true when y or dy held NaN.
template <typename T> bool activation_backward(Activation act, const T* y, const T* dy, T* dx, int64_t n);
// y clipped to [T(clip), T(1 - clip)] as np.clip does (NaN stays NaN): the clipped sigmoid of report 004.
template <typename T> void clip_probabilities(T* y, int64_t n, double clip);
// LeakyReLU (slope >= 0): y = x > 0 ? x : slope * x; dx = dy where y > 0, else slope * dy. Return true on NaN.
template <typename T> bool leaky_relu_forward(const T* x, T* y, int64_t n, double slope);
template <typename T> bool leaky_relu_backward(const T* y, const T* dy, T* dx, int64_t n, double slope);

template <typename T> bool softmax_forward(const T* x, T* y, int64_t rows, int64_t cols);
// dx = y * (dy - sum(dy * y, row)).
template <typename T> void softmax_backward(const T* y, const T* dy, T* dx, int64_t rows, int64_t cols);

}  // namespace pydl
