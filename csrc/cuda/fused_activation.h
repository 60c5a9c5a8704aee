// The activations fused into GEMM, dense and conv epilogues, as device functions (the formulas of
// pydl/reference/dense.py: FUSED and _GRADS). Include after runtime.h.
#pragma once
#include "cpu/activations.h"
#include "device_math.h"

namespace pydl::cuda {

// act(z); sigmoid from exp(-|z|), in (0, 1], so no z overflows.
template <typename T>
__device__ __forceinline__ T fused_activation(Activation act, T z) {
  switch (act) {
    case Activation::relu: return z > T(0) ? z : T(0);
    case Activation::sigmoid: {
      const T e = dexp(-dfabs(z));
      return z >= T(0) ? T(1) / (T(1) + e) : e / (T(1) + e);
    }
    case Activation::tanh: return dtanh(z);
    case Activation::none: break;
  }
  return z;
}

// dy * act'(z) from the forward output y = act(z).
template <typename T>
__device__ __forceinline__ T fused_activation_grad(Activation act, T y, T dy) {
  switch (act) {
    case Activation::relu: return y > T(0) ? dy : T(0);
    case Activation::sigmoid: return dy * y * (T(1) - y);
    case Activation::tanh: return dy * (T(1) - y * y);
    case Activation::none: break;
  }
  return dy;
}

}  // namespace pydl::cuda
