// Element-wise activations on contiguous buffers, dispatched to the best SIMD level at run time.
// Each returns true when an input element was NaN (the output is then meaningless); callers that
// validate inputs raise on that. Safe to call with out == in. Single-threaded: callers split the work.
#pragma once
#include <cstdint>

namespace pydl {

bool sigmoid(const float* x, float* y, int64_t n);
bool sigmoid(const double* x, double* y, int64_t n);
bool tanh(const float* x, float* y, int64_t n);
bool tanh(const double* x, double* y, int64_t n);
bool relu(const float* x, float* y, int64_t n);
bool relu(const double* x, double* y, int64_t n);

// Row-wise softmax of a rows x cols matrix, max-subtracted so exp never overflows.
bool softmax(const float* x, float* y, int64_t rows, int64_t cols);
bool softmax(const double* x, double* y, int64_t rows, int64_t cols);

}  // namespace pydl
