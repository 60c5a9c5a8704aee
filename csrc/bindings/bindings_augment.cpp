// pydl.data's augmentation kernel, handed to the Cython loader as a C function table in a capsule (the
// loader calls it per sample without the GIL; Python never calls it directly).
#include "augment.h"
#include "registry.h"

PYDL_BINDINGS(bind_augment) {
  m.attr("_augment_api") =
      pybind11::capsule(const_cast<PydlAugmentApi*>(pydl::augment_api()), PYDL_AUGMENT_CAPSULE);
}
