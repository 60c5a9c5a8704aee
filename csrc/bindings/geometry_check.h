// The convolution and pooling geometry of the bindings' arguments, checked from shapes alone, so the CPU
// bindings and the CUDA bindings refuse the same geometries with the same messages (reference/conv.py's).
#pragma once
#include <pybind11/pybind11.h>

#include "check.h"
#include "conv.h"

namespace pydl {

// x (N, C_in, H, W), w (C_out, C_in, kH, kW) with stride and padding (ints or pairs): the geometry, or
// ValueError when the channels differ, the kernel does not fit or the padded sample would be absurd.
ConvGeom conv_geom(const char* fn, const Shape& x, const Shape& w, const py::handle& stride_obj,
                   const py::handle& padding_obj);
Shape conv_out_shape(const ConvGeom& g);

// Pool geometry from the input's (N, C, H, W); stride None means the kernel size (PyTorch's default).
PoolGeom pool_geom(const char* fn, const Shape& x_shape, const py::handle& kernel_obj, const py::handle& stride_obj,
                   const py::handle& padding_obj);
// x_shape argument of the pooling backwards: 4 positive ints whose product is an allocatable size.
Shape pool_x_shape(const char* fn, const py::handle& obj, int64_t itemsize);
Shape pool_out_shape(const Shape& x_shape, const PoolGeom& g);

}  // namespace pydl
