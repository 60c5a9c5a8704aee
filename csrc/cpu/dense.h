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

// Narrow layers (the reports' toy networks) run as plain loops instead of GEMMs, whose packing costs
// more than the product at these sizes; dense_narrow_impl.h says how their sums are ordered.
constexpr int64_t kNarrowIn = 4, kNarrowOut = 8;
inline bool is_narrow(int64_t in, int64_t out) { return in <= kNarrowIn && out <= kNarrowOut; }

// A narrow layer in either layout. Row-major (fm false): x (n, in), y (n, out) as above. Feature-major
// (fm true): x (in, ldx), of which columns [0, n) are the batch, y (out, n). Same results either way.
template <typename T>
void dense_narrow_forward(bool fm, const T* x, int64_t ldx, const T* w, const T* b, Activation act, T* y, int64_t n,
                          int64_t in, int64_t out);
// dz = dy times the derivative of act at the forward output y (y unused for none), then dw = x^T dz,
// db = dz summed over the batch when non-null, dx = dz w^T when non-null; layouts as in forward (dy, dx:
// feature-major (out, n), (in, n)). accumulate adds into dw and db.
template <typename T>
void dense_narrow_backward(bool fm, const T* x, int64_t ldx, const T* w, const T* y, Activation act, const T* dy, T* dx,
                           T* dw, T* db, int64_t n, int64_t in, int64_t out, bool accumulate);

}  // namespace pydl
