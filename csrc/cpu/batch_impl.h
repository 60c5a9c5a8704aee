// The one-column accuracy count, written once and compiled per instruction set: batch.cpp,
// batch_avx2.cpp and batch_avx512.cpp include this inside their own namespace (needs <cstdint>). Its
// compare against 64-bit labels vectorises only with AVX2's 64-bit integer compares.

template <typename T>
static int64_t count_above_impl(const T* output, const int64_t* labels, int64_t n, T threshold) {
  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i) correct += int64_t(output[i] > threshold) == labels[i];
  return correct;
}

int64_t count_above(const float* output, const int64_t* labels, int64_t n, float threshold) {
  return count_above_impl(output, labels, n, threshold);
}
int64_t count_above(const double* output, const int64_t* labels, int64_t n, double threshold) {
  return count_above_impl(output, labels, n, threshold);
}
