#include "device_plan.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "../batch.h"
#include "../losses.h"
#include "../optim.h"

namespace pydl::cuda {

template <typename T>
DevicePlan<T>::DevicePlan(const std::vector<StepSpec>& steps, const LossSpec& loss, const OptimSpec& optim)
    : loss_(loss), optim_(optim), act_(steps.size() + 1), grad_(steps.size() + 1) {
  for (const StepSpec& spec : steps) {
    steps_.push_back(make_device_step<T>(spec));
    random_ = random_ || steps_.back()->random();
  }
  StepShapes shapes = step_shapes(steps);
  size_ = std::move(shapes.sizes);
  need_dx_ = std::move(shapes.need_dx);
  loss_workspace_.reserve(kLossWorkspace);
  correct_.reserve(1);
}

template <typename T>
void DevicePlan<T>::reserve(int64_t rows) {
  for (size_t i = 0; i < act_.size(); ++i) {
    act_[i].reserve(size_[i] * rows);
    if (i == act_.size() - 1 || (i > 0 && need_dx_[i])) grad_[i].reserve(size_[i] * rows);
  }
  target_.reserve(size_.back() * rows);
  target_labels_.reserve(rows);
  labels_.reserve(rows);
}

template <typename T>
void DevicePlan<T>::loss(const T* out, T* g, const T* t, const int64_t* labels, int64_t rows, double* loss_out) {
  const int64_t c = size_.back(), n = rows * c;
  double* ws = loss_workspace_.data();
  switch (loss_.kind) {
    case PlanLoss::mse: mse_loss(out, t, g, n, loss_out, false, ws, stream_); break;
    case PlanLoss::bce: bce_loss(out, t, g, n, loss_.eps, loss_out, false, ws, stream_); break;
    case PlanLoss::bce_with_logits: bce_with_logits_loss(out, t, g, n, loss_out, false, ws, stream_); break;
    case PlanLoss::cross_entropy:
      if (labels) softmax_ce_labels(out, labels, g, rows, c, loss_out, false, ws, stream_);
      else softmax_ce_rows(out, t, g, rows, c, loss_out, false, ws, stream_);
      break;
    case PlanLoss::multi_bce:
      if (labels) multi_bce_labels(out, labels, g, rows, c, loss_out, false, ws, stream_);
      else bce_with_logits_loss(out, t, g, n, loss_out, false, ws, stream_);
      break;
  }
}

template <typename T>
void DevicePlan<T>::update(double lr, int64_t step) {
  for (const OptimSpec::Param& p : optim_.params) {
    T* data = static_cast<T*>(p.data);
    const T* grad = static_cast<const T*>(p.grad);
    T* s0 = static_cast<T*>(p.state[0]);
    T* s1 = static_cast<T*>(p.state[1]);
    T* s2 = static_cast<T*>(p.state[2]);
    switch (optim_.kind) {
      case PlanOptim::sgd:
        sgd_step(data, grad, s0, p.size,
                 SgdConfig{lr, optim_.momentum, optim_.dampening, p.weight_decay, optim_.nesterov, step == 1}, stream_);
        break;
      case PlanOptim::rmsprop:
        rmsprop_step(data, grad, s0, s1, s2, p.size,
                     RmspropConfig{lr, optim_.alpha, optim_.eps, p.weight_decay, optim_.momentum, optim_.centered},
                     stream_);
        break;
      case PlanOptim::adam:
        adam_step(data, grad, s0, s1, p.size,
                  AdamConfig{lr, optim_.beta1, optim_.beta2, optim_.eps, p.weight_decay, step,
                             optim_.decoupled_weight_decay},
                  stream_);
        break;
    }
  }
}

template <typename T>
void DevicePlan<T>::train_batch(const T* x, const T* target, const int64_t* target_labels, const int64_t* labels,
                                int64_t rows, double lr, int64_t step, double* batch_loss) {
  const size_t last = steps_.size();
  const T* input = x;
  for (size_t i = 0; i < last; ++i) {
    steps_[i]->forward(input, act_[i + 1].data(), rows, stream_);
    input = act_[i + 1].data();
  }
  const T* out = act_.back().data();
  loss(out, grad_.back().data(), target, target_labels, rows, batch_loss);
  count_correct_into(out, labels, rows, size_.back(), loss_.threshold, correct_.data(), stream_);
  const T* dy = grad_.back().data();
  for (size_t i = last; i-- > 0;) {
    const T* in = i == 0 ? x : act_[i].data();
    T* dx = need_dx_[i] ? grad_[i].data() : nullptr;
    steps_[i]->backward(in, act_[i + 1].data(), dy, dx, rows, stream_);
    dy = dx;
  }
  update(lr, step);
}

template <typename T>
int64_t DevicePlan<T>::run(const EpochData<T>& d, const EpochSchedule& s, int64_t& step, double* losses,
                           int64_t* correct) {
  const int64_t n = d.n, bs = std::min(s.batch_size, n), in = size_.front(), out = size_.back();
  const int64_t batches = (n + bs - 1) / bs;
  reserve(bs);
  double* batch_losses = batch_losses_.reserve(batches);
  const int64_t* perms = nullptr;
  if (s.perms) {  // every epoch's order, uploaded once per call
    int64_t* p = perms_.reserve(s.epochs * n);
    PYDL_CUDA_CHECK(cudaMemcpyAsync(p, s.perms, sizeof(int64_t) * s.epochs * n, cudaMemcpyHostToDevice, stream_));
    perms = p;
  }
  std::vector<double> host_losses(batches);
  int64_t k = 0;
  for (int64_t e = 0; e < s.epochs; ++e) {
    PYDL_CUDA_CHECK(cudaMemsetAsync(correct_.data(), 0, sizeof(unsigned long long), stream_));
    for (int64_t b = 0; b < batches; ++b) {
      const int64_t start = b * bs, rows = std::min(bs, n - start);
      const T* x = d.x + start * in;
      const T* t = d.target ? d.target + start * out : nullptr;
      const int64_t* tl = d.target_labels ? d.target_labels + start : nullptr;
      const int64_t* lab = d.labels + start;
      if (perms) {
        const int64_t* idx = perms + e * n + start;
        gather_rows(d.x, idx, act_[0].data(), rows, in, stream_);
        x = act_[0].data();
        if (t) {
          gather_rows(d.target, idx, target_.data(), rows, out, stream_);
          t = target_.data();
        }
        if (tl) {
          gather_rows(d.target_labels, idx, target_labels_.data(), rows, int64_t(1), stream_);
          tl = target_labels_.data();
        }
        gather_rows(d.labels, idx, labels_.data(), rows, int64_t(1), stream_);
        lab = labels_.data();
      }
      if (s.seeds) {
        for (auto& st : steps_) st->set_seed(uint64_t(s.seeds[k]));
      }
      const double lr = s.lrs ? s.lrs[k] : s.lr;
      train_batch(x, t, tl, lab, rows, lr, ++step, batch_losses + b);
      ++k;
    }
    // The epoch's one synchronisation: its batch losses and its count of correct predictions.
    unsigned long long right = 0;
    PYDL_CUDA_CHECK(cudaMemcpy(host_losses.data(), batch_losses, sizeof(double) * batches, cudaMemcpyDeviceToHost));
    PYDL_CUDA_CHECK(cudaMemcpy(&right, correct_.data(), sizeof(right), cudaMemcpyDeviceToHost));
    PYDL_CUDA_CHECK(cudaGetLastError());
    double loss_sum = 0;
    for (int64_t b = 0; b < batches; ++b) {
      if (!std::isfinite(host_losses[b])) return e;
      loss_sum += host_losses[b] * double(std::min(bs, n - b * bs));
    }
    losses[e] = loss_sum / double(n);
    correct[e] = int64_t(right);
  }
  return s.epochs;
}

template class DevicePlan<float>;
template class DevicePlan<double>;

}  // namespace pydl::cuda
