// Loss launchers (losses.cu). Each writes d(loss)/d(input) into grad and the mean loss, summed in
// double in a fixed order, into the device scalar *loss_out (added to it when accumulate is set, so a
// training loop can sum an epoch's losses on the device). workspace: kLossWorkspace device doubles for
// the per-block partial sums. Inputs are assumed valid (the bindings check them); nothing is copied back.
#pragma once
#include <cstdint>

#include "runtime.h"

namespace pydl::cuda {

// One partial sum per block: a loss launches at most kMaxBlocks.
constexpr int64_t kLossWorkspace = kMaxBlocks;

template <typename T>
void mse_loss(const T* pred, const T* target, T* grad, int64_t n, double* loss_out, bool accumulate,
              double* workspace, cudaStream_t stream);
// prob clipped to [eps, 1 - eps] in T, as the CPU kernel does.
template <typename T>
void bce_loss(const T* prob, const T* target, T* grad, int64_t n, double eps, double* loss_out, bool accumulate,
              double* workspace, cudaStream_t stream);
template <typename T>
void bce_with_logits_loss(const T* logits, const T* target, T* grad, int64_t n, double* loss_out,
                          bool accumulate, double* workspace, cudaStream_t stream);
// Softmax cross-entropy over the rows of an n x c matrix against integer labels or target rows.
template <typename T>
void softmax_ce_labels(const T* logits, const int64_t* labels, T* grad, int64_t n, int64_t c, double* loss_out,
                       bool accumulate, double* workspace, cudaStream_t stream);
template <typename T>
void softmax_ce_rows(const T* logits, const T* target, T* grad, int64_t n, int64_t c, double* loss_out,
                     bool accumulate, double* workspace, cudaStream_t stream);
// One sigmoid per class against the one-hot rows of integer labels (rows: bce_with_logits_loss).
template <typename T>
void multi_bce_labels(const T* logits, const int64_t* labels, T* grad, int64_t n, int64_t c, double* loss_out,
                      bool accumulate, double* workspace, cudaStream_t stream);

}  // namespace pydl::cuda
