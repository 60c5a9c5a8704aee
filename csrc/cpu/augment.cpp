#include "augment.h"

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "cpu.h"

namespace pydl {

namespace generic {
#include "augment_impl.h"
}  // namespace generic

#ifdef PYDL_X86
namespace avx2 {
const PydlAugmentApi* augment_table();
}
namespace avx512 {
const PydlAugmentApi* augment_table();
}
#endif

// The table of this CPU's instruction set, looked up per sample so that set_simd_level applies at once.
static const PydlAugmentApi* current_table() {
#ifdef PYDL_X86
  switch (simd_level()) {
    case SimdLevel::avx512: return avx512::augment_table();
    case SimdLevel::avx2: return avx2::augment_table();
    default: break;
  }
#endif
  return generic::augment_table();
}

template <int kSource, int kOut>
static void dispatched(const void* img, void* out, const PydlAugmentGeometry* g, int64_t shift_y, int64_t shift_x,
                       int flip, const void* mean, const void* scale, int per_channel) {
  current_table()->sample[kSource][kOut](img, out, g, shift_y, shift_x, flip, mean, scale, per_channel);
}

const PydlAugmentApi* augment_api() {
  static const PydlAugmentApi api = {{
      {dispatched<0, 0>, dispatched<0, 1>},
      {dispatched<1, 0>, dispatched<1, 1>},
      {dispatched<2, 0>, dispatched<2, 1>},
  }};
  return &api;
}

}  // namespace pydl
