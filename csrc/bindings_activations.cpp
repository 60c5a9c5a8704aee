// Bindings for the activations: argument checks, then the kernel with the GIL released.
#include <atomic>

#include "activations.h"
#include "check.h"
#include "parallel.h"
#include "registry.h"

namespace pydl {
namespace {

// Element-wise work below this many elements per thread is faster on one thread.
constexpr int64_t kElementwiseGrain = 1 << 16;

template <typename T>
using UnaryKernel = bool (*)(const T*, T*, int64_t);

template <typename T>
bool run_unary(UnaryKernel<T> kernel, const T* x, T* y, int64_t n) {
  std::atomic<int> nan{0};
  parallel_for(n, kElementwiseGrain, [&](int64_t b, int64_t e) {
    if (kernel(x + b, y + b, e - b)) nan.fetch_or(1);
  });
  return nan.load() != 0;
}

py::array unary(const char* fn, const py::object& x_obj, const py::object& out_obj, UnaryKernel<float> f32,
                UnaryKernel<double> f64) {
  py::array x = float_input(fn, "x", x_obj);
  py::array out = float_output(fn, "out", out_obj, shape_vec(x), x);
  no_overlap(fn, "out", out, "x", x, /*allow_same=*/true);
  // A given out must stay untouched when x holds NaN; a fresh one may be dropped after the fused check.
  if (!out_obj.is_none()) reject_nan(fn, "x", x);
  bool nan;
  {
    py::gil_scoped_release nogil;
    nan = is_f32(x) ? run_unary(f32, cptr<float>(x), ptr<float>(out), x.size())
                    : run_unary(f64, cptr<double>(x), ptr<double>(out), x.size());
  }
  if (nan) value_error(std::string(fn) + ": x with shape " + shape_of(x) + " contains NaN");
  return out;
}

// Backward passes from the forward output y: dx = dy * f'(y).
struct SigmoidGrad {
  template <typename T> static T apply(T y, T dy) { return dy * y * (T(1) - y); }
};
struct TanhGrad {
  template <typename T> static T apply(T y, T dy) { return dy * (T(1) - y * y); }
};
struct ReluGrad {
  template <typename T> static T apply(T y, T dy) { return y > T(0) ? dy : T(0); }
};

template <typename Grad, typename T>
bool backward_loop(const T* y, const T* dy, T* dx, int64_t n) {
  std::atomic<int> nan{0};
  parallel_for(n, kElementwiseGrain, [&](int64_t b, int64_t e) {
    int bad = 0;
    for (int64_t i = b; i < e; ++i) {
      bad |= (y[i] != y[i]) | (dy[i] != dy[i]);
      dx[i] = Grad::apply(y[i], dy[i]);
    }
    if (bad) nan.fetch_or(1);
  });
  return nan.load() != 0;
}

template <typename Grad>
py::array backward(const char* fn, const py::object& y_obj, const py::object& dy_obj, const py::object& out_obj) {
  py::array y = float_input(fn, "y", y_obj);
  py::array dy = float_input(fn, "dy", dy_obj);
  same_dtype(fn, "dy", dy, "y", y);
  same_shape(fn, "dy", dy, shape_vec(y));
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
    nan = is_f32(y) ? backward_loop<Grad>(cptr<float>(y), cptr<float>(dy), ptr<float>(out), y.size())
                    : backward_loop<Grad>(cptr<double>(y), cptr<double>(dy), ptr<double>(out), y.size());
  }
  if (nan) value_error(std::string(fn) + ": y or dy with shape " + shape_of(y) + " contains NaN");
  return out;
}

template <typename T>
bool softmax_parallel(const T* x, T* y, int64_t rows, int64_t cols) {
  std::atomic<int> nan{0};
  int64_t grain_rows = kElementwiseGrain / cols + 1;
  parallel_for(rows, grain_rows, [&](int64_t b, int64_t e) {
    if (softmax(x + b * cols, y + b * cols, e - b, cols)) nan.fetch_or(1);
  });
  return nan.load() != 0;
}

template <typename T>
void softmax_backward_rows(const T* y, const T* dy, T* dx, int64_t rows, int64_t cols) {
  parallel_for(rows, kElementwiseGrain / cols + 1, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const T* yr = y + r * cols;
      const T* dyr = dy + r * cols;
      T dot = 0;
      for (int64_t c = 0; c < cols; ++c) dot += yr[c] * dyr[c];
      for (int64_t c = 0; c < cols; ++c) dx[r * cols + c] = yr[c] * (dyr[c] - dot);
    }
  });
}

}  // namespace

PYDL_BINDINGS(bind_activations) {
  using py::arg;
  const auto none = py::none();
  m.def(
      "sigmoid",
      [](const py::object& x, const py::object& out) {
        return unary("sigmoid", x, out, static_cast<UnaryKernel<float>>(&pydl::sigmoid),
                     static_cast<UnaryKernel<double>>(&pydl::sigmoid));
      },
      arg("x"), arg("out") = none,
      "Logistic sigmoid 1/(1+exp(-x)), finite and accurate for every finite x (computed from exp(-|x|)).\n"
      "Returns out (allocated when None; may be x itself).");
  m.def(
      "tanh",
      [](const py::object& x, const py::object& out) {
        return unary("tanh", x, out, static_cast<UnaryKernel<float>>(&pydl::tanh),
                     static_cast<UnaryKernel<double>>(&pydl::tanh));
      },
      arg("x"), arg("out") = none, "Hyperbolic tangent. Returns out (allocated when None; may be x itself).");
  m.def(
      "relu",
      [](const py::object& x, const py::object& out) {
        return unary("relu", x, out, static_cast<UnaryKernel<float>>(&pydl::relu),
                     static_cast<UnaryKernel<double>>(&pydl::relu));
      },
      arg("x"), arg("out") = none, "max(x, 0). Returns out (allocated when None; may be x itself).");
  m.def(
      "sigmoid_backward",
      [](const py::object& y, const py::object& dy, const py::object& out) {
        return backward<SigmoidGrad>("sigmoid_backward", y, dy, out);
      },
      arg("y"), arg("dy"), arg("out") = none, "dx = dy * y * (1 - y) from the forward output y = sigmoid(x).");
  m.def(
      "tanh_backward",
      [](const py::object& y, const py::object& dy, const py::object& out) {
        return backward<TanhGrad>("tanh_backward", y, dy, out);
      },
      arg("y"), arg("dy"), arg("out") = none, "dx = dy * (1 - y^2) from the forward output y = tanh(x).");
  m.def(
      "relu_backward",
      [](const py::object& y, const py::object& dy, const py::object& out) {
        return backward<ReluGrad>("relu_backward", y, dy, out);
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
          nan = is_f32(x) ? softmax_parallel(cptr<float>(x), ptr<float>(out), rows, cols)
                          : softmax_parallel(cptr<double>(x), ptr<double>(out), rows, cols);
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
          if (is_f32(y)) softmax_backward_rows(cptr<float>(y), cptr<float>(dy), ptr<float>(out), rows, cols);
          else softmax_backward_rows(cptr<double>(y), cptr<double>(dy), ptr<double>(out), rows, cols);
        }
        return out;
      },
      arg("y"), arg("dy"), arg("out") = none,
      "dx = y * (dy - sum(dy * y, axis=1)) from the forward output y = softmax(x).");
}

}  // namespace pydl
