#include "plan/threads.h"

#include <algorithm>

namespace pydl {

int ThreadChooser::next(int most) {
  if (most != most_) {  // the setting changed: measure afresh
    most_ = most;
    phase_ = 0;
  }
  if (most_ <= 1) return 1;
  if (phase_ >= 2 * kSamples && ++held_ > hold_) phase_ = 0;  // time to measure again
  if (phase_ < 2 * kSamples) return phase_ % 2 == 0 ? most_ : 1;
  return chosen_;
}

void ThreadChooser::record(double seconds) {
  if (phase_ < 2 * kSamples) {
    samples_[phase_ % 2][phase_ / 2] = seconds;
    if (++phase_ < 2 * kSamples) return;
    double median[2];
    for (int s = 0; s < 2; ++s) {
      double* v = samples_[s];
      std::sort(v, v + kSamples);
      median[s] = v[kSamples / 2];
    }
    // One thread only when clearly faster: a stalled step while measuring must not cost the next kHold.
    const int previous = chosen_;
    chosen_ = median[1] < 0.9 * median[0] ? 1 : most_;
    hold_ = chosen_ != 1 ? kHold : previous == 1 ? std::min(2 * hold_, kHold) : kHoldOne;
    baseline_ = std::min(median[0], median[1]);
    held_ = slow_ = 0;
    return;
  }
  slow_ = seconds > 2 * baseline_ ? slow_ + 1 : 0;
  if (slow_ >= kSamples) phase_ = 0;  // the machine got busier (or quieter): measure again now
}

}  // namespace pydl
