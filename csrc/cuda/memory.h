// Element-wise helpers on device memory the backend needs outside the kernels: fill, clip, cast, and the
// value checks of the bindings (NaN / non-finite counts, copied back as one scalar).
#pragma once
#include <cstdint>

#include "runtime.h"

namespace pydl::cuda {

template <typename T>
void fill(T* a, int64_t n, T value, cudaStream_t stream);
template <typename T>
void clip(T* a, int64_t n, T low, T high, cudaStream_t stream);
template <typename From, typename To>
void cast(const From* src, To* dst, int64_t n, cudaStream_t stream);
// How many elements are NaN (finite_only=false) or not finite (true); synchronises to return it.
template <typename T>
int64_t count_bad(const T* a, int64_t n, bool finite_only, cudaStream_t stream);

}  // namespace pydl::cuda
