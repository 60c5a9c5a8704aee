// Fully connected layer y = act(x @ w + b) with w stored (in_features, out_features). The bindings
// validate shapes; these kernels assume them, run without the GIL and never throw.
#pragma once
#include <cstdint>

#include "activations.h"

namespace pydl {

// x (n, in), w (in, out), b (out,) or null, y (n, out), all C-contiguous.
template <typename T>
void dense_forward(const T* x, const T* w, const T* b, Activation act, T* y, int64_t n, int64_t in, int64_t out);

// Gradients given dy (n, out): dw = x^T dy (in, out), db = dy summed over the batch (out,) when non-null,
// dx = dy w^T (n, in) when non-null. accumulate adds into dw and db instead of overwriting them;
// dx is always overwritten.
template <typename T>
void dense_backward(const T* x, const T* w, const T* dy, T* dx, T* dw, T* db, int64_t n, int64_t in, int64_t out,
                    bool accumulate);

}  // namespace pydl
