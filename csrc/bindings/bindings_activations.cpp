// Bindings for the activations: argument checks, then the kernel with the GIL released.
#include "activations.h"
#include "check.h"
#include "registry.h"

namespace pydl {
namespace {

double slope_arg(const char* fn, const py::handle& obj, const py::array& like) {
  const double slope = float_arg(fn, "negative_slope", obj);
  // A negative slope would make the output's sign ambiguous, and backward works from the output.
  if (!(slope >= 0)) value_error(std::string(fn) + ": negative_slope must be >= 0, got " + std::to_string(slope));
  fits_dtype(fn, "negative_slope", slope, like);
  return slope;
}

// slope_obj: LeakyReLU's negative_slope (act is then ignored); null for the other activations.
py::array unary(const char* fn, Activation act, const py::object& x_obj, const py::object& out_obj,
                double clip = 0, const py::object* slope_obj = nullptr) {
  py::array x = float_input(fn, "x", x_obj);
  const bool leaky = slope_obj != nullptr;
  const double slope = leaky ? slope_arg(fn, *slope_obj, x) : 0.0;
  py::array out = float_output(fn, "out", out_obj, shape_vec(x), x);
  no_overlap(fn, "out", out, "x", x, /*allow_same=*/true);
  // A given out must stay untouched when x holds NaN; a fresh one may be dropped after the fused check.
  if (!out_obj.is_none()) reject_nan(fn, "x", x);
  bool nan;
  {
    py::gil_scoped_release nogil;
    nan = by_dtype(x, [&](auto zero) {
      using T = decltype(zero);
      if (leaky) return leaky_relu_forward<T>(cptr<T>(x), ptr<T>(out), x.size(), slope);
      const bool met = activation_forward<T>(act, cptr<T>(x), ptr<T>(out), x.size());
      if (clip > 0) clip_probabilities<T>(ptr<T>(out), x.size(), clip);
      return met;
    });
  }
  if (nan) value_error(std::string(fn) + ": x with shape " + shape_of(x) + " contains NaN");
  return out;
}

// slope_obj: LeakyReLU's negative_slope (act is then ignored); null for the other activations.
py::array backward(const char* fn, Activation act, const py::object& y_obj, const py::object& dy_obj,
                   const py::object& out_obj, const py::object* slope_obj = nullptr) {
  py::array y = float_input(fn, "y", y_obj);
  py::array dy = float_input(fn, "dy", dy_obj);
  same_dtype(fn, "dy", dy, "y", y);
  same_shape(fn, "dy", dy, shape_vec(y));
  const bool leaky = slope_obj != nullptr;
  const double slope = leaky ? slope_arg(fn, *slope_obj, y) : 0.0;
  py::array out = float_output(fn, "out", out_obj, shape_vec(y), y);
  no_overlap(fn, "out", out, "y", y, /*allow_same=*/true);
  no_overlap(fn, "out", out, "dy", dy, /*allow_same=*/true);
  if (!out_obj.is_none()) {
    reject_nan(fn, "y", y);
    reject_nan(fn, "dy", dy);
  }
  bool nan;
  {
    py::gil_scoped_release nogil;
    nan = by_dtype(y, [&](auto zero) {
      using T = decltype(zero);
      if (leaky) return leaky_relu_backward<T>(cptr<T>(y), cptr<T>(dy), ptr<T>(out), y.size(), slope);
      return activation_backward<T>(act, cptr<T>(y), cptr<T>(dy), ptr<T>(out), y.size());
    });
  }
  if (nan) value_error(std::string(fn) + ": y or dy with shape " + shape_of(y) + " contains NaN");
  return out;
}

}  // namespace

PYDL_BINDINGS(bind_activations) {
  using py::arg;
  const auto none = py::none();
  m.def(
      "sigmoid",
      [](const py::object& x, const py::object& out, const py::object& clip_obj) {
        double clip = 0;
        if (!clip_obj.is_none()) {
          clip = float_arg("sigmoid", "clip", clip_obj);
          if (!(clip > 0 && clip < 0.5)) value_error("sigmoid: clip must lie in (0, 0.5), got " + std::to_string(clip));
        }
        return unary("sigmoid", Activation::sigmoid, x, out, clip);
      },
      arg("x"), arg("out") = none, arg("clip") = none,
      "Logistic sigmoid 1/(1+exp(-x)), finite and accurate for every finite x (computed from exp(-|x|)).\n"
      "clip: a number in (0, 0.5) clips the result to [clip, 1 - clip] (as np.clip in x's dtype).\n"
      "Returns out (allocated when None; may be x itself).");
  m.def(
      "tanh",
      [](const py::object& x, const py::object& out) {
        return unary("tanh", Activation::tanh, x, out);
      },
      arg("x"), arg("out") = none, "Hyperbolic tangent. Returns out (allocated when None; may be x itself).");
  m.def(
      "relu",
      [](const py::object& x, const py::object& out) {
        return unary("relu", Activation::relu, x, out);
      },
      arg("x"), arg("out") = none, "max(x, 0). Returns out (allocated when None; may be x itself).");
  m.def(
      "leaky_relu",
      [](const py::object& x, const py::object& out, const py::object& slope) {
        return unary("leaky_relu", Activation::none, x, out, 0, &slope);
      },
      arg("x"), arg("out") = none, arg("negative_slope") = 0.01,
        "x where x > 0, else negative_slope * x (negative_slope >= 0). Returns out (allocated when None; may be x).");
  m.def(
      "leaky_relu_backward",
      [](const py::object& y, const py::object& dy, const py::object& out, const py::object& slope) {
        return backward("leaky_relu_backward", Activation::none, y, dy, out, &slope);
      },
      arg("y"), arg("dy"), arg("out") = none, arg("negative_slope") = 0.01,
        "dx = dy where y > 0, else negative_slope * dy, from the forward output y = leaky_relu(x).");
  m.def(
      "sigmoid_backward",
      [](const py::object& y, const py::object& dy, const py::object& out) {
        return backward("sigmoid_backward", Activation::sigmoid, y, dy, out);
      },
      arg("y"), arg("dy"), arg("out") = none, "dx = dy * y * (1 - y) from the forward output y = sigmoid(x).");
  m.def(
      "tanh_backward",
      [](const py::object& y, const py::object& dy, const py::object& out) {
        return backward("tanh_backward", Activation::tanh, y, dy, out);
      },
      arg("y"), arg("dy"), arg("out") = none, "dx = dy * (1 - y^2) from the forward output y = tanh(x).");
  m.def(
      "relu_backward",
      [](const py::object& y, const py::object& dy, const py::object& out) {
        return backward("relu_backward", Activation::relu, y, dy, out);
      },
      arg("y"), arg("dy"), arg("out") = none,
      "dx = dy where y > 0, else 0, from the forward output y = relu(x) (gradient 0 at x = 0, as PyTorch).");
  m.def(
      "softmax",
      [](const py::object& x_obj, const py::object& out_obj) {
        py::array x = float_input("softmax", "x", x_obj, 2);
        py::array out = float_output("softmax", "out", out_obj, shape_vec(x), x);
        no_overlap("softmax", "out", out, "x", x, /*allow_same=*/true);
        // An inf would make its row NaN: rejected with the NaN, before out is touched.
        reject_nonfinite("softmax", "x", x);
        int64_t rows = x.shape(0), cols = x.shape(1);
        bool nan;
        {
          py::gil_scoped_release nogil;
          nan = by_dtype(x, [&](auto zero) {
            using T = decltype(zero);
            return softmax_forward<T>(cptr<T>(x), ptr<T>(out), rows, cols);
          });
        }
        if (nan) value_error("softmax: x with shape " + shape_of(x) + " contains NaN");
        return out;
      },
      arg("x"), arg("out") = none, "Row-wise softmax of a 2-D array (max-subtracted); x must be finite. Returns out (may be x itself).");
  m.def(
      "softmax_backward",
      [](const py::object& y_obj, const py::object& dy_obj, const py::object& out_obj) {
        const char* fn = "softmax_backward";
        py::array y = float_input(fn, "y", y_obj, 2);
        py::array dy = float_input(fn, "dy", dy_obj);
        same_dtype(fn, "dy", dy, "y", y);
        same_shape(fn, "dy", dy, shape_vec(y));
        py::array out = float_output(fn, "out", out_obj, shape_vec(y), y);
        no_overlap(fn, "out", out, "y", y, /*allow_same=*/true);
        no_overlap(fn, "out", out, "dy", dy, /*allow_same=*/true);
        reject_nan(fn, "y", y);
        reject_nan(fn, "dy", dy);
        int64_t rows = y.shape(0), cols = y.shape(1);
        {
          py::gil_scoped_release nogil;
          by_dtype(y, [&](auto zero) {
            using T = decltype(zero);
            softmax_backward<T>(cptr<T>(y), cptr<T>(dy), ptr<T>(out), rows, cols);
          });
        }
        return out;
      },
      arg("y"), arg("dy"), arg("out") = none,
      "dx = y * (dy - sum(dy * y, axis=1)) from the forward output y = softmax(x).");
}

}  // namespace pydl
