// A fixed number of values as one GCC vector, loaded and stored at any alignment: the lane loops that
// GCC would otherwise assemble from scalar loads. Included inside an ISA namespace by the *_impl.h files
// that use it (needs <cstdint>), so each instruction set gets its own copy.

// kLanes values of T (the instruction set's register when kLanes * sizeof(T) fits it).
template <typename T, int kLanes>
struct Lanes {
  typedef T type __attribute__((vector_size(kLanes * sizeof(T))));
};

template <typename V, typename T>
static inline V load_lanes(const T* p) {
  V v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}

template <typename T, typename V>
static inline void store_lanes(T* p, V v) {
  __builtin_memcpy(p, &v, sizeof v);
}
