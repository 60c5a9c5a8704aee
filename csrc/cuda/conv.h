// 2-D convolution (PyTorch's conv2d with dilation 1, groups 1) on NCHW device arrays, by im2col and
// gemm.cu. Geometry as in cpu/conv.h (conv_geometry fills it); the bindings validate. Launchers only
// launch on `stream`: raw device pointers, no checks.
#pragma once
#include "cpu/conv.h"
#include "runtime.h"

namespace pydl::cuda {

// y = conv(x, w) + b, then max(y, 0) when relu; b may be null. x (n, c_in, h, w), w (c_out, c_in, kh, kw),
// y (n, c_out, ho, wo).
// workspace: conv2d_workspace(g) elements of T, owned by the caller (the plan keeps one per layer, so a
// training step allocates nothing and never synchronises).
int64_t conv2d_workspace(const ConvGeom& g);

template <typename T>
void conv2d_forward(const ConvGeom& g, const T* x, const T* w, const T* b, bool relu, T* y, T* workspace,
                    cudaStream_t stream);

// Gradients of y = conv(x, w) + b given dy: dw always, dx and db when non-null, all overwritten; every sum
// in a fixed order (no atomics), so the results repeat bit for bit.
template <typename T>
void conv2d_backward(const ConvGeom& g, const T* x, const T* w, const T* dy, T* dx, T* dw, T* db, T* workspace,
                     cudaStream_t stream);

}  // namespace pydl::cuda
