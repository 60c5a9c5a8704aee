#include "batch.h"

#include <cstring>

#include "cpu.h"
#include "parallel.h"

namespace pydl {

namespace generic {
#include "batch_impl.h"
}  // namespace generic

#ifdef PYDL_X86
#define PYDL_DECLARE_ISA(isa)                                                            \
  namespace isa {                                                                        \
  int64_t count_above(const float* output, const int64_t* labels, int64_t n, float th);  \
  int64_t count_above(const double* output, const int64_t* labels, int64_t n, double th); \
  }
PYDL_DECLARE_ISA(avx2)
PYDL_DECLARE_ISA(avx512)
#undef PYDL_DECLARE_ISA
#endif

template <typename T>
static int64_t count_above(const T* output, const int64_t* labels, int64_t n, T threshold) {
#ifdef PYDL_X86
  switch (simd_level()) {
    case SimdLevel::avx512: return avx512::count_above(output, labels, n, threshold);
    case SimdLevel::avx2: return avx2::count_above(output, labels, n, threshold);
    default: break;
  }
#endif
  return generic::count_above(output, labels, n, threshold);
}

// Bytes copied per thread below which one thread is faster.
constexpr int64_t kGatherGrainBytes = int64_t(1) << 17;

template <typename E>
void gather_rows(const E* src, const int64_t* index, E* dst, int64_t rows, int64_t row_elems) {
  const int64_t row_bytes = row_elems * int64_t(sizeof(E));
  parallel_for(rows, kGatherGrainBytes / row_bytes + 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) std::memcpy(dst + r * row_elems, src + index[r] * row_elems, row_bytes);
  });
}

template <typename T>
void gather_rows_transposed(const T* src, const int64_t* index, T* dst, int64_t rows, int64_t row_elems) {
  for (int64_t i = 0; i < rows; ++i) {
    const T* row = src + (index ? index[i] : i) * row_elems;
    for (int64_t k = 0; k < row_elems; ++k) dst[k * rows + i] = row[k];
  }
}

template <typename T>
static int64_t argmax_row(const T* row, int64_t cols) {
  int64_t best = 0;
  if (row[0] != row[0]) return 0;
  for (int64_t c = 1; c < cols; ++c) {
    if (row[c] != row[c]) return c;
    if (row[c] > row[best]) best = c;
  }
  return best;
}

template <typename T>
int64_t count_correct(const T* output, const int64_t* labels, int64_t n, int64_t cols, double threshold) {
  if (cols == 1) return count_above(output, labels, n, T(threshold));
  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i) correct += argmax_row(output + i * cols, cols) == labels[i];
  return correct;
}

template void gather_rows<float>(const float*, const int64_t*, float*, int64_t, int64_t);
template void gather_rows<double>(const double*, const int64_t*, double*, int64_t, int64_t);
template void gather_rows<int64_t>(const int64_t*, const int64_t*, int64_t*, int64_t, int64_t);
template void gather_rows_transposed<float>(const float*, const int64_t*, float*, int64_t, int64_t);
template void gather_rows_transposed<double>(const double*, const int64_t*, double*, int64_t, int64_t);
template int64_t count_correct<float>(const float*, const int64_t*, int64_t, int64_t, double);
template int64_t count_correct<double>(const double*, const int64_t*, int64_t, int64_t, double);

}  // namespace pydl
