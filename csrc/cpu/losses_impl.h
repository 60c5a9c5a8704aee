// BCE's loop, written once and compiled per instruction set: losses.cpp, losses_avx2.cpp and
// losses_avx512.cpp each include this inside their own namespace (needs <algorithm> and <cstdint>
// included before). The per-element terms go through vmath.h's vlog so the loop vectorises; they are
// summed in kLossLanes lanes (lane j takes elements j, j + kLossLanes, ... in order) then the lanes in
// order, a fixed order that no instruction set or thread count changes, and the files compile with
// -ffp-contract=off, so every SIMD level gives the same bits.
#include "vmath.h"

static constexpr int64_t kLossBlock = 256;  // a multiple of kLossLanes
static constexpr int kLossLanes = 8;

template <typename T>
static double bce_loss_impl(const T* prob, const T* target, T* grad, int64_t n, double eps) {
  // Clip in the input's precision, as the NumPy reference does: 1 - eps rounds differently in float32.
  const T lo = T(eps), hi = T(1) - T(eps);
  const double inv_n = 1.0 / double(n);
  // The one-log form below also needs both logs finite (an eps that rounds to 0 or 1 leaves 0 * -inf = NaN).
  const bool inside = lo > T(0) && hi < T(1);
  double terms[kLossBlock];
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
        const T pc = std::min(std::max(pb[i], lo), hi);
        const double p = double(pc), t = double(tb[i]);
        double lp, lq;
        vlog_pair(p, 1 - p, &lp, &lq);
        terms[i] = t * lp + (1 - t) * lq;
        gb[i] = T((p - t) / (p * (1 - p)) * inv_n);
      }
    } else {
      // With 0/1 targets one log does: t p + (1 - t)(1 - p) is exactly p or 1 - p.
      for (int64_t i = 0; i < m; ++i) {
        const T pc = std::min(std::max(pb[i], lo), hi);
        const double p = double(pc), t = double(tb[i]);
        terms[i] = vlog(t * p + (1 - t) * (1 - p));
        gb[i] = T((p - t) / (p * (1 - p)) * inv_n);
      }
    }
    int64_t i = 0;
    for (; i + kLossLanes <= m; i += kLossLanes)
      for (int j = 0; j < kLossLanes; ++j) lane[j] += terms[i + j];
    for (int j = 0; i < m; ++i, ++j) lane[j] += terms[i];  // the last block's tail
  }
  double sum = 0;
  for (int j = 0; j < kLossLanes; ++j) sum += lane[j];
  return -sum * inv_n;
}

double bce_loss(const float* prob, const float* target, float* grad, int64_t n, double eps) {
  return bce_loss_impl(prob, target, grad, n, eps);
}
double bce_loss(const double* prob, const double* target, double* grad, int64_t n, double eps) {
  return bce_loss_impl(prob, target, grad, n, eps);
}
