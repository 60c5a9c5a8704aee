// BCE's loop, written once and compiled per instruction set: losses.cpp, losses_avx2.cpp and
// losses_avx512.cpp each include this inside their own namespace (needs <algorithm>, <cstdint> and <limits>
// included before). The per-element terms go through vmath.h's vlog so the loop vectorises; they are
// summed in double in kLossLanes lanes (lane j takes elements j, j + kLossLanes, ... in order) then the lanes in
// order, a fixed order that no instruction set or thread count changes, and the files compile with
// -ffp-contract=off, so every SIMD level gives the same bits.
#include "vmath.h"

static constexpr int64_t kLossBlock = 256;  // a multiple of kLossLanes
static constexpr int kLossLanes = 16;

// Each term and gradient in the input's precision T (float32 BCE never touches double but in the sum);
// the terms are summed in double. The formulas, element by element (pydl/reference/losses.py says the same):
//   p = clip(prob, T(eps), 1 - T(eps)), n the element count, inv_n = T(1 / n),
//   target 0 or 1 ("hard"): term log q with q = t p + (1 - t)(1 - p) (exactly p or 1 - p),
//                           grad ((1 - 2t) inv_n) / q (exactly -inv_n / p or inv_n / (1 - p), one rounding);
//   other targets:          term t log p + (1 - t) log(1 - p), grad (p - t) / (p (1 - p)) * inv_n.
// The hard form also needs both clip bounds inside (0, 1): an eps that rounds to 0 or 1 in T leaves a log
// of 0 and the general form's 0 * -inf = NaN, which the reference gives too.
// vlog, or for float input known to be normal its core without the subnormal and zero handling (the
// same values there; ~10 of the hard loop's ~55 instructions a vector).
template <bool Normal, typename T>
static inline T log_of(T x) {
  if constexpr (Normal && sizeof(T) == sizeof(float)) {
    return vlog_normal(x);
  } else {
    return vlog(x);
  }
}

// The terms and gradient of a block whose targets are all 0 or 1.
template <bool Normal, typename T>
static void bce_hard_block(const T* pb, const T* tb, T* gb, T* terms, int64_t m, T lo, T hi, T inv_n) {
  for (int64_t i = 0; i < m; ++i) {
    const T p = std::min(std::max(pb[i], lo), hi), t = tb[i];
    const T q = t * p + (1 - t) * (1 - p);
    terms[i] = log_of<Normal>(q);
    gb[i] = ((1 - 2 * t) * inv_n) / q;
  }
}

template <typename T>
static double bce_loss_impl(const T* prob, const T* target, T* grad, int64_t n, double eps) {
  // Clip in the input's precision, as the NumPy reference does: 1 - eps rounds differently in float32.
  const T lo = T(eps), hi = T(1) - T(eps);
  const T inv_n = T(1.0 / double(n));
  const bool inside = lo > T(0) && hi < T(1);
  // Then p and 1 - p are normal too when lo is (1 - hi is at least 2^-24 in float).
  const bool normal = inside && lo >= std::numeric_limits<T>::min();
  T terms[kLossBlock];
  double lane[kLossLanes] = {};
  for (int64_t i0 = 0; i0 < n; i0 += kLossBlock) {
    const int64_t m = std::min(kLossBlock, n - i0);
    const T* pb = prob + i0;
    const T* tb = target + i0;
    T* gb = grad + i0;
    int soft = !inside;  // or a target other than 0 and 1 in this block
    for (int64_t i = 0; i < m; ++i) soft |= (tb[i] != T(0)) & (tb[i] != T(1));
    if (soft) {
      for (int64_t i = 0; i < m; ++i) {
        const T p = std::min(std::max(pb[i], lo), hi), t = tb[i];
        T lp, lq;
        vlog_pair(p, 1 - p, &lp, &lq);
        // For a hard target with both logs finite this is exactly the log of q (1 lp + 0 lq).
        terms[i] = t * lp + (1 - t) * lq;
        const bool hard = inside & ((t == T(0)) | (t == T(1)));
        gb[i] = hard ? ((1 - 2 * t) * inv_n) / (t * p + (1 - t) * (1 - p)) : (p - t) / (p * (1 - p)) * inv_n;
      }
    } else if (normal) {
      bce_hard_block<true>(pb, tb, gb, terms, m, lo, hi, inv_n);
    } else {
      bce_hard_block<false>(pb, tb, gb, terms, m, lo, hi, inv_n);
    }
    int64_t i = 0;
    for (; i + kLossLanes <= m; i += kLossLanes)
      for (int j = 0; j < kLossLanes; ++j) lane[j] += double(terms[i + j]);
    for (int j = 0; i < m; ++i, ++j) lane[j] += double(terms[i]);  // the last block's tail
  }
  double sum = 0;
  for (int j = 0; j < kLossLanes; ++j) sum += lane[j];
  return -sum / double(n);
}

double bce_loss(const float* prob, const float* target, float* grad, int64_t n, double eps) {
  return bce_loss_impl(prob, target, grad, n, eps);
}
double bce_loss(const double* prob, const double* target, double* grad, int64_t n, double eps) {
  return bce_loss_impl(prob, target, grad, n, eps);
}
