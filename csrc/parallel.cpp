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

int num_threads() { return g_threads; }

void set_num_threads(int n) {
  g_threads = n < 1 ? 1 : n;
#ifdef PYDL_HAVE_OPENMP
  omp_set_num_threads(g_threads);
#endif
}

}  // namespace pydl
