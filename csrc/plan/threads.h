// How many threads the plan's training steps use, decided by timing them.
#pragma once

namespace pydl {

// Picks the thread count of the training steps by timing them: on a busy machine a second thread can
// make a step several times slower (docs/DEVELOPING.md has the measurements). The plan times a few
// steps each way, keeps the faster for a while, and measures again sooner when its steps slow down.
// Results do not depend on the choice: every element is computed the same way on any thread count.
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
  static constexpr int kHoldOne = 100;     // the same after choosing one thread, doubled while agreeing
  static constexpr int kSampleEvery = 8;   // steps between timed ones while holding (clock reads cost)
  int most_ = 0;
  int phase_ = 0;  // < 2 kSamples: measuring (even steps with most_ threads, odd with one)
  int chosen_ = 0;  // 0 until the first measurement
  int held_ = 0, slow_ = 0;
  int hold_ = kHold;  // steps to hold the current choice
  double baseline_ = 0;  // the chosen count's median step time when it was chosen
  double samples_[2][kSamples] = {};
};

}  // namespace pydl
