/* The per-sample kernel of pydl.data's batch gather as a C function table: _core hands it to the Cython
   loader in a capsule, so the loader's nogil loops call the kernels of the CPU's instruction set, chosen
   by the same dispatch as every other kernel. Plain C: Cython includes it. */
#ifndef PYDL_AUGMENT_API_H
#define PYDL_AUGMENT_API_H
#include <stdint.h>

#define PYDL_AUGMENT_CAPSULE "pydl._core.augment_api"

/* A sample (channels, height, width) becomes (channels, out_height, out_width). */
typedef struct PydlAugmentGeometry {
  int64_t channels, height, width, out_height, out_width;
} PydlAugmentGeometry;

/* out[c, i, j] = img[c, i + shift_y, j' + shift_x], j' = out_width - 1 - j when flip (else j), 0 outside the
   image; then (v - mean[f]) * scale[f] for each output feature f when mean is not NULL. img: the source
   dtype, out, mean, scale: the output dtype; out overlaps nothing. */
typedef void (*PydlAugmentSampleFn)(const void* img, void* out, const PydlAugmentGeometry* g, int64_t shift_y,
                                    int64_t shift_x, int flip, const void* mean, const void* scale);

/* sample[source][output]: source 0 uint8, 1 float32, 2 float64; output 0 float32, 1 float64. */
typedef struct PydlAugmentApi {
  PydlAugmentSampleFn sample[3][2];
} PydlAugmentApi;

#endif
