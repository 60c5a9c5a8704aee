// Activation kernels on device memory. x, y, dy, dx: n contiguous elements.
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

}  // namespace pydl::cuda
