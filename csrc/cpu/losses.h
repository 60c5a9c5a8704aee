// Loss kernels: each writes d(loss)/d(input) into grad and returns the mean loss, accumulated in
// double. Inputs are assumed valid (the bindings check them).
#pragma once
#include <cstdint>

namespace pydl {

template <typename T> double mse_loss(const T* pred, const T* target, T* grad, int64_t n);
template <typename T> double bce_loss(const T* prob, const T* target, T* grad, int64_t n, double eps);
template <typename T> double bce_with_logits_loss(const T* logits, const T* target, T* grad, int64_t n);
// Softmax cross-entropy over rows of an n x c matrix against integer labels or target rows.
template <typename T> double softmax_ce_labels(const T* logits, const int64_t* labels, T* grad, int64_t n, int64_t c);
template <typename T> double softmax_ce_rows(const T* logits, const T* target, T* grad, int64_t n, int64_t c);
// Binary cross-entropy of one sigmoid per class against one-hot rows built from integer labels.
template <typename T> double multi_bce_labels(const T* logits, const int64_t* labels, T* grad, int64_t n, int64_t c);

}  // namespace pydl
