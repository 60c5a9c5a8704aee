// Thread control. On a busy 2-core machine a second thread makes small work several times slower,
// so every parallel loop states the least work per thread that pays for waking one.
#pragma once
#include <cstdint>

#ifdef PYDL_HAVE_OPENMP
#include <omp.h>
#endif

namespace pydl {

// pydl's thread setting, or less on a thread inside a ThreadCap.
int num_threads();
void set_num_threads(int n);

// Caps num_threads() on the calling thread while it lives (the native training loop runs each step with
// the thread count it measured to be faster).
class ThreadCap {
 public:
  explicit ThreadCap(int most);
  ~ThreadCap();
  ThreadCap(const ThreadCap&) = delete;
  ThreadCap& operator=(const ThreadCap&) = delete;

 private:
  int previous_;
};

// Calls body(begin, end) over [0, n) split into contiguous chunks, using at most num_threads() threads
// and only as many as give each at least `min_per_thread` items. body must not throw.
template <typename Body>
void parallel_for(int64_t n, int64_t min_per_thread, Body body) {
  if (n <= 0) return;
  int64_t want = min_per_thread > 0 ? n / min_per_thread : n;
  int threads = (int)(want < num_threads() ? want : num_threads());
#ifdef PYDL_HAVE_OPENMP
  if (threads > 1) {
#pragma omp parallel num_threads(threads)
    {
      int t = omp_get_thread_num(), nt = omp_get_num_threads();
      int64_t begin = n * t / nt, end = n * (t + 1) / nt;
      if (begin < end) body(begin, end);
    }
    return;
  }
#endif
  (void)threads;
  body(0, n);
}

}  // namespace pydl
