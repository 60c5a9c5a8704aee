// Loss kernels. BCE's loop (losses_impl.h) is compiled per instruction set, like the activations,
// and chosen at run time; the others are plain loops here.
#include "losses.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "cpu.h"

namespace pydl {

namespace generic {
#include "losses_impl.h"
}  // namespace generic

#ifdef PYDL_X86
#define PYDL_DECLARE_ISA(isa)                                                                     \
  namespace isa {                                                                                 \
  double bce_loss(const float* prob, const float* target, float* grad, int64_t n, double eps);    \
  double bce_loss(const double* prob, const double* target, double* grad, int64_t n, double eps); \
  }
PYDL_DECLARE_ISA(avx2)
PYDL_DECLARE_ISA(avx512)
#undef PYDL_DECLARE_ISA
#define PYDL_LOSS_DISPATCH(loop, ...)                          \
  switch (simd_level()) {                                      \
    case SimdLevel::avx512: return avx512::loop(__VA_ARGS__);  \
    case SimdLevel::avx2: return avx2::loop(__VA_ARGS__);      \
    default: return generic::loop(__VA_ARGS__);                \
  }
#else
#define PYDL_LOSS_DISPATCH(loop, ...) return generic::loop(__VA_ARGS__);
#endif

template <typename T>
double mse_loss(const T* pred, const T* target, T* grad, int64_t n) {
  double sum = 0, scale = 2.0 / double(n);
  for (int64_t i = 0; i < n; ++i) {
    double d = double(pred[i]) - double(target[i]);
    sum += d * d;
    grad[i] = T(scale * d);
  }
  return sum / double(n);
}

template <typename T>
double bce_loss(const T* prob, const T* target, T* grad, int64_t n, double eps) {
  PYDL_LOSS_DISPATCH(bce_loss, prob, target, grad, n, eps)
}

// log(1 + exp(-|z|)) + max(z, 0) - z t never overflows; the gradient is sigmoid(z) - t.
static inline double bce_logit_term(double z, double t, double* sig) {
  double e = std::exp(-std::fabs(z));
  *sig = z >= 0 ? 1 / (1 + e) : e / (1 + e);
  return std::max(z, 0.0) - z * t + std::log1p(e);
}

template <typename T>
double bce_with_logits_loss(const T* logits, const T* target, T* grad, int64_t n) {
  double sum = 0, inv_n = 1.0 / double(n), sig;
  for (int64_t i = 0; i < n; ++i) {
    double t = double(target[i]);
    sum += bce_logit_term(double(logits[i]), t, &sig);
    grad[i] = T((sig - t) * inv_n);
  }
  return sum * inv_n;
}

// Writes softmax(row) into g; returns the row's maximum and log(sum(exp(row - max))). The loss is
// then taken from (z - max) - log_sum, never from (log_sum + max) - z, whose rounding at |z| ~ 1e16
// swallows the log_sum entirely.
struct RowLogits {
  double mx, log_sum;
};

template <typename T>
static RowLogits softmax_row(const T* z, T* g, int64_t c) {
  double mx = double(z[0]);
  for (int64_t j = 1; j < c; ++j) mx = std::max(mx, double(z[j]));
  double sum = 0;
  for (int64_t j = 0; j < c; ++j) sum += std::exp(double(z[j]) - mx);
  double inv = 1 / sum;
  for (int64_t j = 0; j < c; ++j) g[j] = T(std::exp(double(z[j]) - mx) * inv);
  return {mx, std::log(sum)};
}

template <typename T>
double softmax_ce_labels(const T* logits, const int64_t* labels, T* grad, int64_t n, int64_t c) {
  double loss = 0, inv_n = 1.0 / double(n);
  for (int64_t i = 0; i < n; ++i) {
    const T* z = logits + i * c;
    T* g = grad + i * c;
    const double target_logit = double(z[labels[i]]);
    const RowLogits r = softmax_row(z, g, c);
    loss += r.log_sum - (target_logit - r.mx);
    for (int64_t j = 0; j < c; ++j) g[j] = T(double(g[j]) * inv_n);
    g[labels[i]] -= T(inv_n);
  }
  return loss * inv_n;
}

template <typename T>
double softmax_ce_rows(const T* logits, const T* target, T* grad, int64_t n, int64_t c) {
  double loss = 0, inv_n = 1.0 / double(n);
  for (int64_t i = 0; i < n; ++i) {
    const T* z = logits + i * c;
    const T* t = target + i * c;
    T* g = grad + i * c;
    const RowLogits r = softmax_row(z, g, c);
    double t_sum = 0;
    for (int64_t j = 0; j < c; ++j) {
      // A zero target contributes nothing, even where the log-probability underflows to -inf.
      if (t[j] != T(0)) loss -= double(t[j]) * ((double(z[j]) - r.mx) - r.log_sum);
      t_sum += double(t[j]);
    }
    // d/dz of -sum_j t_j log p_j is p * sum(t) - t: equal to p - t when the targets sum to one.
    for (int64_t j = 0; j < c; ++j) g[j] = T((double(g[j]) * t_sum - double(t[j])) * inv_n);
  }
  return loss * inv_n;
}

template <typename T>
double multi_bce_labels(const T* logits, const int64_t* labels, T* grad, int64_t n, int64_t c) {
  double sum = 0, inv = 1.0 / double(n * c), sig;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < c; ++j) {
      double t = labels[i] == j ? 1.0 : 0.0;
      sum += bce_logit_term(double(logits[i * c + j]), t, &sig);
      grad[i * c + j] = T((sig - t) * inv);
    }
  }
  return sum * inv;
}

#define PYDL_INSTANTIATE(T)                                                                    \
  template double mse_loss<T>(const T*, const T*, T*, int64_t);                                \
  template double bce_loss<T>(const T*, const T*, T*, int64_t, double);                        \
  template double bce_with_logits_loss<T>(const T*, const T*, T*, int64_t);                    \
  template double softmax_ce_labels<T>(const T*, const int64_t*, T*, int64_t, int64_t);        \
  template double softmax_ce_rows<T>(const T*, const T*, T*, int64_t, int64_t);                \
  template double multi_bce_labels<T>(const T*, const int64_t*, T*, int64_t, int64_t);
PYDL_INSTANTIATE(float)
PYDL_INSTANTIATE(double)

}  // namespace pydl
