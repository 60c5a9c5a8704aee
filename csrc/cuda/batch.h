// Batch kernels on device memory: gathering a shuffled batch, counting correct predictions. The bindings
// validate; functions returning a value copy one scalar back (a synchronisation), the others only launch.
#pragma once
#include <cstdint>

#include "runtime.h"

namespace pydl::cuda {

// The first position i (count >= 1) with index[i] outside [0, rows), or -1; when found, *value (host)
// gets index[i], for the message.
int64_t first_index_out_of_range(const int64_t* index, int64_t count, int64_t rows, int64_t* value,
                                 cudaStream_t stream);
// y row i = x row index[i], rows of row_elems elements (E: float, double or int64_t); index in range;
// count * row_elems >= 1.
template <typename E>
void gather_rows(const E* x, const int64_t* index, E* y, int64_t count, int64_t row_elems, cudaStream_t stream);
// *counter (device) += rows of output (n >= 1, cols) predicting their label: the arg-max (first maximum,
// NaN counting as the maximum, as np.argmax) when cols > 1, else output > T(threshold) as class 1.
template <typename T>
void count_correct_into(const T* output, const int64_t* labels, int64_t n, int64_t cols, double threshold,
                        unsigned long long* counter, cudaStream_t stream);
// The same count from zero, copied back.
template <typename T>
int64_t count_correct(const T* output, const int64_t* labels, int64_t n, int64_t cols, double threshold,
                      cudaStream_t stream);

}  // namespace pydl::cuda
