// Batch kernels of the training loop: gathering a shuffled batch and counting correct predictions.
#pragma once
#include <cstdint>

namespace pydl {

// dst row i = src row index[i], rows of row_elems elements (E: float, double or int64_t). index is in range.
template <typename E>
void gather_rows(const E* src, const int64_t* index, E* dst, int64_t rows, int64_t row_elems);

// The same rows transposed: dst (row_elems, rows), dst[k * rows + i] = element k of src row index[i], or
// of src row i without index.
template <typename T>
void gather_rows_transposed(const T* src, const int64_t* index, T* dst, int64_t rows, int64_t row_elems);

// Predictions equal to labels among n rows of `cols` outputs: the arg-max (first maximum, NaN counting as
// the maximum, as np.argmax) when cols > 1, else output > threshold (1) or not (0).
template <typename T>
int64_t count_correct(const T* output, const int64_t* labels, int64_t n, int64_t cols, double threshold);

}  // namespace pydl
