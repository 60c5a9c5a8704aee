// The training plan: whole epochs of forward, loss, backward and update in C++, without the GIL, as a
// list of steps over the same kernels the layers, losses and optimizers call from Python. Layers come as
// StepSpecs (plan/step.h); the loss and the optimizer are the kernels of losses.h and optim.h.
// bindings_plan.cpp validates everything; the plan assumes valid input and throws only std::bad_alloc.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "plan/step.h"
#include "plan/threads.h"

namespace pydl {

enum class PlanLoss { mse, bce, bce_with_logits, cross_entropy, multi_bce };
enum class PlanOptim { sgd, rmsprop, adam };

struct LossSpec {
  PlanLoss kind;
  double eps = 1e-7;        // bce: probabilities clipped to [eps, 1 - eps]
  double threshold = 0.5;   // accuracy of one output column: output > threshold is class 1
};

struct OptimSpec {
  struct Param {
    void* data;
    void* grad;
    void* state[3];  // sgd: momentum; rmsprop: square_avg, momentum, grad_avg; adam: exp_avg, exp_avg_sq
    int64_t size;
    double weight_decay;  // the optimizer's plus 2 lambda of the network's L2 term, as Optimizer.step adds
  };
  PlanOptim kind;
  double momentum = 0, dampening = 0, alpha = 0.99, eps = 1e-8, beta1 = 0.9, beta2 = 0.999;
  double decoupled_weight_decay = 0;  // AdamW's (PlanOptim::adam)
  bool nesterov = false, centered = false;
  std::vector<Param> params;
};

// One call's data, C-contiguous: x (n, in_size); the loss target either float rows (n, out_size) or
// class labels (n,) in target_labels; labels (n,) for the accuracy count.
template <typename T>
struct EpochData {
  const T* x;
  int64_t n;
  const T* target;
  const int64_t* target_labels;
  const int64_t* labels;
};

// epochs epochs in batches perms[e * n + i ...] (rows in order without perms) of batch_size, the last one
// smaller; the learning rate of step k of the call is lrs[k], or lr without lrs; seeds[k] is step k's seed
// for the random steps (null when none is random).
struct EpochSchedule {
  int64_t epochs, batch_size;
  const int64_t* perms;
  const double* lrs;
  double lr;
  const int64_t* seeds = nullptr;
};

template <typename T>
class Plan {
 public:
  Plan(const std::vector<StepSpec>& steps, const LossSpec& loss, const OptimSpec& optim);
  // Activations stored feature-major (features x rows): a network of narrow dense layers (dense.h:
  // is_narrow) and element-wise activations, whose loops then run across the batch.
  bool feature_major() const { return fm_; }
  // Trains; losses[e] is epoch e's mean loss (batch means weighted by batch size), correct[e] its count of
  // correct predictions. `step` is the optimizer's step count, one per batch. Returns the epochs run:
  // fewer when a loss was not finite or an update met NaN, after which the caller restores and replays.
  int64_t run(const EpochData<T>& data, const EpochSchedule& schedule, int64_t& step, double* losses,
              int64_t* correct);
  // True when a step draws random numbers: run then needs schedule.seeds.
  bool random() const { return random_; }

 private:
  void reserve(int64_t rows);
  double train_batch(const T* x, const T* target, const int64_t* target_labels, const int64_t* labels,
                     int64_t rows, double lr, int64_t step, int64_t& correct, bool& nan_update);
  double loss(const T* out, T* grad, const T* target, const int64_t* target_labels, int64_t rows);
  bool update(double lr, int64_t step);

  std::vector<std::unique_ptr<Step<T>>> steps_;
  std::vector<int64_t> size_;  // size_[i]: per-sample size of step i's input; size_.back() the output's
  std::vector<bool> need_dx_;  // step i must produce dL/dx: an earlier step has parameters
  bool random_ = false;
  LossSpec loss_;
  OptimSpec optim_;
  int64_t capacity_ = 0;  // rows the buffers hold
  std::vector<std::vector<T>> act_, grad_;  // act_[i], grad_[i]: step i's input and dL/d(input); [last]: output
  std::vector<T> target_;
  bool fm_ = false;
  std::vector<T> out_rows_, grad_rows_;  // feature-major with several outputs: output and its gradient row-major
  const T* transposed_ = nullptr;  // feature-major: act_[0] holds these data rows transposed (this run call)
  std::vector<int64_t> target_labels_, labels_;
  ThreadChooser threads_;
};

}  // namespace pydl
