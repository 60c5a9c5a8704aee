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
   image; then (v - mean[k]) * scale[k] when mean is not NULL, with k = c when per_channel (mean and scale
   hold one value per channel), else k = the output feature (c, i, j) (one value per output feature).
   img: the source dtype, out, mean, scale: the output dtype; out overlaps nothing. */
typedef void (*PydlAugmentSampleFn)(const void* img, void* out, const PydlAugmentGeometry* g, int64_t shift_y,
                                    int64_t shift_x, int flip, const void* mean, const void* scale,
                                    int per_channel);

/* sample[source][output]: source 0 uint8, 1 float32, 2 float64; output 0 float32, 1 float64. */
typedef struct PydlAugmentApi {
  PydlAugmentSampleFn sample[3][2];
} PydlAugmentApi;

/* Asks L2 for the first bytes (at most 16 KB) of the next sample's image while this one is transformed: a
   shuffled epoch reads its images in random order, where the hardware's prefetchers cannot guess the next
   one (they follow the rest of a larger image once it is being read). */
static inline void pydl_prefetch(const void* p, int64_t n) {
  const char* line = (const char*)((uintptr_t)p & ~(uintptr_t)63);
  const char* end = (const char*)p + (n < 16384 ? n : 16384);
  for (; line < end; line += 64) __builtin_prefetch(line, 0, 1);
}

#endif
