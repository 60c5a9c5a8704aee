// The plan's steps of pydl's layers: each calls the kernels its Python layer calls, in the same order.
// Adding a layer to the plan is one class here (or in a file of its own) and one PYDL_PLAN_STEP line.
#include <vector>

#include "activations.h"
#include "conv.h"
#include "dense.h"
#include "dropout.h"
#include "normalization.h"
#include "plan/step.h"
#include "plan/step_args.h"

namespace pydl {
namespace {

// Dense: y = act(x W + b), nn.Dense.
template <typename T>
class DenseStep : public Step<T> {
 public:
  explicit DenseStep(const StepSpec& s)
      : p_(s),
        act_(activation_of(s)), in_(s.in_size()), out_(s.out_size()) {}

  void forward(const T* x, T* y, int64_t rows) override { dense_forward(x, p_.w, p_.b, act_, y, rows, in_, out_); }

  void backward(const T* x, const T* y, const T* dy, T* dx, int64_t rows) override {
    if (act_ != Activation::none) {
      dz_.resize(rows * out_);
      activation_backward(act_, y, dy, dz_.data(), rows * out_);
      dy = dz_.data();
    }
    dense_backward(x, p_.w, dy, dx, p_.dw, p_.db, rows, in_, out_, false);
  }

 private:
  Weights<T> p_;
  Activation act_;
  int64_t in_, out_;
  std::vector<T> dz_;  // dL/d(pre-activation)
};
PYDL_PLAN_STEP("dense", DenseStep);

// A narrow Dense in the feature-major plan (plan.cpp), with the activation layer after it folded in:
// x (in, rows), y (out, rows).
template <typename T>
class DenseFmStep : public Step<T> {
 public:
  explicit DenseFmStep(const StepSpec& s)
      : p_(s),
        act_(activation_of(s)), in_(s.in_size()), out_(s.out_size()) {}

  void forward(const T* x, T* y, int64_t rows) override {
    dense_narrow_forward(true, x, rows, p_.w, p_.b, act_, y, rows, in_, out_);
  }

  void backward(const T* x, const T* y, const T* dy, T* dx, int64_t rows) override {
    dense_narrow_backward(true, x, rows, p_.w, y, act_, dy, dx, p_.dw, p_.db, rows, in_, out_, false);
  }

 private:
  Weights<T> p_;
  Activation act_;
  int64_t in_, out_;
};
PYDL_PLAN_STEP("dense_fm", DenseFmStep);

// Conv2D on NCHW samples, nn.Conv2D: y = conv(x, W) + b, with a fused ReLU when activation is relu
// (pydl/plan.py also fuses a Conv2D and the ReLU layer after it into this step).
template <typename T>
class Conv2DStep : public Step<T> {
 public:
  explicit Conv2DStep(const StepSpec& s)
      : p_(s),
        relu_(activation_of(s) == Activation::relu), spec_(s) {}

  void forward(const T* x, T* y, int64_t rows) override {
    conv2d_forward(conv_of(spec_, rows), x, p_.w, p_.b, relu_, y);
  }

  // The ReLU's backward is the kernel's masked read of dy: the same values as relu_backward's, without
  // writing and re-reading them.
  void backward(const T* x, const T* y, const T* dy, T* dx, int64_t rows) override {
    conv2d_backward(conv_of(spec_, rows), x, p_.w, dy, relu_ ? y : nullptr, dx, p_.dw, p_.db);
  }

 private:
  Weights<T> p_;
  bool relu_;
  StepSpec spec_;
};
PYDL_PLAN_STEP("conv2d", Conv2DStep);

// MaxPool2D, keeping the arg-max indices its backward needs.
template <typename T>
class MaxPool2DStep : public Step<T> {
 public:
  explicit MaxPool2DStep(const StepSpec& s) : spec_(s) {}

  void forward(const T* x, T* y, int64_t rows) override {
    argmax_.resize(rows * spec_.out_size());
    max_pool2d_forward(pool_of(spec_, rows), x, y, argmax_.data());
  }

  void backward(const T* x, const T* y, const T* dy, T* dx, int64_t rows) override {
    if (dx) max_pool2d_backward(pool_of(spec_, rows), dy, argmax_.data(), dx);
  }

 private:
  StepSpec spec_;
  std::vector<int64_t> argmax_;
};
PYDL_PLAN_STEP("max_pool2d", MaxPool2DStep);

template <typename T>
class AvgPool2DStep : public Step<T> {
 public:
  explicit AvgPool2DStep(const StepSpec& s) : spec_(s) {}

  void forward(const T* x, T* y, int64_t rows) override { avg_pool2d_forward(pool_of(spec_, rows), x, y); }

  void backward(const T* x, const T* y, const T* dy, T* dx, int64_t rows) override {
    if (dx) avg_pool2d_backward(pool_of(spec_, rows), dy, dx);
  }

 private:
  StepSpec spec_;
};
PYDL_PLAN_STEP("avg_pool2d", AvgPool2DStep);

// ReLU, Sigmoid (optionally clipped), Tanh: element-wise, backward from the output.
template <typename T>
class ElementwiseStep : public Step<T> {
 public:
  explicit ElementwiseStep(const StepSpec& s)
      : act_(activation_of(s)), clip_(s.numbers.count("clip") ? s.number("clip") : 0.0), size_(s.in_size()) {}

  void forward(const T* x, T* y, int64_t rows) override {
    activation_forward(act_, x, y, rows * size_);
    if (clip_ > 0) clip_probabilities(y, rows * size_, clip_);
  }

  void backward(const T* x, const T* y, const T* dy, T* dx, int64_t rows) override {
    if (dx) activation_backward(act_, y, dy, dx, rows * size_);
  }

 private:
  Activation act_;
  double clip_;
  int64_t size_;
};
PYDL_PLAN_STEP("activation", ElementwiseStep);

// LeakyReLU, nn.LeakyReLU: backward from the output, as the layer does.
template <typename T>
class LeakyReluStep : public Step<T> {
 public:
  explicit LeakyReluStep(const StepSpec& s) : slope_(s.number("negative_slope")), size_(s.in_size()) {}

  void forward(const T* x, T* y, int64_t rows) override { leaky_relu_forward(x, y, rows * size_, slope_); }

  void backward(const T* x, const T* y, const T* dy, T* dx, int64_t rows) override {
    if (dx) leaky_relu_backward(y, dy, dx, rows * size_, slope_);
  }

 private:
  double slope_;
  int64_t size_;
};
PYDL_PLAN_STEP("leaky_relu", LeakyReluStep);

// Dropout in training mode, nn.Dropout: the mask of the step's seed plus the layer's index in the network,
// as Network._forward gives the layer.
template <typename T>
class DropoutStep : public Step<T> {
 public:
  explicit DropoutStep(const StepSpec& s)
      : p_(s.number("p")), offset_(uint64_t(s.number("seed_offset"))), size_(s.in_size()) {}

  bool random() const override { return true; }
  void set_seed(uint64_t seed) override { seed_ = (seed + offset_) & kSeedMask; }

  void forward(const T* x, T* y, int64_t rows) override {
    mask_.resize(rows * size_);
    dropout_forward(x, y, mask_.data(), rows * size_, p_, seed_);
  }

  void backward(const T* x, const T* y, const T* dy, T* dx, int64_t rows) override {
    if (dx) dropout_backward(dy, mask_.data(), dx, rows * size_);
  }

 private:
  static constexpr uint64_t kSeedMask = (uint64_t(1) << 63) - 1;  // seeds are int64 >= 0: (seed + i) mod 2^63
  double p_;
  uint64_t offset_, seed_ = 0;
  int64_t size_;
  std::vector<T> mask_;
};
PYDL_PLAN_STEP("dropout", DropoutStep);

// BatchNorm1d/2d in training mode, nn.BatchNorm*: batch statistics, running statistics updated in the
// layer's own buffers (running_mean, running_var).
template <typename T>
class BatchNormStep : public Step<T> {
 public:
  explicit BatchNormStep(const StepSpec& s)
      : gamma_(static_cast<T*>(s.params[0])), beta_(static_cast<T*>(s.params[1])),
        dgamma_(static_cast<T*>(s.grads[0])), dbeta_(static_cast<T*>(s.grads[1])),
        running_mean_(static_cast<T*>(s.buffers[0])), running_var_(static_cast<T*>(s.buffers[1])),
        momentum_(s.number("momentum")), eps_(s.number("eps")), c_(s.in_shape[0]), l_(s.in_size() / c_),
        mean_(c_), invstd_(c_) {}

  void forward(const T* x, T* y, int64_t rows) override {
    batch_norm_train(NormShape{rows, c_, l_}, x, gamma_, beta_, running_mean_, running_var_, y, mean_.data(),
                     invstd_.data(), momentum_, eps_);
  }

  void backward(const T* x, const T* y, const T* dy, T* dx, int64_t rows) override {
    batch_norm_backward(NormShape{rows, c_, l_}, x, gamma_, dy, mean_.data(), invstd_.data(), dx, dgamma_, dbeta_);
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
  std::vector<T> mean_, invstd_;  // the batch's, saved for backward
};
PYDL_PLAN_STEP("batch_norm", BatchNormStep);

template <typename T>
class SoftmaxStep : public Step<T> {
 public:
  explicit SoftmaxStep(const StepSpec& s) : cols_(s.in_size()) {}

  void forward(const T* x, T* y, int64_t rows) override { softmax_forward(x, y, rows, cols_); }

  void backward(const T* x, const T* y, const T* dy, T* dx, int64_t rows) override {
    if (dx) softmax_backward(y, dy, dx, rows, cols_);
  }

 private:
  int64_t cols_;
};
PYDL_PLAN_STEP("softmax", SoftmaxStep);

}  // namespace
}  // namespace pydl
