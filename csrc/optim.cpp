#include "optim.h"

#include <atomic>
#include <cmath>

#include "parallel.h"

namespace pydl {

// Updates touch each element a few times: below this many per thread, one thread is faster.
constexpr int64_t kOptimGrain = 1 << 15;

template <typename Body>
static bool chunked(int64_t n, Body body) {
  std::atomic<int> nan{0};
  parallel_for(n, kOptimGrain, [&](int64_t b, int64_t e) {
    if (body(b, e)) nan.fetch_or(1);
  });
  return nan.load() != 0;
}

template <typename T>
bool sgd_update(T* p, const T* grad, T* buf, int64_t n, const SgdConfig& c) {
  const T lr = T(c.lr), mu = T(c.momentum), damp = T(1 - c.dampening), wd = T(c.weight_decay);
  return chunked(n, [&](int64_t b, int64_t e) {
    int nan = 0;
    for (int64_t i = b; i < e; ++i) {
      T g = grad[i];
      nan |= g != g;
      g += wd * p[i];
      if (mu != T(0)) {
        T v = c.first_step ? g : mu * buf[i] + damp * g;
        buf[i] = v;
        g = c.nesterov ? g + mu * v : v;
      }
      p[i] -= lr * g;
    }
    return nan != 0;
  });
}

template <typename T>
bool rmsprop_update(T* p, const T* grad, T* sq, T* buf, T* gavg, int64_t n, const RmspropConfig& c) {
  const T lr = T(c.lr), alpha = T(c.alpha), eps = T(c.eps), wd = T(c.weight_decay), mu = T(c.momentum);
  return chunked(n, [&](int64_t b, int64_t e) {
    int nan = 0;
    for (int64_t i = b; i < e; ++i) {
      T g = grad[i];
      nan |= g != g;
      g += wd * p[i];
      sq[i] = alpha * sq[i] + (T(1) - alpha) * g * g;
      T var = sq[i];
      if (c.centered) {
        gavg[i] = alpha * gavg[i] + (T(1) - alpha) * g;
        var -= gavg[i] * gavg[i];
      }
      T step = g / (std::sqrt(var) + eps);
      if (mu > T(0)) {
        buf[i] = mu * buf[i] + step;
        step = buf[i];
      }
      p[i] -= lr * step;
    }
    return nan != 0;
  });
}

template <typename T>
bool adam_update(T* p, const T* grad, T* m, T* v, int64_t n, const AdamConfig& c) {
  const T b1 = T(c.beta1), b2 = T(c.beta2), eps = T(c.eps), wd = T(c.weight_decay);
  const T step_size = T(c.lr / (1 - std::pow(c.beta1, double(c.step))));
  const T inv_sqrt_bc2 = T(1 / std::sqrt(1 - std::pow(c.beta2, double(c.step))));
  return chunked(n, [&](int64_t b, int64_t e) {
    int nan = 0;
    for (int64_t i = b; i < e; ++i) {
      T g = grad[i];
      nan |= g != g;
      g += wd * p[i];
      m[i] = b1 * m[i] + (T(1) - b1) * g;
      v[i] = b2 * v[i] + (T(1) - b2) * g * g;
      p[i] -= step_size * m[i] / (std::sqrt(v[i]) * inv_sqrt_bc2 + eps);
    }
    return nan != 0;
  });
}

template bool sgd_update<float>(float*, const float*, float*, int64_t, const SgdConfig&);
template bool sgd_update<double>(double*, const double*, double*, int64_t, const SgdConfig&);
template bool rmsprop_update<float>(float*, const float*, float*, float*, float*, int64_t, const RmspropConfig&);
template bool rmsprop_update<double>(double*, const double*, double*, double*, double*, int64_t,
                                     const RmspropConfig&);
template bool adam_update<float>(float*, const float*, float*, float*, int64_t, const AdamConfig&);
template bool adam_update<double>(double*, const double*, double*, double*, int64_t, const AdamConfig&);

}  // namespace pydl
