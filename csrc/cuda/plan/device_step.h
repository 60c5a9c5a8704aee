// A layer as the GPU plan runs it: forward and backward over a batch of `rows` samples in device memory,
// through the CUDA launchers of csrc/cuda — the device counterpart of csrc/plan/step.h, built from the
// same StepSpec (its pointers are device pointers here).
//
//   x  (rows, in_size)    the layer input          y  (rows, out_size)   its output
//   dy (rows, out_size)   dL/dy                    dx (rows, in_size)    dL/dx, null when not needed
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "../runtime.h"
#include "plan/step.h"

namespace pydl::cuda {

template <typename T>
class DeviceStep {
 public:
  virtual ~DeviceStep() = default;
  virtual void forward(const T* x, T* y, int64_t rows, cudaStream_t stream) = 0;
  virtual void backward(const T* x, const T* y, const T* dy, T* dx, int64_t rows, cudaStream_t stream) = 0;
  virtual bool random() const { return false; }
  virtual void set_seed(uint64_t) {}
};

template <typename T>
using DeviceStepFactory = std::unique_ptr<DeviceStep<T>> (*)(const StepSpec&);

template <typename T>
std::unique_ptr<DeviceStep<T>> make_device_step(const StepSpec& spec);
bool has_device_step(const std::string& kind);

struct RegisterDeviceStep {
  RegisterDeviceStep(const char* kind, DeviceStepFactory<float> f32, DeviceStepFactory<double> f64);
};

}  // namespace pydl::cuda

#define PYDL_CUDA_PLAN_STEP(kind, Class)                                                                     \
  static ::pydl::cuda::RegisterDeviceStep Class##_registration(                                              \
      kind, [](const ::pydl::StepSpec& s) -> std::unique_ptr<::pydl::cuda::DeviceStep<float>> {              \
        return std::make_unique<Class<float>>(s);                                                            \
      },                                                                                                     \
      [](const ::pydl::StepSpec& s) -> std::unique_ptr<::pydl::cuda::DeviceStep<double>> {                   \
        return std::make_unique<Class<double>>(s);                                                           \
      })
