// Bindings for dropout: argument checks, then the kernel with the GIL released.
#include <string>

#include "check.h"
#include "dropout.h"
#include "registry.h"

namespace pydl {
namespace {

py::tuple dropout_forward_py(const py::object& x_obj, const py::object& p_obj, const py::object& seed_obj,
                             const py::object& out_obj, const py::object& mask_obj) {
  const char* fn = "dropout_forward";
  py::array x = float_input(fn, "x", x_obj);
  const double p = float_arg(fn, "p", p_obj);
  if (!(p >= 0 && p < 1)) value_error(std::string(fn) + ": p must lie in [0, 1), got " + std::to_string(p));
  const int64_t seed = int_arg(fn, "seed", seed_obj);
  if (seed < 0) value_error(std::string(fn) + ": seed must be >= 0, got " + std::to_string(seed));
  py::array out = float_output(fn, "out", out_obj, shape_vec(x), x);
  py::array mask = float_output(fn, "mask", mask_obj, shape_vec(x), x);
  no_overlap(fn, "out", out, "x", x, /*allow_same=*/true);
  no_overlap(fn, "mask", mask, "x", x);
  no_overlap(fn, "mask", mask, "out", out);
  reject_nan(fn, "x", x);
  {
    py::gil_scoped_release nogil;
    by_dtype(x, [&](auto zero) {
      using T = decltype(zero);
      dropout_forward<T>(cptr<T>(x), ptr<T>(out), ptr<T>(mask), x.size(), p, uint64_t(seed));
    });
  }
  return py::make_tuple(out, mask);
}

py::array dropout_backward_py(const py::object& dy_obj, const py::object& mask_obj, const py::object& out_obj) {
  const char* fn = "dropout_backward";
  py::array dy = float_input(fn, "dy", dy_obj);
  py::array mask = float_input(fn, "mask", mask_obj);
  same_dtype(fn, "mask", mask, "dy", dy);
  same_shape(fn, "mask", mask, shape_vec(dy));
  py::array out = float_output(fn, "out", out_obj, shape_vec(dy), dy);
  no_overlap(fn, "out", out, "dy", dy, /*allow_same=*/true);
  no_overlap(fn, "out", out, "mask", mask, /*allow_same=*/true);
  reject_nan(fn, "dy", dy);
  reject_nan(fn, "mask", mask);
  {
    py::gil_scoped_release nogil;
    by_dtype(dy, [&](auto zero) {
      using T = decltype(zero);
      dropout_backward<T>(cptr<T>(dy), cptr<T>(mask), ptr<T>(out), dy.size());
    });
  }
  return out;
}

}  // namespace

PYDL_BINDINGS(bind_dropout) {
  using py::arg;
  const auto none = py::none();
  m.def("dropout_forward", &dropout_forward_py, arg("x"), arg("p"), arg("seed"), arg("out") = none,
        arg("mask") = none,
        "Inverted dropout: mask = 1/(1-p) where bits(seed, i) >= p * 2**32 else 0 (bits: 32 counter-based random\n"
        "bits of the seed and the element's flat index, 0 <= seed < 2**63), out = x * mask. 0 <= p < 1.\n"
        "Returns (out, mask).");
  m.def("dropout_backward", &dropout_backward_py, arg("dy"), arg("mask"), arg("out") = none,
        "dx = dy * mask, mask from dropout_forward. Returns out (may be dy itself).");
}

}  // namespace pydl
