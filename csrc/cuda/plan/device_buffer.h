// A growable device array owned by the plan: grows to the largest size asked for, then is reused.
#pragma once
#include <cstddef>
#include <utility>

#include "../runtime.h"

namespace pydl::cuda {

template <typename E>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { cudaFree(data_); }

  // At least n elements (the contents are not kept when it grows).
  E* reserve(size_t n) {
    if (n > size_) {
      cudaFree(data_);
      data_ = nullptr;
      size_ = 0;
      PYDL_CUDA_CHECK(cudaMalloc(&data_, (n ? n : 1) * sizeof(E)));
      size_ = n;
    }
    return data_;
  }
  E* data() const { return data_; }

 private:
  E* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace pydl::cuda
