// What a layer's StepSpec says, read the same way by the CPU plan's steps (layer_steps.cpp) and the GPU
// plan's (cuda/plan/layer_steps.cu): its weights and gradients, its fused activation, its geometry.
#pragma once
#include <cstdint>

#include "cpu/activations.h"
#include "cpu/conv.h"
#include "plan/step.h"

namespace pydl {

// A layer's weight and optional bias, with their gradients (the spec's params and grads, in that order).
template <typename T>
struct Weights {
  explicit Weights(const StepSpec& s)
      : w(static_cast<T*>(s.params[0])), b(s.params.size() > 1 ? static_cast<T*>(s.params[1]) : nullptr),
        dw(static_cast<T*>(s.grads[0])), db(s.grads.size() > 1 ? static_cast<T*>(s.grads[1]) : nullptr) {}
  const T* w;
  const T* b;
  T* dw;
  T* db;
};

inline Activation activation_of(const StepSpec& s) { return static_cast<Activation>(int(s.number("activation"))); }

// A Conv2D step's geometry for a batch of `rows` samples.
inline ConvGeom conv_of(const StepSpec& s, int64_t rows) {
  return conv_geometry(rows, s.in_shape[0], s.in_shape[1], s.in_shape[2], s.out_shape[0], int64_t(s.number("kernel_h")),
                       int64_t(s.number("kernel_w")), int64_t(s.number("stride_h")), int64_t(s.number("stride_w")),
                       int64_t(s.number("pad_h")), int64_t(s.number("pad_w")));
}

// A pooling step's geometry for a batch of `rows` samples (every channel of every sample a plane).
inline PoolGeom pool_of(const StepSpec& s, int64_t rows) {
  return pool_geometry(rows * s.in_shape[0], s.in_shape[1], s.in_shape[2], int64_t(s.number("kernel_h")),
                       int64_t(s.number("kernel_w")), int64_t(s.number("stride_h")), int64_t(s.number("stride_w")),
                       int64_t(s.number("pad_h")), int64_t(s.number("pad_w")));
}

}  // namespace pydl
