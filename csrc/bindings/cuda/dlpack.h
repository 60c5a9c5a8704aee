// The DLPack exchange structures (dlpack.h, v0.8 ABI) and the capsule a DeviceArray hands out.
#pragma once
#include <pybind11/pybind11.h>

#include <cstdint>

#include "device_array.h"

namespace pydl::cuda {

enum DLDeviceType : int32_t { kDLCPU = 1, kDLCUDA = 2 };
struct DLDevice {
  DLDeviceType device_type;
  int32_t device_id;
};
struct DLDataType {
  uint8_t code;  // 0 int, 1 uint, 2 float
  uint8_t bits;
  uint16_t lanes;
};
struct DLTensor {
  void* data;
  DLDevice device;
  int32_t ndim;
  DLDataType dtype;
  int64_t* shape;
  int64_t* strides;  // null: C-contiguous
  uint64_t byte_offset;
};
struct DLManagedTensor {
  DLTensor dl_tensor;
  void* manager_ctx;
  void (*deleter)(DLManagedTensor* self);
};

// A "dltensor" capsule viewing `a` (its memory stays alive until the consumer calls the deleter).
py::capsule to_dlpack(const DeviceArray& a);

}  // namespace pydl::cuda
