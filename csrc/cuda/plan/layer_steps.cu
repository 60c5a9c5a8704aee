// The GPU plan's steps of pydl's layers: each calls the CUDA launchers of the kernels its Python layer
// calls on this device, in the same order (csrc/plan/layer_steps.cpp is the CPU plan's). Adding a layer to
// the GPU plan is one class here and one PYDL_CUDA_PLAN_STEP line.
#include "../runtime.h"

#include "../activations.h"
#include "../conv.h"
#include "../dense.h"
#include "../dropout.h"
#include "../normalization.h"
#include "../pool.h"
#include "device_buffer.h"
#include "device_step.h"
#include "plan/step_args.h"

namespace pydl::cuda {
namespace {

template <typename T>
void activation_forward(Activation act, const T* x, T* y, int64_t n, double clip, cudaStream_t stream) {
  switch (act) {
    case Activation::relu: relu(x, y, n, stream); break;
    case Activation::sigmoid: sigmoid(x, y, n, clip > 0, clip, stream); break;
    case Activation::tanh: cuda::tanh(x, y, n, stream); break;
    case Activation::none: break;
  }
}

template <typename T>
void activation_backward(Activation act, const T* y, const T* dy, T* dx, int64_t n, cudaStream_t stream) {
  switch (act) {
    case Activation::relu: relu_backward(y, dy, dx, n, stream); break;
    case Activation::sigmoid: sigmoid_backward(y, dy, dx, n, stream); break;
    case Activation::tanh: tanh_backward(y, dy, dx, n, stream); break;
    case Activation::none: break;
  }
}

// Dense: y = act(x W + b).
template <typename T>
class DenseStep : public DeviceStep<T> {
 public:
  explicit DenseStep(const StepSpec& s) : p_(s), act_(activation_of(s)), in_(s.in_size()), out_(s.out_size()) {}

  void forward(const T* x, T* y, int64_t rows, cudaStream_t stream) override {
    dense_forward(x, p_.w, p_.b, act_, y, rows, in_, out_, stream);
  }

  void backward(const T* x, const T* y, const T* dy, T* dx, int64_t rows, cudaStream_t stream) override {
    if (act_ != Activation::none) {
      T* dz = dz_.reserve(rows * out_);
      activation_backward(act_, y, dy, dz, rows * out_, stream);
      dy = dz;
    }
    dense_backward(x, p_.w, dy, dx, p_.dw, p_.db, rows, in_, out_, false, stream);
  }

 private:
  Weights<T> p_;
  Activation act_;
  int64_t in_, out_;
  DeviceBuffer<T> dz_;  // dL/d(pre-activation)
};
PYDL_CUDA_PLAN_STEP("dense", DenseStep);

// Conv2D: y = conv(x, W) + b, with a fused ReLU when activation is relu.
template <typename T>
class Conv2DStep : public DeviceStep<T> {
 public:
  explicit Conv2DStep(const StepSpec& s) : p_(s), relu_(activation_of(s) == Activation::relu), spec_(s) {}

  void forward(const T* x, T* y, int64_t rows, cudaStream_t stream) override {
    const ConvGeom g = conv_of(spec_, rows);
    conv2d_forward(g, x, p_.w, p_.b, relu_, y, workspace_.reserve(conv2d_workspace(g)), stream);
  }

  void backward(const T* x, const T* y, const T* dy, T* dx, int64_t rows, cudaStream_t stream) override {
    if (relu_) {
      const int64_t n = rows * spec_.out_size();
      T* dz = dz_.reserve(n);
      relu_backward(y, dy, dz, n, stream);
      dy = dz;
    }
    const ConvGeom g = conv_of(spec_, rows);
    conv2d_backward(g, x, p_.w, dy, dx, p_.dw, p_.db, workspace_.reserve(conv2d_workspace(g)), stream);
  }

 private:
  Weights<T> p_;
  bool relu_;
  StepSpec spec_;
  DeviceBuffer<T> dz_, workspace_;
};
PYDL_CUDA_PLAN_STEP("conv2d", Conv2DStep);

template <typename T>
class MaxPool2DStep : public DeviceStep<T> {
 public:
  explicit MaxPool2DStep(const StepSpec& s) : spec_(s) {}

  void forward(const T* x, T* y, int64_t rows, cudaStream_t stream) override {
    max_pool2d_forward(pool_of(spec_, rows), x, y, argmax_.reserve(rows * spec_.out_size()), stream);
  }

  void backward(const T* x, const T* y, const T* dy, T* dx, int64_t rows, cudaStream_t stream) override {
    if (dx) max_pool2d_backward(pool_of(spec_, rows), dy, argmax_.data(), dx, stream);
  }

 private:
  StepSpec spec_;
  DeviceBuffer<int64_t> argmax_;
};
PYDL_CUDA_PLAN_STEP("max_pool2d", MaxPool2DStep);

template <typename T>
class AvgPool2DStep : public DeviceStep<T> {
 public:
  explicit AvgPool2DStep(const StepSpec& s) : spec_(s) {}

  void forward(const T* x, T* y, int64_t rows, cudaStream_t stream) override {
    avg_pool2d_forward(pool_of(spec_, rows), x, y, stream);
  }

  void backward(const T* x, const T* y, const T* dy, T* dx, int64_t rows, cudaStream_t stream) override {
    if (dx) avg_pool2d_backward(pool_of(spec_, rows), dy, dx, stream);
  }

 private:
  StepSpec spec_;
};
PYDL_CUDA_PLAN_STEP("avg_pool2d", AvgPool2DStep);

// ReLU, Sigmoid (optionally clipped), Tanh: element-wise, backward from the output.
template <typename T>
class ElementwiseStep : public DeviceStep<T> {
 public:
  explicit ElementwiseStep(const StepSpec& s)
      : act_(activation_of(s)), clip_(s.numbers.count("clip") ? s.number("clip") : 0.0), size_(s.in_size()) {}

  void forward(const T* x, T* y, int64_t rows, cudaStream_t stream) override {
    activation_forward(act_, x, y, rows * size_, clip_, stream);
  }

  void backward(const T* x, const T* y, const T* dy, T* dx, int64_t rows, cudaStream_t stream) override {
    if (dx) activation_backward(act_, y, dy, dx, rows * size_, stream);
  }

 private:
  Activation act_;
  double clip_;
  int64_t size_;
};
PYDL_CUDA_PLAN_STEP("activation", ElementwiseStep);

template <typename T>
class LeakyReluStep : public DeviceStep<T> {
 public:
  explicit LeakyReluStep(const StepSpec& s) : slope_(s.number("negative_slope")), size_(s.in_size()) {}

  void forward(const T* x, T* y, int64_t rows, cudaStream_t stream) override {
    leaky_relu(x, y, rows * size_, slope_, stream);
  }

  void backward(const T* x, const T* y, const T* dy, T* dx, int64_t rows, cudaStream_t stream) override {
    if (dx) leaky_relu_backward(y, dy, dx, rows * size_, slope_, stream);
  }

 private:
  double slope_;
  int64_t size_;
};
PYDL_CUDA_PLAN_STEP("leaky_relu", LeakyReluStep);

// Dropout in training mode: the mask of the step's seed plus the layer's index, as on the CPU.
template <typename T>
class DropoutStep : public DeviceStep<T> {
 public:
  explicit DropoutStep(const StepSpec& s)
      : p_(s.number("p")), offset_(uint64_t(s.number("seed_offset"))), size_(s.in_size()) {}

  bool random() const override { return true; }
  void set_seed(uint64_t seed) override { seed_ = (seed + offset_) & kSeedMask; }

  void forward(const T* x, T* y, int64_t rows, cudaStream_t stream) override {
    dropout_forward(x, y, mask_.reserve(rows * size_), rows * size_, p_, seed_, stream);
  }

  void backward(const T* x, const T* y, const T* dy, T* dx, int64_t rows, cudaStream_t stream) override {
    if (dx) dropout_backward(dy, mask_.data(), dx, rows * size_, stream);
  }

 private:
  static constexpr uint64_t kSeedMask = (uint64_t(1) << 63) - 1;  // seeds are int64 >= 0: (seed + i) mod 2^63
  double p_;
  uint64_t offset_, seed_ = 0;
  int64_t size_;
  DeviceBuffer<T> mask_;
};
PYDL_CUDA_PLAN_STEP("dropout", DropoutStep);

// BatchNorm1d/2d in training mode; running statistics updated in the layer's own device buffers.
template <typename T>
class BatchNormStep : public DeviceStep<T> {
 public:
  explicit BatchNormStep(const StepSpec& s)
      : gamma_(static_cast<T*>(s.params[0])), beta_(static_cast<T*>(s.params[1])),
        dgamma_(static_cast<T*>(s.grads[0])), dbeta_(static_cast<T*>(s.grads[1])),
        running_mean_(static_cast<T*>(s.buffers[0])), running_var_(static_cast<T*>(s.buffers[1])),
        momentum_(s.number("momentum")), eps_(s.number("eps")), c_(s.in_shape[0]), l_(s.in_size() / c_) {
    mean_.reserve(c_);
    invstd_.reserve(c_);
  }

  void forward(const T* x, T* y, int64_t rows, cudaStream_t stream) override {
    batch_norm_train(x, gamma_, beta_, running_mean_, running_var_, y, mean_.data(), invstd_.data(), rows, c_, l_,
                     momentum_, eps_, stream);
  }

  void backward(const T* x, const T* y, const T* dy, T* dx, int64_t rows, cudaStream_t stream) override {
    batch_norm_backward(x, gamma_, dy, mean_.data(), invstd_.data(), dx, dgamma_, dbeta_, rows, c_, l_, stream);
  }

 private:
  const T* gamma_;
  const T* beta_;
  T* dgamma_;
  T* dbeta_;
  T* running_mean_;
  T* running_var_;
  double momentum_, eps_;
  int64_t c_, l_;
  DeviceBuffer<T> mean_, invstd_;  // the batch's, saved for backward
};
PYDL_CUDA_PLAN_STEP("batch_norm", BatchNormStep);

template <typename T>
class SoftmaxStep : public DeviceStep<T> {
 public:
  explicit SoftmaxStep(const StepSpec& s) : cols_(s.in_size()) {}

  void forward(const T* x, T* y, int64_t rows, cudaStream_t stream) override { softmax(x, y, rows, cols_, stream); }

  void backward(const T* x, const T* y, const T* dy, T* dx, int64_t rows, cudaStream_t stream) override {
    if (dx) softmax_backward(y, dy, dx, rows, cols_, stream);
  }

 private:
  int64_t cols_;
};
PYDL_CUDA_PLAN_STEP("softmax", SoftmaxStep);

}  // namespace
}  // namespace pydl::cuda
