// Bindings of the dropout kernels on DeviceArrays: the signatures and checks of pydl/reference/dropout.py.
#include <string>

#include "cuda/dropout.h"
#include "check.h"
#include "device_check.h"
#include "registry.h"

namespace pydl::cuda {
namespace {

std::string num(double v) { return py::str(py::float_(v)); }  // as Python prints it, like the reference

py::tuple dropout_forward_py(const py::object& x_obj, const py::object& p_obj, const py::object& seed_obj,
                             const py::object& out_obj, const py::object& mask_obj) {
  const char* fn = "dropout_forward";
  const DeviceArray x = float_input(fn, "x", x_obj);
  const double p = float_arg(fn, "p", p_obj);
  if (!(p >= 0 && p < 1)) value_error(std::string(fn) + ": p must lie in [0, 1), got " + num(p));
  const int64_t seed = int_arg(fn, "seed", seed_obj);
  if (seed < 0) value_error(std::string(fn) + ": seed must be >= 0, got " + std::to_string(seed));
  const DeviceArray out = float_output(fn, "out", out_obj, x.shape, x);
  const DeviceArray mask = float_output(fn, "mask", mask_obj, x.shape, x);
  no_overlap(fn, "out", out, "x", x, true);
  no_overlap(fn, "mask", mask, "x", x);
  no_overlap(fn, "mask", mask, "out", out);
  reject_nan(fn, "x", x);
  {
    py::gil_scoped_release nogil;
    by_dtype(x, [&](auto zero) {
      using T = decltype(zero);
      dropout_forward<T>(x.ptr<T>(), out.ptr<T>(), mask.ptr<T>(), x.size(), p, uint64_t(seed), stream());
    });
  }
  check_launch(fn);
  return py::make_tuple(result(out_obj, out), result(mask_obj, mask));
}

py::object dropout_backward_py(const py::object& dy_obj, const py::object& mask_obj, const py::object& out_obj) {
  const char* fn = "dropout_backward";
  const DeviceArray dy = float_input(fn, "dy", dy_obj);
  const DeviceArray mask = float_input(fn, "mask", mask_obj);
  same_dtype(fn, "mask", mask, "dy", dy);
  same_shape(fn, "mask", mask, dy.shape);
  const DeviceArray out = float_output(fn, "out", out_obj, dy.shape, dy);
  no_overlap(fn, "out", out, "dy", dy, true);
  no_overlap(fn, "out", out, "mask", mask, true);
  reject_nan(fn, "dy", dy);
  reject_nan(fn, "mask", mask);
  {
    py::gil_scoped_release nogil;
    by_dtype(dy, [&](auto zero) {
      using T = decltype(zero);
      dropout_backward<T>(dy.ptr<T>(), mask.ptr<T>(), out.ptr<T>(), dy.size(), stream());
    });
  }
  check_launch(fn);
  return result(out_obj, out);
}

}  // namespace
}  // namespace pydl::cuda

PYDL_BINDINGS(bind_dropout) {
  using namespace pydl::cuda;
  using py::arg;
  const auto none = py::none();
  m.def("dropout_forward", &dropout_forward_py, arg("x"), arg("p"), arg("seed"), arg("out") = none,
        arg("mask") = none,
        "Inverted dropout: mask = 1/(1-p) where bits(seed, i) >= p * 2**32 else 0 (the CPU's counter-based bits\n"
        "of the seed and the flat index), out = x * mask. Returns (out, mask).");
  m.def("dropout_backward", &dropout_backward_py, arg("dy"), arg("mask"), arg("out") = none, "dx = dy * mask.");
}
