// The optimizer update loops, written once and compiled per instruction set: optim.cpp,
// optim_avx2.cpp and optim_avx512.cpp include this inside their own namespace (see cpu.h).
// Loop-invariant settings are hoisted into separate loops so each one vectorises.

template <typename T>
static bool sgd_loop(T* p, const T* grad, T* buf, int64_t n, const SgdConfig& c) {
  const T lr = T(c.lr), mu = T(c.momentum), damp = T(1 - c.dampening), wd = T(c.weight_decay);
  int nan = 0;
  if (c.momentum == 0) {
    for (int64_t i = 0; i < n; ++i) {
      T g = grad[i];
      nan |= g != g;
      p[i] -= lr * (g + wd * p[i]);
    }
    return nan != 0;
  }
  const T keep = c.first_step ? T(0) : mu, add = c.first_step ? T(1) : damp;  // buf = g on the first step
  const T look_ahead = c.nesterov ? mu : T(0);
  for (int64_t i = 0; i < n; ++i) {
    T g = grad[i];
    nan |= g != g;
    g += wd * p[i];
    T v = keep * buf[i] + add * g;
    buf[i] = v;
    p[i] -= lr * (c.nesterov ? g + look_ahead * v : v);
  }
  return nan != 0;
}

template <typename T>
static bool rmsprop_loop(T* p, const T* grad, T* sq, T* buf, T* gavg, int64_t n, const RmspropConfig& c) {
  const T lr = T(c.lr), alpha = T(c.alpha), eps = T(c.eps), wd = T(c.weight_decay), mu = T(c.momentum);
  int nan = 0;
  for (int64_t i = 0; i < n; ++i) {
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
    if (c.momentum > 0) {
      buf[i] = mu * buf[i] + step;
      step = buf[i];
    }
    p[i] -= lr * step;
  }
  return nan != 0;
}

template <typename T>
static bool adam_loop(T* p, const T* grad, T* m, T* v, int64_t n, const AdamConfig& c, T step_size,
                      T inv_sqrt_bc2) {
  const T b1 = T(c.beta1), b2 = T(c.beta2), eps = T(c.eps), wd = T(c.weight_decay);
  const T shrink = T(1 - c.lr * c.decoupled_weight_decay);  // 1 for Adam: p * 1 is exactly p
  int nan = 0;
  for (int64_t i = 0; i < n; ++i) {
    T g = grad[i];
    nan |= g != g;
    g += wd * p[i];
    m[i] = b1 * m[i] + (T(1) - b1) * g;
    v[i] = b2 * v[i] + (T(1) - b2) * g * g;
    p[i] = p[i] * shrink - step_size * m[i] / (std::sqrt(v[i]) * inv_sqrt_bc2 + eps);
  }
  return nan != 0;
}

// The entry points optim.cpp dispatches to, one set per instruction set.
#define PYDL_OPTIM_ENTRY(T)                                                                                 \
  bool sgd(T* p, const T* g, T* buf, int64_t n, const SgdConfig& c) { return sgd_loop(p, g, buf, n, c); }   \
  bool rmsprop(T* p, const T* g, T* sq, T* buf, T* ga, int64_t n, const RmspropConfig& c) {                 \
    return rmsprop_loop(p, g, sq, buf, ga, n, c);                                                           \
  }                                                                                                         \
  bool adam(T* p, const T* g, T* m, T* v, int64_t n, const AdamConfig& c, T step_size, T inv_sqrt_bc2) {    \
    return adam_loop(p, g, m, v, n, c, step_size, inv_sqrt_bc2);                                            \
  }
PYDL_OPTIM_ENTRY(float)
PYDL_OPTIM_ENTRY(double)
#undef PYDL_OPTIM_ENTRY
