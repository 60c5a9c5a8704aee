// The GPU training plan: whole epochs of gather, forward, loss, backward and update on the device, over
// the CUDA launchers the layers' kernels use, with the data resident there. The batch losses and the
// accuracy count stay on the device until the epoch ends: one host synchronisation per epoch. Built from
// the CPU plan's description (plan/plan.h: StepSpec, LossSpec, OptimSpec; device pointers here);
// cuda/bindings_plan.cpp validates everything.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "../runtime.h"
#include "device_buffer.h"
#include "device_step.h"
#include "plan/plan.h"

namespace pydl::cuda {

template <typename T>
class DevicePlan {
 public:
  DevicePlan(const std::vector<StepSpec>& steps, const LossSpec& loss, const OptimSpec& optim);
  // As Plan<T>::run: `data` on the device (labels too), the schedule's perms, rates and seeds on the host.
  // Returns the epochs run: fewer when an epoch's loss was not finite (the caller restores and replays).
  int64_t run(const EpochData<T>& data, const EpochSchedule& schedule, int64_t& step, double* losses, int64_t* correct);
  bool random() const { return random_; }

 private:
  void reserve(int64_t rows);
  void train_batch(const T* x, const T* target, const int64_t* target_labels, const int64_t* labels, int64_t rows,
                   double lr, int64_t step, double* batch_loss);
  void loss(const T* out, T* grad, const T* target, const int64_t* target_labels, int64_t rows, double* loss_out);
  void update(double lr, int64_t step);

  cudaStream_t stream_ = nullptr;
  std::vector<std::unique_ptr<DeviceStep<T>>> steps_;
  std::vector<int64_t> size_;  // size_[i]: per-sample size of step i's input; size_.back() the output's
  std::vector<bool> need_dx_;
  bool random_ = false;
  LossSpec loss_;
  OptimSpec optim_;
  std::vector<DeviceBuffer<T>> act_, grad_;
  DeviceBuffer<T> target_;
  DeviceBuffer<int64_t> target_labels_, labels_, perms_;
  DeviceBuffer<double> batch_losses_, loss_workspace_;
  DeviceBuffer<unsigned long long> correct_;
};

}  // namespace pydl::cuda
