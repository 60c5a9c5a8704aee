// Optimizer updates, float32 and float64, one thread per element (grid-stride), in place. The
// settings are turned into T once on the host, as the CPU loops (cpu/optim_impl.h) do, so both
// devices compute each element with the same operations.
//   sgd_kernel      param, grad, momentum_buf (n; buf unused without momentum)
//   rmsprop_kernel  param, grad, square_avg, momentum_buf, grad_avg (n; the last two optional)
//   adam_kernel     param, grad, exp_avg, exp_avg_sq (n)
#include "runtime.h"

#include <cmath>

#include "device_math.h"
#include "optim.h"

namespace pydl::cuda {
namespace {

// keep and add make the first step's buf = g and later ones momentum*buf + (1-dampening)*g.
template <typename T>
__global__ void sgd_kernel(T* __restrict__ p, const T* __restrict__ grad, T* __restrict__ buf, int64_t n, T lr,
                           T wd, bool momentum, T keep, T add, bool nesterov, T mu) {
  for (int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x; i < n; i += int64_t(gridDim.x) * kThreads) {
    if (!momentum) {
      p[i] -= lr * (grad[i] + wd * p[i]);
      continue;
    }
    const T g = grad[i] + wd * p[i];
    const T v = keep * buf[i] + add * g;
    buf[i] = v;
    p[i] -= lr * (nesterov ? g + mu * v : v);
  }
}

template <typename T>
__global__ void rmsprop_kernel(T* __restrict__ p, const T* __restrict__ grad, T* __restrict__ sq,
                               T* __restrict__ buf, T* __restrict__ gavg, int64_t n, T lr, T alpha, T eps, T wd,
                               T mu, bool momentum, bool centered) {
  for (int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x; i < n; i += int64_t(gridDim.x) * kThreads) {
    const T g = grad[i] + wd * p[i];
    sq[i] = alpha * sq[i] + (T(1) - alpha) * g * g;
    T var = sq[i];
    if (centered) {
      gavg[i] = alpha * gavg[i] + (T(1) - alpha) * g;
      var -= gavg[i] * gavg[i];
    }
    T step = g / (dsqrt(var) + eps);
    if (momentum) {
      buf[i] = mu * buf[i] + step;
      step = buf[i];
    }
    p[i] -= lr * step;
  }
}

// shrink is AdamW's 1 - lr * decoupled_weight_decay (1 for Adam: p * 1 is exactly p).
template <typename T>
__global__ void adam_kernel(T* __restrict__ p, const T* __restrict__ grad, T* __restrict__ m, T* __restrict__ v,
                            int64_t n, T b1, T b2, T eps, T wd, T shrink, T step_size, T inv_sqrt_bc2) {
  for (int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x; i < n; i += int64_t(gridDim.x) * kThreads) {
    const T g = grad[i] + wd * p[i];
    m[i] = b1 * m[i] + (T(1) - b1) * g;
    v[i] = b2 * v[i] + (T(1) - b2) * g * g;
    p[i] = p[i] * shrink - step_size * m[i] / (dsqrt(v[i]) * inv_sqrt_bc2 + eps);
  }
}

}  // namespace

template <typename T>
void sgd_step(T* param, const T* grad, T* momentum_buf, int64_t n, const SgdConfig& c, cudaStream_t stream) {
  const bool momentum = c.momentum != 0;
  const T keep = c.first_step ? T(0) : T(c.momentum), add = c.first_step ? T(1) : T(1 - c.dampening);
  PYDL_LAUNCH(sgd_kernel<T>, grid_for(n), kThreads, stream, param, grad, momentum_buf, n, T(c.lr),
              T(c.weight_decay), momentum, keep, add, c.nesterov, T(c.momentum));
}

template <typename T>
void rmsprop_step(T* param, const T* grad, T* square_avg, T* momentum_buf, T* grad_avg, int64_t n,
                  const RmspropConfig& c, cudaStream_t stream) {
  PYDL_LAUNCH(rmsprop_kernel<T>, grid_for(n), kThreads, stream, param, grad, square_avg, momentum_buf, grad_avg, n,
              T(c.lr), T(c.alpha), T(c.eps), T(c.weight_decay), T(c.momentum), c.momentum > 0, c.centered);
}

template <typename T>
void adam_step(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, int64_t n, const AdamConfig& c,
               cudaStream_t stream) {
  const T step_size = T(c.lr / (1 - std::pow(c.beta1, double(c.step))));
  const T inv_sqrt_bc2 = T(1 / std::sqrt(1 - std::pow(c.beta2, double(c.step))));
  const T shrink = T(1 - c.lr * c.decoupled_weight_decay);
  PYDL_LAUNCH(adam_kernel<T>, grid_for(n), kThreads, stream, param, grad, exp_avg, exp_avg_sq, n, T(c.beta1),
              T(c.beta2), T(c.eps), T(c.weight_decay), shrink, step_size, inv_sqrt_bc2);
}

#define PYDL_INSTANTIATE(T)                                                                                   \
  template void sgd_step<T>(T*, const T*, T*, int64_t, const SgdConfig&, cudaStream_t);                             \
  template void rmsprop_step<T>(T*, const T*, T*, T*, T*, int64_t, const RmspropConfig&, cudaStream_t);             \
  template void adam_step<T>(T*, const T*, T*, T*, int64_t, const AdamConfig&, cudaStream_t);
PYDL_INSTANTIATE(float)
PYDL_INSTANTIATE(double)
#undef PYDL_INSTANTIATE

}  // namespace pydl::cuda
