// Optimizer launchers (optim.cu): in-place updates of one parameter array on the device, PyTorch's
// formulas with the CPU kernels' settings (cpu/optim.h). Inputs are assumed valid (the bindings check
// them, NaN and inf included); a state array the settings do not use may be null.
#pragma once
#include <cstdint>

#include "cpu/optim.h"

struct CUstream_st;

namespace pydl {
namespace cuda {

using Stream = CUstream_st*;

template <typename T>
void sgd_step(T* param, const T* grad, T* momentum_buf, int64_t n, const SgdConfig& c, Stream stream);
template <typename T>
void rmsprop_step(T* param, const T* grad, T* square_avg, T* momentum_buf, T* grad_avg, int64_t n,
                  const RmspropConfig& c, Stream stream);
template <typename T>
void adam_step(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, int64_t n, const AdamConfig& c, Stream stream);

}  // namespace cuda
}  // namespace pydl
