// The element-wise loops compiled for AVX512 (flags from CMakeLists.txt); entered only when cpu.h says so.
#include <cstdint>

namespace pydl::avx512 {
#include "elementwise_impl.h"

bool sigmoid(const float* x, float* y, int64_t n) { return sigmoid_loop(x, y, n); }
bool sigmoid(const double* x, double* y, int64_t n) { return sigmoid_loop(x, y, n); }
bool tanh(const float* x, float* y, int64_t n) { return tanh_loop(x, y, n); }
bool tanh(const double* x, double* y, int64_t n) { return tanh_loop(x, y, n); }
bool relu(const float* x, float* y, int64_t n) { return relu_loop(x, y, n); }
bool relu(const double* x, double* y, int64_t n) { return relu_loop(x, y, n); }
}  // namespace pydl::avx512
