// A whole training epoch in C++: batching, forward, loss, backward and optimizer update for a stack of
// dense and activation layers, without returning to Python between steps. The small networks of the
// course reports spend almost all their time in per-step Python overhead; this removes it.
//
// Parameters, their gradients and the optimizer state are the caller's arrays, used in place, so the
// Python training path and this engine can alternate on one network. bindings_trainer.cpp validates
// everything; the engine assumes valid input, runs without the GIL and throws only std::bad_alloc
// (when its buffers grow for a larger batch).
#pragma once
#include <cstdint>
#include <vector>

namespace pydl {

enum class TrainOp { dense, sigmoid, relu, tanh, softmax };
enum class TrainLoss { mse, bce, bce_with_logits, cross_entropy, multi_bce };
enum class TrainOptim { sgd, rmsprop, adam };

// One parameter array, its gradient (written by backward) and its optimizer state; unused state is null.
// weight_decay already includes the network's L2 term (PyTorch weight_decay + 2 lambda for weights).
template <typename T>
struct TrainParam {
  T* data = nullptr;
  T* grad = nullptr;
  T* state[3] = {nullptr, nullptr, nullptr};  // sgd: momentum; rmsprop: square_avg, momentum, grad_avg; adam: m, v
  int64_t size = 0;
  double weight_decay = 0;
};

template <typename T>
struct TrainLayer {
  TrainOp op;
  int64_t in, out;  // features in and out (equal for activations)
  double clip = 0;  // sigmoid: clip the output to [clip, 1 - clip] when > 0
  TrainParam<T> w, b;  // dense: w (in, out); b.data null without bias
};

struct TrainOptimConfig {
  TrainOptim kind;
  double momentum = 0, dampening = 0;  // sgd (momentum also rmsprop)
  bool nesterov = false;
  double alpha = 0.99, eps = 1e-8;  // rmsprop (eps also adam)
  bool centered = false;
  double beta1 = 0.9, beta2 = 0.999;  // adam
};

// One epoch's data, all C-contiguous: x (n, features); the target either float (n, outputs) or, for
// cross_entropy and multi_bce, integer labels (n,) in target_labels (target then null). Batches are
// rows perm[i:i+batch_size] (rows i:i+batch_size without perm), the last one smaller.
template <typename T>
struct TrainEpoch {
  const T* x;
  int64_t n, features;
  const T* target;
  const int64_t* target_labels;
  const int64_t* perm;
  int64_t batch_size;
  double lr;
  bool same_data;      // x and target are the arrays of the previous epoch, unchanged since
  bool binary_target;  // every float target is 0 or 1
};

struct TrainStats {
  double loss_sum = 0;  // sum over batches of (batch mean loss) * (batch size), as the Python path sums
  int64_t correct = 0;
  int64_t nan_param = -1;  // >= 0: the update of that parameter (layer order, W before b) met a NaN gradient
};

// Picks the thread count of the training steps by timing them. On an idle 2-core machine two threads
// are faster (MNIST MLP epoch 0.45 s against 0.69 s on one), but while another process keeps a core
// busy every join of a threaded product waits for a time slice and the same epoch took 1.6-3.2 s on two.
// So the loop times a few steps each way, keeps the faster for a while, and measures again sooner when
// its steps slow down. Results do not depend on the choice: every element is computed the same way on
// any number of threads.
class ThreadChooser {
 public:
  // Threads for the next full-size step, at most `most`; when timing() says so, record() its time.
  int next(int most);
  bool timing() const { return most_ > 1 && (phase_ < 2 * kSamples || held_ % kSampleEvery == 0); }
  void record(double seconds);
  // Threads for an untimed step: the current choice.
  int chosen(int most) const { return most == most_ && phase_ >= 2 * kSamples ? chosen_ : most; }

 private:
  static constexpr int kSamples = 3;       // steps each way per measurement
  static constexpr int kHold = 500;        // steps between measurements
  static constexpr int kHoldOne = 100;     // the same after choosing one thread (a choice misled by a
                                           // stall while measuring then costs few steps), doubled
                                           // each time the next measurement agrees, up to kHold:
                                           // with a core busy, each two-thread step measured cost
                                           // 3-50 ms against 1.3-1.9 ms on one (MNIST MLP, batch 100)
  static constexpr int kSampleEvery = 8;   // steps between timed ones while holding (a clock read costs
                                           // ~5% of a batch-1 step of the 2 -> 3 -> 1 network)
  int most_ = 0;
  int phase_ = 0;  // < 2 kSamples: measuring (even steps with most_ threads, odd with one)
  int chosen_ = 0;  // 0 until the first measurement
  int held_ = 0, slow_ = 0;
  int hold_ = kHold;  // steps to hold the current choice
  double baseline_ = 0;  // the chosen count's median step time when it was chosen
  double samples_[2][kSamples] = {};
};

template <typename T>
class Trainer {
 public:
  Trainer(std::vector<TrainLayer<T>> layers, TrainLoss loss, double bce_eps, const TrainOptimConfig& opt);
  // Runs the epoch; `step` is the optimizer's step count, advanced by one per batch. Stops after the
  // update that met a NaN gradient (stats.nan_param says which).
  TrainStats run_epoch(const TrainEpoch<T>& e, int64_t& step);

 private:
  friend struct TrainerIsa;  // trainer.cpp: epoch() compiled once per instruction set
  TrainStats epoch(const TrainEpoch<T>& e, int64_t& step);
  void reserve(int64_t rows);
  void gather(const TrainEpoch<T>& e, int64_t start, int64_t rows);
  double loss_and_grad(int64_t rows);
  int64_t count_correct(int64_t rows) const;
  void forward(int64_t rows);
  void backward(int64_t rows);
  int64_t update(double lr, int64_t step);

  std::vector<TrainLayer<T>> layers_;
  TrainLoss loss_;
  double bce_eps_;
  TrainOptimConfig opt_;
  std::vector<bool> need_dx_;  // layer i must produce d/d(input): some earlier layer has parameters
  int64_t capacity_ = 0;      // rows the buffers hold
  // Activations and their gradients are stored feature-major (features x rows): the narrow layers of
  // the reports then vectorise across the batch, and the wide ones are still plain GEMMs.
  // Networks with a dense layer too wide for the plain loops (kSmallDense) store everything row-major
  // (rows x features) instead: their GEMMs then run in the orientation the Python layer uses, which
  // tiles better (100 x 784 times 784 x 256: 239 us vs 281 us as 256 x 784 times 784 x 100), and a
  // batch is gathered with one copy per sample.
  bool rm_ = false;
  std::vector<std::vector<T>> act_, grad_;
  std::vector<T> target_, scratch_;  // scratch_: two values per row (softmax, cross-entropy)
  std::vector<double> terms_;         // per-element loss terms of the batch
  std::vector<T> bce_terms_;          // the same for BCE, whose terms are T values
  std::vector<double> col_sums_;      // row-major bias gradients, summed in double
  std::vector<const TrainParam<T>*> params_;  // the trained parameters in layer order, W before b
  std::vector<int64_t> param_start_;          // params_[i] is elements [param_start_[i], param_start_[i + 1])
  std::vector<int> param_nan_;                // update(): params_[i] met a NaN gradient
  std::vector<int64_t> target_labels_;
  bool lab_mode_ = false;  // this epoch's target is integer labels
  bool binary_target_ = false;
  bool fused_sigmoid_bce_ = false;  // a final sigmoid's backward is folded into the BCE gradient
  const T* holds_all_of_ = nullptr;  // the buffers hold all of this x (and its target), in order
  ThreadChooser threads_;
};

}  // namespace pydl
