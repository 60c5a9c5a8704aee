// pydl.data's augmentation kernel (twin: pydl/reference/data.py gather_transform): one sample translated
// with zero padding, mirrored and normalized in one pass (augment_api.h says exactly what it computes).
#pragma once
#include "augment_api.h"

namespace pydl {

// The function table of augment_api.h, dispatching to this CPU's instruction set on every call.
const PydlAugmentApi* augment_api();

}  // namespace pydl
