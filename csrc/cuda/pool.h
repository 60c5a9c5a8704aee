// 2-D max and average pooling on NCHW device arrays, geometry as in cpu/conv.h (pool_geometry fills it;
// the bindings validate). Launchers only launch on `stream`: raw device pointers, no checks.
#pragma once
#include <cstdint>

#include "cpu/conv.h"
#include "runtime.h"

namespace pydl::cuda {

// y and argmax (planes, ho, wo): each window's maximum and its flat index ih * w + iw in the input plane
// (the first in row-major order on ties); windows are clipped to the input (padding never wins).
template <typename T>
void max_pool2d_forward(const PoolGeom& g, const T* x, T* y, int64_t* argmax, cudaStream_t stream);
// dx (planes, h, w): each dy element added at its argmax, in output order; argmax values outside [0, h * w)
// are skipped. Only planes, h, w, ho, wo of g are used.
template <typename T>
void max_pool2d_backward(const PoolGeom& g, const T* dy, const int64_t* argmax, T* dx, cudaStream_t stream);

// Zero padding counts towards the divisor kh * kw (PyTorch's count_include_pad=True).
template <typename T>
void avg_pool2d_forward(const PoolGeom& g, const T* x, T* y, cudaStream_t stream);
template <typename T>
void avg_pool2d_backward(const PoolGeom& g, const T* dy, T* dx, cudaStream_t stream);

}  // namespace pydl::cuda
