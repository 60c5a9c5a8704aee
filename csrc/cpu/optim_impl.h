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

// In double as adam_loop below: the running mean of squared gradients goes subnormal.
template <typename T>
static bool rmsprop_loop(T* p, const T* grad, T* sq, T* buf, T* gavg, int64_t n, const RmspropConfig& c) {
  using W = double;
  const W lr = T(c.lr), alpha = T(c.alpha), eps = T(c.eps), wd = T(c.weight_decay), mu = T(c.momentum);
  int nan = 0;
  for (int64_t i = 0; i < n; ++i) {
    const W pi = p[i];
    W g = grad[i];
    nan |= g != g;
    g += wd * pi;
    const W si = alpha * W(sq[i]) + (W(1) - alpha) * g * g;
    sq[i] = T(si);
    W var = si;
    if (c.centered) {
      const W ai = alpha * W(gavg[i]) + (W(1) - alpha) * g;
      gavg[i] = T(ai);
      var -= ai * ai;
    }
    W step = g / (std::sqrt(var) + eps);
    if (c.momentum > 0) {
      step = mu * W(buf[i]) + step;
      buf[i] = T(step);
    }
    p[i] = T(pi - lr * step);
  }
  return nan != 0;
}

// In double: float32 state that a long training leaves subnormal makes every x86 float operation an assist.
template <typename T>
static bool adam_loop(T* p, const T* grad, T* m, T* v, int64_t n, const AdamConfig& c, T step_size,
                      T inv_sqrt_bc2) {
  using W = double;
  const W b1 = T(c.beta1), b2 = T(c.beta2), eps = T(c.eps), wd = T(c.weight_decay);
  const W shrink = T(1 - c.lr * c.decoupled_weight_decay);  // 1 for Adam: p * 1 is exactly p
  const W step = step_size, inv = inv_sqrt_bc2;
  int nan = 0;
  for (int64_t i = 0; i < n; ++i) {
    const W pi = p[i];
    W g = grad[i];
    nan |= g != g;
    g += wd * pi;
    const W mi = b1 * W(m[i]) + (W(1) - b1) * g;
    const W vi = b2 * W(v[i]) + (W(1) - b2) * g * g;
    m[i] = T(mi);
    v[i] = T(vi);
    p[i] = T(pi * shrink - step * mi / (std::sqrt(vi) * inv + eps));
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
