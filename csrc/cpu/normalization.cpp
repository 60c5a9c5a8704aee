#include "normalization.h"

#include <cmath>
#include <vector>

#include "parallel.h"

namespace pydl {

namespace {

// A channel's passes read its n * l values a few times: below this many values per thread, one is faster.
constexpr int64_t kNormGrain = 1 << 15;

int64_t channels_per_thread(const NormShape& s) {
  const int64_t m = s.n * s.l;
  return m >= kNormGrain ? 1 : kNormGrain / m;
}

// Calls f(value&) ... over channel ch's values in a fixed order (sample by sample).
template <typename T, typename F>
void each(const NormShape& s, const T* x, int64_t ch, F f) {
  for (int64_t i = 0; i < s.n; ++i) {
    const T* p = x + (i * s.c + ch) * s.l;
    for (int64_t j = 0; j < s.l; ++j) f(i * s.c * s.l + ch * s.l + j, p[j]);
  }
}

template <typename T>
void normalize(const NormShape& s, const T* x, int64_t ch, double mean, double invstd, double gamma, double beta,
               T* y) {
  each(s, x, ch, [&](int64_t k, T v) { y[k] = T((double(v) - mean) * invstd * gamma + beta); });
}

// Channels [c0, c1) of (n, c) input (l == 1), row by row so the inner loop runs over contiguous channels
// and vectorises; each channel still sums its values sample by sample, as `each` does.
template <typename T>
void train_rows(const NormShape& s, int64_t c0, int64_t c1, const T* x, const T* gamma, const T* beta,
                T* running_mean, T* running_var, T* y, T* mean, T* invstd, double momentum, double eps) {
  const int64_t w = c1 - c0;
  const double m = double(s.n);
  std::vector<double> sum(w, 0.0), sq(w, 0.0), a(w), b(w), mu(w);
  for (int64_t i = 0; i < s.n; ++i) {
    const T* row = x + i * s.c + c0;
    for (int64_t k = 0; k < w; ++k) sum[k] += double(row[k]);
  }
  for (int64_t k = 0; k < w; ++k) mu[k] = sum[k] / m;
  for (int64_t i = 0; i < s.n; ++i) {
    const T* row = x + i * s.c + c0;
    for (int64_t k = 0; k < w; ++k) {
      const double d = double(row[k]) - mu[k];
      sq[k] += d * d;
    }
  }
  for (int64_t k = 0; k < w; ++k) {
    const int64_t ch = c0 + k;
    mean[ch] = T(mu[k]);
    invstd[ch] = T(1.0 / std::sqrt(sq[k] / m + eps));
    running_mean[ch] = T(momentum * mu[k] + (1 - momentum) * double(running_mean[ch]));
    running_var[ch] = T(momentum * (sq[k] / (m - 1)) + (1 - momentum) * double(running_var[ch]));
    mu[k] = double(mean[ch]);
    a[k] = double(invstd[ch]);
    b[k] = double(gamma[ch]);
    sum[k] = double(beta[ch]);
  }
  for (int64_t i = 0; i < s.n; ++i) {
    const T* row = x + i * s.c + c0;
    T* out = y + i * s.c + c0;
    for (int64_t k = 0; k < w; ++k) out[k] = T((double(row[k]) - mu[k]) * a[k] * b[k] + sum[k]);
  }
}

template <typename T>
void backward_rows(const NormShape& s, int64_t c0, int64_t c1, const T* x, const T* gamma, const T* dy,
                   const T* mean, const T* invstd, T* dx, T* dgamma, T* dbeta) {
  const int64_t w = c1 - c0;
  const double m = double(s.n);
  std::vector<double> sum_dy(w, 0.0), dot(w, 0.0), mu(w), mean_dy(w), proj(w), scale(w);
  for (int64_t k = 0; k < w; ++k) mu[k] = double(mean[c0 + k]);
  for (int64_t i = 0; i < s.n; ++i) {
    const T* row = x + i * s.c + c0;
    const T* g = dy + i * s.c + c0;
    for (int64_t k = 0; k < w; ++k) {
      sum_dy[k] += double(g[k]);
      dot[k] += (double(row[k]) - mu[k]) * double(g[k]);
    }
  }
  for (int64_t k = 0; k < w; ++k) {
    const double inv = double(invstd[c0 + k]);
    dgamma[c0 + k] = T(dot[k] * inv);
    dbeta[c0 + k] = T(sum_dy[k]);
    mean_dy[k] = sum_dy[k] / m;
    proj[k] = dot[k] * inv * inv / m;
    scale[k] = inv * double(gamma[c0 + k]);
  }
  if (!dx) return;
  for (int64_t i = 0; i < s.n; ++i) {
    const T* row = x + i * s.c + c0;
    const T* g = dy + i * s.c + c0;
    T* out = dx + i * s.c + c0;
    for (int64_t k = 0; k < w; ++k) out[k] = T((double(g[k]) - mean_dy[k] - (double(row[k]) - mu[k]) * proj[k]) * scale[k]);
  }
}

}  // namespace

template <typename T>
void batch_norm_train(const NormShape& s, const T* x, const T* gamma, const T* beta, T* running_mean, T* running_var,
                      T* y, T* mean, T* invstd, double momentum, double eps) {
  const double m = double(s.n * s.l);
  parallel_for(s.c, channels_per_thread(s), [&](int64_t c0, int64_t c1) {
    if (s.l == 1) return train_rows(s, c0, c1, x, gamma, beta, running_mean, running_var, y, mean, invstd, momentum, eps);
    for (int64_t ch = c0; ch < c1; ++ch) {
      double sum = 0, sq = 0;
      each(s, x, ch, [&](int64_t, T v) { sum += double(v); });
      const double mu = sum / m;
      each(s, x, ch, [&](int64_t, T v) { sq += (double(v) - mu) * (double(v) - mu); });
      const double var = sq / m, inv = 1.0 / std::sqrt(var + eps);
      mean[ch] = T(mu);
      invstd[ch] = T(inv);
      running_mean[ch] = T(momentum * mu + (1 - momentum) * double(running_mean[ch]));
      running_var[ch] = T(momentum * (sq / (m - 1)) + (1 - momentum) * double(running_var[ch]));
      // The saved (rounded) statistics, so backward works from exactly what forward used.
      normalize(s, x, ch, double(mean[ch]), double(invstd[ch]), double(gamma[ch]), double(beta[ch]), y);
    }
  });
}

template <typename T>
void batch_norm_eval(const NormShape& s, const T* x, const T* gamma, const T* beta, const T* running_mean,
                     const T* running_var, T* y, double eps) {
  parallel_for(s.c, channels_per_thread(s), [&](int64_t c0, int64_t c1) {
    for (int64_t ch = c0; ch < c1; ++ch) {
      const double inv = 1.0 / std::sqrt(double(running_var[ch]) + eps);
      normalize(s, x, ch, double(running_mean[ch]), inv, double(gamma[ch]), double(beta[ch]), y);
    }
  });
}

template <typename T>
void batch_norm_backward(const NormShape& s, const T* x, const T* gamma, const T* dy, const T* mean, const T* invstd,
                         T* dx, T* dgamma, T* dbeta) {
  const double m = double(s.n * s.l);
  parallel_for(s.c, channels_per_thread(s), [&](int64_t c0, int64_t c1) {
    if (s.l == 1) return backward_rows(s, c0, c1, x, gamma, dy, mean, invstd, dx, dgamma, dbeta);
    for (int64_t ch = c0; ch < c1; ++ch) {
      const double mu = double(mean[ch]), inv = double(invstd[ch]);
      double sum_dy = 0, dot = 0;
      each(s, x, ch, [&](int64_t k, T v) {
        sum_dy += double(dy[k]);
        dot += (double(v) - mu) * double(dy[k]);
      });
      dgamma[ch] = T(dot * inv);
      dbeta[ch] = T(sum_dy);
      if (!dx) continue;
      // PyTorch's form: dx = (dy - mean(dy) - (x - mean) * dot * invstd^2 / m) * invstd * gamma.
      const double mean_dy = sum_dy / m, proj = dot * inv * inv / m, scale = inv * double(gamma[ch]);
      each(s, x, ch, [&](int64_t k, T v) { dx[k] = T((double(dy[k]) - mean_dy - (double(v) - mu) * proj) * scale); });
    }
  });
}

#define PYDL_INSTANTIATE(T)                                                                                   \
  template void batch_norm_train<T>(const NormShape&, const T*, const T*, const T*, T*, T*, T*, T*, T*, double, \
                                    double);                                                                  \
  template void batch_norm_eval<T>(const NormShape&, const T*, const T*, const T*, const T*, const T*, T*, double); \
  template void batch_norm_backward<T>(const NormShape&, const T*, const T*, const T*, const T*, const T*, T*, T*, \
                                       T*);
PYDL_INSTANTIATE(float)
PYDL_INSTANTIATE(double)
#undef PYDL_INSTANTIATE

}  // namespace pydl
