// Optimizer launchers (optim.cu): in-place updates of one parameter array on the device, PyTorch's
// formulas with the CPU kernels' settings (cpu/optim.h). Inputs are assumed valid (the bindings check
// them, NaN and inf included); a state array the settings do not use may be null.
#pragma once
#include <cstdint>

#include "cpu/optim.h"
#include "runtime.h"

namespace pydl::cuda {

template <typename T>
void sgd_step(T* param, const T* grad, T* momentum_buf, int64_t n, const SgdConfig& c, cudaStream_t stream);
template <typename T>
void rmsprop_step(T* param, const T* grad, T* square_avg, T* momentum_buf, T* grad_avg, int64_t n,
                  const RmspropConfig& c, cudaStream_t stream);
template <typename T>
void adam_step(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, int64_t n, const AdamConfig& c, cudaStream_t stream);

}  // namespace pydl::cuda
