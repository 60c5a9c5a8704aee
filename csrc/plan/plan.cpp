#include "plan/plan.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <utility>

#include "batch.h"
#include "dense.h"
#include "losses.h"
#include "optim.h"
#include "parallel.h"

namespace pydl {

static bool has_clip(const StepSpec& s) { return s.numbers.count("clip") && s.number("clip") > 0; }

// Narrow dense layers and element-wise activations only: the layout choice of Plan::feature_major.
static bool narrow_network(const std::vector<StepSpec>& steps) {
  for (const StepSpec& s : steps) {
    if (s.kind == "dense" ? !is_narrow(s.in_size(), s.out_size()) : s.kind != "activation") return false;
  }
  return true;
}

// The feature-major steps: each dense layer a "dense_fm" step, which takes an unclipped activation layer
// right after it into its own passes (the fused kernels give the bits of the two layers' kernels).
static std::vector<StepSpec> feature_major_steps(const std::vector<StepSpec>& steps) {
  std::vector<StepSpec> out;
  for (size_t i = 0; i < steps.size(); ++i) {
    StepSpec s = steps[i];
    if (s.kind == "dense") {
      s.kind = "dense_fm";
      if (s.number("activation") == 0 && i + 1 < steps.size() && steps[i + 1].kind == "activation" &&
          !has_clip(steps[i + 1])) {
        s.numbers["activation"] = steps[++i].number("activation");
      }
    }
    out.push_back(s);
  }
  return out;
}

template <typename T>
Plan<T>::Plan(const std::vector<StepSpec>& layer_steps, const LossSpec& loss, const OptimSpec& optim)
    : loss_(loss), optim_(optim), fm_(narrow_network(layer_steps)) {
  const std::vector<StepSpec> steps = fm_ ? feature_major_steps(layer_steps) : layer_steps;
  for (const StepSpec& spec : steps) {
    steps_.push_back(make_step<T>(spec));
    random_ = random_ || steps_.back()->random();
  }
  StepShapes shapes = step_shapes(steps);
  size_ = std::move(shapes.sizes);
  need_dx_ = std::move(shapes.need_dx);
  act_.resize(steps.size() + 1);
  grad_.resize(steps.size() + 1);
}

// Buffers grow to the largest batch seen and are then reused: the steady-state step allocates nothing.
template <typename T>
void Plan<T>::reserve(int64_t rows) {
  if (rows <= capacity_) return;
  for (size_t i = 0; i < act_.size(); ++i) {
    act_[i].resize(size_[i] * rows);
    grad_[i].resize(i == act_.size() - 1 || (i > 0 && need_dx_[i]) ? size_[i] * rows : 0);
  }
  target_.resize(size_.back() * rows);
  if (fm_ && size_.back() > 1) {
    out_rows_.resize(size_.back() * rows);
    grad_rows_.resize(size_.back() * rows);
  }
  target_labels_.resize(rows);
  labels_.resize(rows);
  capacity_ = rows;
}

template <typename T>
double Plan<T>::loss(const T* out, T* g, const T* t, const int64_t* labels, int64_t rows) {
  const int64_t c = size_.back(), n = rows * c;
  switch (loss_.kind) {
    case PlanLoss::mse: return mse_loss(out, t, g, n);
    case PlanLoss::bce: return bce_loss(out, t, g, n, loss_.eps);
    case PlanLoss::bce_with_logits: return bce_with_logits_loss(out, t, g, n);
    case PlanLoss::cross_entropy:
      return labels ? softmax_ce_labels(out, labels, g, rows, c) : softmax_ce_rows(out, t, g, rows, c);
    case PlanLoss::multi_bce:
      return labels ? multi_bce_labels(out, labels, g, rows, c) : bce_with_logits_loss(out, t, g, n);
  }
  return 0;
}

template <typename T>
bool Plan<T>::update(double lr, int64_t step) {
  bool nan = false;
  for (const OptimSpec::Param& p : optim_.params) {
    T* data = static_cast<T*>(p.data);
    const T* grad = static_cast<const T*>(p.grad);
    T* s0 = static_cast<T*>(p.state[0]);
    T* s1 = static_cast<T*>(p.state[1]);
    T* s2 = static_cast<T*>(p.state[2]);
    switch (optim_.kind) {
      case PlanOptim::sgd:
        nan |= sgd_update(data, grad, s0, p.size,
                          SgdConfig{lr, optim_.momentum, optim_.dampening, p.weight_decay, optim_.nesterov, step == 1});
        break;
      case PlanOptim::rmsprop:
        nan |= rmsprop_update(data, grad, s0, s1, s2, p.size,
                              RmspropConfig{lr, optim_.alpha, optim_.eps, p.weight_decay, optim_.momentum,
                                            optim_.centered});
        break;
      case PlanOptim::adam:
        nan |= adam_update(data, grad, s0, s1, p.size,
                           AdamConfig{lr, optim_.beta1, optim_.beta2, optim_.eps, p.weight_decay, step,
                                      optim_.decoupled_weight_decay});
        break;
    }
  }
  return nan;
}

template <typename T>
double Plan<T>::train_batch(const T* x, const T* target, const int64_t* target_labels, const int64_t* labels,
                            int64_t rows, double lr, int64_t step, int64_t& correct, bool& nan_update) {
  const size_t last = steps_.size();
  const T* input = x;
  for (size_t i = 0; i < last; ++i) {
    steps_[i]->forward(input, act_[i + 1].data(), rows);
    input = act_[i + 1].data();
  }
  // The loss and the accuracy count read row-major outputs (with one output both layouts are the same).
  const int64_t c = size_.back();
  const bool transpose = fm_ && c > 1;
  const T* out = act_.back().data();
  T* g = grad_.back().data();
  if (transpose) {
    gather_rows_transposed(out, nullptr, out_rows_.data(), c, rows);
    out = out_rows_.data();
    g = grad_rows_.data();
  }
  const double batch_loss = loss(out, g, target, target_labels, rows);
  correct += count_correct(out, labels, rows, c, loss_.threshold);
  if (transpose) gather_rows_transposed(grad_rows_.data(), nullptr, grad_.back().data(), rows, c);
  const T* dy = grad_.back().data();
  for (size_t i = last; i-- > 0;) {
    const T* in = i == 0 ? x : act_[i].data();
    T* dx = need_dx_[i] ? grad_[i].data() : nullptr;
    steps_[i]->backward(in, act_[i + 1].data(), dy, dx, rows);
    dy = dx;
  }
  nan_update = update(lr, step);
  return batch_loss;
}

template <typename T>
int64_t Plan<T>::run(const EpochData<T>& d, const EpochSchedule& s, int64_t& step, double* losses,
                     int64_t* correct) {
  const int64_t n = d.n, bs = std::min(s.batch_size, n), in = size_.front(), out = size_.back();
  reserve(bs);
  const int most = num_threads();
  transposed_ = nullptr;  // the data may have changed since the last call
  int64_t k = 0;  // steps made in this call
  for (int64_t e = 0; e < s.epochs; ++e) {
    const int64_t* perm = s.perms ? s.perms + e * n : nullptr;
    double loss_sum = 0;
    int64_t right = 0;
    for (int64_t start = 0; start < n; start += bs) {
      const int64_t rows = std::min(bs, n - start);
      // Only full-size steps are timed: a smaller last batch would read as a faster choice.
      const bool full = rows == bs;
      ThreadCap cap(full ? threads_.next(most) : threads_.chosen(most));
      const bool timed = full && threads_.timing();
      const auto t0 = timed ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
      const T* x = d.x + start * in;
      const T* t = d.target ? d.target + start * out : nullptr;
      const int64_t* tl = d.target_labels ? d.target_labels + start : nullptr;
      const int64_t* lab = d.labels + start;
      if (fm_ && !perm) {
        if (transposed_ != x) {  // a full batch in order is the same every epoch: transposed once a call
          gather_rows_transposed(x, nullptr, act_[0].data(), rows, in);
          transposed_ = x;
        }
        x = act_[0].data();
      }
      if (perm) {
        const int64_t* idx = perm + start;
        if (fm_) {
          gather_rows_transposed(d.x, idx, act_[0].data(), rows, in);
          transposed_ = nullptr;
        } else {
          gather_rows(d.x, idx, act_[0].data(), rows, in);
        }
        x = act_[0].data();
        if (t) {
          gather_rows(d.target, idx, target_.data(), rows, out);
          t = target_.data();
        }
        if (tl) {
          gather_rows(d.target_labels, idx, target_labels_.data(), rows, 1);
          tl = target_labels_.data();
        }
        gather_rows(d.labels, idx, labels_.data(), rows, 1);
        lab = labels_.data();
      }
      bool nan_update = false;
      const double lr = s.lrs ? s.lrs[k] : s.lr;
      if (s.seeds) {
        for (auto& st : steps_) st->set_seed(uint64_t(s.seeds[k]));
      }
      const double batch_loss = train_batch(x, t, tl, lab, rows, lr, ++step, right, nan_update);
      ++k;
      if (timed) threads_.record(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      if (!std::isfinite(batch_loss) || nan_update) return e;
      loss_sum += batch_loss * double(rows);
    }
    losses[e] = loss_sum / double(n);
    correct[e] = right;
  }
  return s.epochs;
}

template class Plan<float>;
template class Plan<double>;

}  // namespace pydl
