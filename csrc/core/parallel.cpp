#include "parallel.h"

#include <cstdlib>

namespace pydl {

static int initial_threads() {
#ifdef PYDL_HAVE_OPENMP
  return omp_get_max_threads();  // honours OMP_NUM_THREADS
#else
  return 1;
#endif
}

static int g_threads = initial_threads();

static thread_local int t_cap = 0;  // 0: no cap

int num_threads() { return t_cap > 0 && t_cap < g_threads ? t_cap : g_threads; }

ThreadCap::ThreadCap(int most) : previous_(t_cap) { t_cap = most; }
ThreadCap::~ThreadCap() { t_cap = previous_; }

void set_num_threads(int n) {
  g_threads = n < 1 ? 1 : n;
#ifdef PYDL_HAVE_OPENMP
  omp_set_num_threads(g_threads);
#endif
}

}  // namespace pydl
