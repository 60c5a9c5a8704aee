// Launchers of the value checks (value_checks.cu): the bindings run them before any write and copy
// the few numbers back, so the values of device arrays are checked where they live.
#pragma once
#include <cstdint>

#include "runtime.h"

namespace pydl::cuda {

// Device scratch a check needs: three numbers per block, doubles (int64s for labels).
constexpr int64_t kCheckWorkspace = 3 * kMaxBlocks;

// out[0] = 2 if x holds a NaN, else 1 if it holds an inf, else 0; out[1], out[2] = min and max of x
// (meaningful when out[0] is 0). Exact operations only, so the result never depends on the order.
template <typename T> void value_summary(const T* x, int64_t n, double* out, double* workspace, cudaStream_t stream);

// out[0] = the first index whose label lies outside [0, classes), or n if none; out[1] = that label.
void first_bad_label(const int64_t* labels, int64_t n, int64_t classes, int64_t* out, int64_t* workspace,
                     cudaStream_t stream);

}  // namespace pydl::cuda
