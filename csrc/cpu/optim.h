// In-place optimizer updates over one parameter array, PyTorch's formulas (torch.optim, foreach=False).
// Each returns true when the gradient held a NaN. Inputs are assumed valid (the bindings check them).
#pragma once
#include <cstdint>

namespace pydl {

struct SgdConfig {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, first_step;
};
struct RmspropConfig {
  double lr, alpha, eps, weight_decay, momentum;
  bool centered;
};
struct AdamConfig {
  double lr, beta1, beta2, eps, weight_decay;
  int64_t step;
  double decoupled_weight_decay = 0;  // AdamW: param *= 1 - lr * this before the Adam step
};

template <typename T> bool sgd_update(T* param, const T* grad, T* momentum_buf, int64_t n, const SgdConfig& c);
template <typename T>
bool rmsprop_update(T* param, const T* grad, T* square_avg, T* momentum_buf, T* grad_avg, int64_t n,
                    const RmspropConfig& c);
template <typename T>
bool adam_update(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, int64_t n, const AdamConfig& c);

}  // namespace pydl
