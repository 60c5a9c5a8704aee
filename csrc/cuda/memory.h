// Element-wise helpers on device memory the backend needs outside the kernels: fill, clip, cast.
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

}  // namespace pydl::cuda
