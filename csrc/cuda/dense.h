// Fully connected layer on the device, w stored (in_features, out_features): y = act(x @ w + b). The
// launchers only launch on `stream`: raw device pointers, shapes already checked by the bindings.
#pragma once
#include <cstdint>

#include "cpu/activations.h"
#include "runtime.h"

namespace pydl::cuda {

// x (n, in), w (in, out), b (out,) or null, y (n, out).
template <typename T>
void dense_forward(const T* x, const T* w, const T* b, Activation act, T* y, int64_t n, int64_t in, int64_t out,
                   cudaStream_t stream);

// Given dy (n, out): dw = x^T dy (in, out), db = dy summed over the batch (out,) when non-null, dx = dy w^T
// (n, in) when non-null. accumulate adds into dw and db instead of overwriting them.
template <typename T>
void dense_backward(const T* x, const T* w, const T* dy, T* dx, T* dw, T* db, int64_t n, int64_t in, int64_t out,
                    bool accumulate, cudaStream_t stream);

// Feature-major narrow layer: x (in, n), y (out, n) = act(w^T x + b[:, None]).
template <typename T>
void dense_forward_fm(const T* x, const T* w, const T* b, Activation act, T* y, int64_t n, int64_t in, int64_t out,
                      cudaStream_t stream);

// Feature-major backward with the activation folded in: dz = dy * act'(y) (y (out, n), unused for none),
// dw = x dz^T (in, out), db = dz summed over the batch when non-null, dx = w dz (in, n) when non-null.
template <typename T>
void dense_backward_fm(const T* x, const T* w, const T* y, Activation act, const T* dy, T* dx, T* dw, T* db,
                       int64_t n, int64_t in, int64_t out, cudaStream_t stream);

}  // namespace pydl::cuda
