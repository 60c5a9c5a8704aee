// Losses, float32 and float64. Each loss kernel is one grid-stride pass that writes grad and leaves
// one partial loss sum per block; loss_finish_kernel (one block) then adds the partials in a fixed
// order into *loss_out, so the same inputs give the same bits whatever the thread order.
//   mse_kernel                pred (n), target (n)          -> grad (n), partial[block] = sum (p - t)^2
//   bce_kernel                prob (n), target (n)          -> grad (n), partial[block] = sum t log p + (1-t) log(1-p)
//   bce_logits_kernel         logits (n), target (n)        -> grad (n), partial[block] = sum of the stable BCE terms
//   multi_bce_labels_kernel   logits (n, c), labels (n)     -> grad (n, c), the same terms against one-hot rows
//   softmax_ce_labels_kernel  logits (n, c), labels (n)     -> grad (n, c), partial[block] = sum of -log p[label]
//   softmax_ce_rows_kernel    logits (n, c), target (n, c)  -> grad (n, c), partial[block] = sum of -t . log p
//   loss_finish_kernel        partial (blocks)              -> *loss_out (= or +=) scale * sum(partial)
#include "runtime.h"

#include "device_math.h"
#include "losses.h"

namespace pydl::cuda {
namespace {

// Adds v over the block's threads in a fixed tree order; every thread gets the sum.
// Needs blockDim.x == kThreads and s a __shared__ array of kThreads doubles.
__device__ double block_sum(double* s, double v) {
  s[threadIdx.x] = v;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (int(threadIdx.x) < half) s[threadIdx.x] += s[threadIdx.x + half];
    __syncthreads();
  }
  return s[0];
}

__device__ __forceinline__ int64_t first_index() { return int64_t(blockIdx.x) * kThreads + threadIdx.x; }
__device__ __forceinline__ int64_t grid_stride() { return int64_t(gridDim.x) * kThreads; }

template <typename T>
__global__ void mse_kernel(const T* __restrict__ pred, const T* __restrict__ target, T* __restrict__ grad,
                           int64_t n, double* __restrict__ partial) {
  __shared__ double sums[kThreads];
  const double scale = 2.0 / double(n);
  double sum = 0;
  for (int64_t i = first_index(); i < n; i += grid_stride()) {
    const double d = double(pred[i]) - double(target[i]);
    sum += d * d;
    grad[i] = T(scale * d);
  }
  sum = block_sum(sums, sum);
  if (threadIdx.x == 0) partial[blockIdx.x] = sum;
}

// The gradient is taken at the clipped probability, so a saturated unit still gets a bounded one. Terms
// and gradient in T, element by element as the CPU kernel and the twin (pydl/reference/losses.py) do: a
// 0/1 target takes log q, q = t p + (1 - t)(1 - p), and ((1 - 2t) / n) / q while both clip bounds lie
// inside (0, 1); other targets t log p + (1 - t) log(1 - p) and (p - t) / (p (1 - p)) / n.
template <typename T>
__global__ void bce_kernel(const T* __restrict__ prob, const T* __restrict__ target, T* __restrict__ grad,
                           int64_t n, double eps, double* __restrict__ partial) {
  __shared__ double sums[kThreads];
  // Clip in the input's precision, as the reference does: 1 - eps rounds differently in float32.
  const T lo = T(eps), hi = T(1) - T(eps);
  const T inv_n = T(1.0 / double(n));
  const bool inside = lo > T(0) && hi < T(1);
  double sum = 0;
  for (int64_t i = first_index(); i < n; i += grid_stride()) {
    const T p = dfmin(dfmax(prob[i], lo), hi), t = target[i];
    const T q = t * p + (1 - t) * (1 - p);
    const bool hard = inside && (t == T(0) || t == T(1));
    sum += double(hard ? dlog(q) : t * dlog(p) + (1 - t) * dlog(1 - p));
    grad[i] = hard ? ((1 - 2 * t) * inv_n) / q : (p - t) / (p * (1 - p)) * inv_n;
  }
  sum = block_sum(sums, sum);
  if (threadIdx.x == 0) partial[blockIdx.x] = sum;
}

// max(z, 0) - z t + log1p(exp(-|z|)) never overflows; *sig gets sigmoid(z), the gradient's part.
__device__ __forceinline__ double bce_logit_term(double z, double t, double* sig) {
  const double e = dexp(-dfabs(z));
  *sig = z >= 0 ? 1 / (1 + e) : e / (1 + e);
  return dfmax(z, 0.0) - z * t + dlog1p(e);
}

template <typename T>
__global__ void bce_logits_kernel(const T* __restrict__ logits, const T* __restrict__ target,
                                  T* __restrict__ grad, int64_t n, double* __restrict__ partial) {
  __shared__ double sums[kThreads];
  const double inv_n = 1.0 / double(n);
  double sum = 0, sig;
  for (int64_t i = first_index(); i < n; i += grid_stride()) {
    const double t = double(target[i]);
    sum += bce_logit_term(double(logits[i]), t, &sig);
    grad[i] = T((sig - t) * inv_n);
  }
  sum = block_sum(sums, sum);
  if (threadIdx.x == 0) partial[blockIdx.x] = sum;
}

template <typename T>
__global__ void multi_bce_labels_kernel(const T* __restrict__ logits, const int64_t* __restrict__ labels,
                                        T* __restrict__ grad, int64_t n, int64_t c,
                                        double* __restrict__ partial) {
  __shared__ double sums[kThreads];
  const int64_t total = n * c;
  const double inv = 1.0 / double(total);
  double sum = 0, sig;
  for (int64_t i = first_index(); i < total; i += grid_stride()) {
    const double t = labels[i / c] == i % c ? 1.0 : 0.0;
    sum += bce_logit_term(double(logits[i]), t, &sig);
    grad[i] = T((sig - t) * inv);
  }
  sum = block_sum(sums, sum);
  if (threadIdx.x == 0) partial[blockIdx.x] = sum;
}

// One thread per row: the plan's class counts are small (10), so a row's max and sum stay in registers.
// The loss is taken from (z - max) - log_sum, never (log_sum + max) - z, whose rounding at |z| ~ 1e16
// swallows log_sum entirely.
template <typename T>
__global__ void softmax_ce_labels_kernel(const T* __restrict__ logits, const int64_t* __restrict__ labels,
                                         T* __restrict__ grad, int64_t n, int64_t c,
                                         double* __restrict__ partial) {
  __shared__ double sums[kThreads];
  const double inv_n = 1.0 / double(n);
  double sum = 0;
  for (int64_t r = first_index(); r < n; r += grid_stride()) {
    const T* z = logits + r * c;
    T* g = grad + r * c;
    const int64_t label = labels[r];
    double mx = double(z[0]);
    for (int64_t j = 1; j < c; ++j) mx = dfmax(mx, double(z[j]));
    double exp_sum = 0;
    for (int64_t j = 0; j < c; ++j) exp_sum += dexp(double(z[j]) - mx);
    const double inv_sum = 1 / exp_sum;
    for (int64_t j = 0; j < c; ++j) {
      g[j] = T((dexp(double(z[j]) - mx) * inv_sum - (j == label ? 1.0 : 0.0)) * inv_n);
    }
    sum += dlog(exp_sum) - (double(z[label]) - mx);
  }
  sum = block_sum(sums, sum);
  if (threadIdx.x == 0) partial[blockIdx.x] = sum;
}

template <typename T>
__global__ void softmax_ce_rows_kernel(const T* __restrict__ logits, const T* __restrict__ target,
                                       T* __restrict__ grad, int64_t n, int64_t c, double* __restrict__ partial) {
  __shared__ double sums[kThreads];
  const double inv_n = 1.0 / double(n);
  double sum = 0;
  for (int64_t r = first_index(); r < n; r += grid_stride()) {
    const T* z = logits + r * c;
    const T* t = target + r * c;
    T* g = grad + r * c;
    double mx = double(z[0]);
    for (int64_t j = 1; j < c; ++j) mx = dfmax(mx, double(z[j]));
    double exp_sum = 0, t_sum = 0;
    for (int64_t j = 0; j < c; ++j) {
      exp_sum += dexp(double(z[j]) - mx);
      t_sum += double(t[j]);
    }
    const double log_sum = dlog(exp_sum), inv_sum = 1 / exp_sum;
    for (int64_t j = 0; j < c; ++j) {
      const double tj = double(t[j]);
      // A zero target contributes nothing, even where the log-probability underflows to -inf.
      if (tj != 0) sum -= tj * ((double(z[j]) - mx) - log_sum);
      // d/dz of -sum_j t_j log p_j is p * sum(t) - t: p - t when the targets sum to one.
      g[j] = T((dexp(double(z[j]) - mx) * inv_sum * t_sum - tj) * inv_n);
    }
  }
  sum = block_sum(sums, sum);
  if (threadIdx.x == 0) partial[blockIdx.x] = sum;
}

__global__ void loss_finish_kernel(const double* __restrict__ partial, int count, double scale, bool accumulate,
                                   double* __restrict__ loss_out) {
  __shared__ double sums[kThreads];
  double sum = 0;
  for (int i = threadIdx.x; i < count; i += kThreads) sum += partial[i];
  sum = block_sum(sums, sum);
  if (threadIdx.x == 0) *loss_out = (accumulate ? *loss_out : 0.0) + sum * scale;
}

void finish(int blocks, double scale, double* loss_out, bool accumulate, double* workspace, cudaStream_t stream) {
  PYDL_LAUNCH(loss_finish_kernel, 1, kThreads, stream, workspace, blocks, scale, accumulate, loss_out);
}

}  // namespace

template <typename T>
void mse_loss(const T* pred, const T* target, T* grad, int64_t n, double* loss_out, bool accumulate,
              double* workspace, cudaStream_t stream) {
  const int blocks = grid_for(n);
  PYDL_LAUNCH(mse_kernel<T>, blocks, kThreads, stream, pred, target, grad, n, workspace);
  finish(blocks, 1.0 / double(n), loss_out, accumulate, workspace, stream);
}

template <typename T>
void bce_loss(const T* prob, const T* target, T* grad, int64_t n, double eps, double* loss_out, bool accumulate,
              double* workspace, cudaStream_t stream) {
  const int blocks = grid_for(n);
  PYDL_LAUNCH(bce_kernel<T>, blocks, kThreads, stream, prob, target, grad, n, eps, workspace);
  finish(blocks, -1.0 / double(n), loss_out, accumulate, workspace, stream);
}

template <typename T>
void bce_with_logits_loss(const T* logits, const T* target, T* grad, int64_t n, double* loss_out,
                          bool accumulate, double* workspace, cudaStream_t stream) {
  const int blocks = grid_for(n);
  PYDL_LAUNCH(bce_logits_kernel<T>, blocks, kThreads, stream, logits, target, grad, n, workspace);
  finish(blocks, 1.0 / double(n), loss_out, accumulate, workspace, stream);
}

template <typename T>
void softmax_ce_labels(const T* logits, const int64_t* labels, T* grad, int64_t n, int64_t c, double* loss_out,
                       bool accumulate, double* workspace, cudaStream_t stream) {
  const int blocks = grid_for(n);
  PYDL_LAUNCH(softmax_ce_labels_kernel<T>, blocks, kThreads, stream, logits, labels, grad, n, c, workspace);
  finish(blocks, 1.0 / double(n), loss_out, accumulate, workspace, stream);
}

template <typename T>
void softmax_ce_rows(const T* logits, const T* target, T* grad, int64_t n, int64_t c, double* loss_out,
                     bool accumulate, double* workspace, cudaStream_t stream) {
  const int blocks = grid_for(n);
  PYDL_LAUNCH(softmax_ce_rows_kernel<T>, blocks, kThreads, stream, logits, target, grad, n, c, workspace);
  finish(blocks, 1.0 / double(n), loss_out, accumulate, workspace, stream);
}

template <typename T>
void multi_bce_labels(const T* logits, const int64_t* labels, T* grad, int64_t n, int64_t c, double* loss_out,
                      bool accumulate, double* workspace, cudaStream_t stream) {
  const int blocks = grid_for(n * c);
  PYDL_LAUNCH(multi_bce_labels_kernel<T>, blocks, kThreads, stream, logits, labels, grad, n, c, workspace);
  finish(blocks, 1.0 / double(n * c), loss_out, accumulate, workspace, stream);
}

#define PYDL_INSTANTIATE(T)                                                                                   \
  template void mse_loss<T>(const T*, const T*, T*, int64_t, double*, bool, double*, cudaStream_t);           \
  template void bce_loss<T>(const T*, const T*, T*, int64_t, double, double*, bool, double*, cudaStream_t);   \
  template void bce_with_logits_loss<T>(const T*, const T*, T*, int64_t, double*, bool, double*, cudaStream_t); \
  template void softmax_ce_labels<T>(const T*, const int64_t*, T*, int64_t, int64_t, double*, bool, double*,  \
                                     cudaStream_t);                                                           \
  template void softmax_ce_rows<T>(const T*, const T*, T*, int64_t, int64_t, double*, bool, double*,          \
                                   cudaStream_t);                                                             \
  template void multi_bce_labels<T>(const T*, const int64_t*, T*, int64_t, int64_t, double*, bool, double*,   \
                                    cudaStream_t);
PYDL_INSTANTIATE(float)
PYDL_INSTANTIATE(double)
#undef PYDL_INSTANTIATE

}  // namespace pydl::cuda
