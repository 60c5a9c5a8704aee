// Bindings of matmul and the dense layer on DeviceArrays: the signatures, checks and messages of
// pydl/reference/dense.py, in its order.
#include <string>

#include "check.h"
#include "cuda/dense.h"
#include "cuda/gemm.h"
#include "dense.h"
#include "device_check.h"
#include "registry.h"

namespace pydl::cuda {
namespace {

std::string dims(int64_t a, int64_t b) { return shape_str({a, b}); }

// "(784, ?)": a shape whose other dimension is free.
std::string dim_and_any(int64_t d, bool first) {
  return first ? "(" + std::to_string(d) + ", ?)" : "(?, " + std::to_string(d) + ")";
}

struct Named {
  const char* name;
  const DeviceArray* a;
  bool used;
};

// No output may share memory with an input or with an earlier output.
void outputs_apart(const char* fn, const Named* outs, int n_outs, const Named* ins, int n_ins) {
  for (int i = 0; i < n_outs; ++i) {
    if (!outs[i].used) continue;
    for (int s = 0; s < n_ins; ++s) {
      if (ins[s].used) no_overlap(fn, outs[i].name, *outs[i].a, ins[s].name, *ins[s].a);
    }
    for (int j = 0; j < i; ++j) {
      if (outs[j].used) no_overlap(fn, outs[i].name, *outs[i].a, outs[j].name, *outs[j].a);
    }
  }
}

py::object matmul_py(const py::object& a_obj, const py::object& b_obj, const py::object& out_obj,
                     const py::object& ta_obj, const py::object& tb_obj, const py::object& alpha_obj,
                     const py::object& beta_obj) {
  const char* fn = "matmul";
  const bool ta = bool_arg(fn, "trans_a", ta_obj), tb = bool_arg(fn, "trans_b", tb_obj);
  const double alpha = float_arg(fn, "alpha", alpha_obj), beta = float_arg(fn, "beta", beta_obj);
  const DeviceArray a = float_input(fn, "a", a_obj, 2);
  const DeviceArray b = float_input(fn, "b", b_obj, 2);
  same_dtype(fn, "b", b, "a", a);
  const int64_t m = ta ? a.shape[1] : a.shape[0], k = ta ? a.shape[0] : a.shape[1];
  const int64_t kb = tb ? b.shape[1] : b.shape[0], n = tb ? b.shape[0] : b.shape[1];
  if (kb != k) {
    value_error(std::string(fn) + ": b must have shape " + dim_and_any(k, !tb) + (tb ? " (trans_b=True)" : "") +
                " to match a " + shape_str(a.shape) + (ta ? " (trans_a=True)" : "") + ", got " + shape_str(b.shape));
  }
  if (beta != 0 && out_obj.is_none()) {
    value_error(std::string(fn) + ": beta=" + std::to_string(beta) + " adds to out, so out must be given");
  }
  fits_dtype(fn, "alpha", alpha, a);
  fits_dtype(fn, "beta", beta, a);
  const DeviceArray out = float_output(fn, "out", out_obj, {m, n}, a);
  no_overlap(fn, "out", out, "a", a);
  no_overlap(fn, "out", out, "b", b);
  reject_nan(fn, "a", a);
  reject_nan(fn, "b", b);
  if (beta != 0) reject_nan(fn, "out", out);
  {
    py::gil_scoped_release nogil;
    by_dtype(a, [&](auto zero) {
      using T = decltype(zero);
      gemm<T>(ta, tb, m, n, k, T(alpha), a.ptr<T>(), a.shape[1], b.ptr<T>(), b.shape[1], T(beta), out.ptr<T>(), n,
              stream());
    });
  }
  check_launch(fn);
  return result(out_obj, out);
}

// b (out,) of x's dtype, or none.
void check_bias(const char* fn, const py::object& b_obj, DeviceArray& b, const DeviceArray& x, const DeviceArray& w,
                int64_t outf) {
  if (b_obj.is_none()) return;
  b = float_input(fn, "b", b_obj);
  same_dtype(fn, "b", b, "x", x);
  if (b.shape != Shape{outf}) {
    value_error(std::string(fn) + ": b must have shape " + shape_str({outf}) + " to match w " + shape_str(w.shape) +
                ", got " + shape_str(b.shape));
  }
}

// The forward of both layouts: x and w checked by `dims_of`, which returns {n, in, out}.
template <typename Dims, typename Launch>
py::object forward(const char* fn, bool feature_major, const py::object& x_obj, const py::object& w_obj,
                   const py::object& b_obj, const py::object& activation_obj, const py::object& out_obj,
                   Dims dims_of, Launch launch) {
  const std::string activation = str_arg(fn, "activation", activation_obj);
  const DeviceArray x = float_input(fn, "x", x_obj, 2);
  const DeviceArray w = float_input(fn, "w", w_obj, 2);
  const Shape d = dims_of(x, w);
  const int64_t n = d[0], outf = d[2];
  const bool has_b = !b_obj.is_none();
  DeviceArray b;
  check_bias(fn, b_obj, b, x, w, outf);
  const Activation act = activation_arg(fn, activation, 4);
  const DeviceArray out = float_output(fn, "out", out_obj, feature_major ? Shape{outf, n} : Shape{n, outf}, x);
  no_overlap(fn, "out", out, "x", x);
  no_overlap(fn, "out", out, "w", w);
  if (has_b) no_overlap(fn, "out", out, "b", b);
  reject_nan(fn, "x", x);
  reject_nan(fn, "w", w);
  if (has_b) reject_nan(fn, "b", b);
  {
    py::gil_scoped_release nogil;
    by_dtype(x, [&](auto zero) {
      using T = decltype(zero);
      launch(zero, x.ptr<T>(), w.ptr<T>(), has_b ? b.ptr<T>() : nullptr, act, out.ptr<T>(), n, d[1], outf);
    });
  }
  check_launch(fn);
  return result(out_obj, out);
}

// x (n, in) and w (in, out) of one dtype; returns {n, in, out}.
Shape dense_dims(const char* fn, const DeviceArray& x, const DeviceArray& w) {
  same_dtype(fn, "w", w, "x", x);
  if (w.shape[0] != x.shape[1]) {
    value_error(std::string(fn) + ": w must have shape " + dim_and_any(x.shape[1], true) + " to match x " +
                shape_str(x.shape) + ", got " + shape_str(w.shape));
  }
  return {x.shape[0], x.shape[1], w.shape[1]};
}

// x (in, n) and a narrow w (in, out) of one dtype; returns {n, in, out}.
Shape fm_dims(const char* fn, const DeviceArray& x, const DeviceArray& w) {
  same_dtype(fn, "w", w, "x", x);
  if (w.shape[0] != x.shape[0]) {
    value_error(std::string(fn) + ": w must have shape " + dim_and_any(x.shape[0], true) + " to match x " +
                shape_str(x.shape) + ", got " + shape_str(w.shape));
  }
  if (!is_narrow(w.shape[0], w.shape[1])) {
    value_error(std::string(fn) + ": narrow layers only: w must have at most " + std::to_string(kNarrowIn) +
                " rows and " + std::to_string(kNarrowOut) + " columns, got " + shape_str(w.shape));
  }
  return {x.shape[1], x.shape[0], w.shape[1]};
}

py::object dense_forward_py(const py::object& x_obj, const py::object& w_obj, const py::object& b_obj,
                            const py::object& activation_obj, const py::object& out_obj) {
  const char* fn = "dense_forward";
  return forward(
      fn, false, x_obj, w_obj, b_obj, activation_obj, out_obj,
      [&](const DeviceArray& x, const DeviceArray& w) { return dense_dims(fn, x, w); },
      [&](auto zero, auto x, auto w, auto b, Activation act, auto y, int64_t n, int64_t in, int64_t outf) {
        dense_forward<decltype(zero)>(x, w, b, act, y, n, in, outf, stream());
      });
}

py::object dense_forward_fm_py(const py::object& x_obj, const py::object& w_obj, const py::object& b_obj,
                               const py::object& activation_obj, const py::object& out_obj) {
  const char* fn = "dense_forward_fm";
  return forward(
      fn, true, x_obj, w_obj, b_obj, activation_obj, out_obj,
      [&](const DeviceArray& x, const DeviceArray& w) { return fm_dims(fn, x, w); },
      [&](auto zero, auto x, auto w, auto b, Activation act, auto y, int64_t n, int64_t in, int64_t outf) {
        dense_forward_fm<decltype(zero)>(x, w, b, act, y, n, in, outf, stream());
      });
}

py::tuple dense_backward_py(const py::object& x_obj, const py::object& w_obj, const py::object& dy_obj,
                            const py::object& dx_obj, const py::object& dw_obj, const py::object& db_obj,
                            const py::object& need_dx_obj, const py::object& has_bias_obj,
                            const py::object& accumulate_obj) {
  const char* fn = "dense_backward";
  const bool need_dx = bool_arg(fn, "need_dx", need_dx_obj), has_bias = bool_arg(fn, "has_bias", has_bias_obj);
  const bool accumulate = bool_arg(fn, "accumulate", accumulate_obj);
  const DeviceArray x = float_input(fn, "x", x_obj, 2);
  const DeviceArray w = float_input(fn, "w", w_obj, 2);
  const Shape d = dense_dims(fn, x, w);
  const int64_t n = d[0], in = d[1], outf = d[2];
  const DeviceArray dy = float_input(fn, "dy", dy_obj, 2);
  same_dtype(fn, "dy", dy, "x", x);
  if (dy.shape != Shape{n, outf}) {
    value_error(std::string(fn) + ": dy must have shape " + dims(n, outf) + " to match x " + shape_str(x.shape) +
                " and w " + shape_str(w.shape) + ", got " + shape_str(dy.shape));
  }
  if (!need_dx && !dx_obj.is_none()) value_error(std::string(fn) + ": dx was given but need_dx=False");
  if (!has_bias && !db_obj.is_none()) value_error(std::string(fn) + ": db was given but has_bias=False");
  if (accumulate && (dw_obj.is_none() || (has_bias && db_obj.is_none()))) {
    value_error(std::string(fn) + ": accumulate=True adds into dw" + (has_bias ? " and db" : "") +
                ", so they must be given");
  }
  const DeviceArray dw = float_output(fn, "dw", dw_obj, {in, outf}, x);
  DeviceArray db, dx;  // stay empty unless has_bias / need_dx
  if (has_bias) db = float_output(fn, "db", db_obj, {outf}, x);
  if (need_dx) dx = float_output(fn, "dx", dx_obj, {n, in}, x);
  const Named outs[] = {{"dw", &dw, true}, {"db", &db, has_bias}, {"dx", &dx, need_dx}};
  const Named ins[] = {{"x", &x, true}, {"w", &w, true}, {"dy", &dy, true}};
  outputs_apart(fn, outs, 3, ins, 3);
  reject_nan(fn, "x", x);
  reject_nan(fn, "w", w);
  reject_nan(fn, "dy", dy);
  if (accumulate) {  // dw and db are inputs too then
    reject_nan(fn, "dw", dw);
    if (has_bias) reject_nan(fn, "db", db);
  }
  {
    py::gil_scoped_release nogil;
    by_dtype(x, [&](auto zero) {
      using T = decltype(zero);
      dense_backward<T>(x.ptr<T>(), w.ptr<T>(), dy.ptr<T>(), need_dx ? dx.ptr<T>() : nullptr, dw.ptr<T>(),
                        has_bias ? db.ptr<T>() : nullptr, n, in, outf, accumulate, stream());
    });
  }
  check_launch(fn);
  return py::make_tuple(need_dx ? result(dx_obj, dx) : py::none(), result(dw_obj, dw),
                        has_bias ? result(db_obj, db) : py::none());
}

py::tuple dense_backward_fm_py(const py::object& x_obj, const py::object& w_obj, const py::object& dy_obj,
                               const py::object& y_obj, const py::object& activation_obj, const py::object& dx_obj,
                               const py::object& dw_obj, const py::object& db_obj, const py::object& need_dx_obj,
                               const py::object& has_bias_obj) {
  const char* fn = "dense_backward_fm";
  const bool need_dx = bool_arg(fn, "need_dx", need_dx_obj), has_bias = bool_arg(fn, "has_bias", has_bias_obj);
  const std::string activation = str_arg(fn, "activation", activation_obj);
  const DeviceArray x = float_input(fn, "x", x_obj, 2);
  const DeviceArray w = float_input(fn, "w", w_obj, 2);
  const Shape d = fm_dims(fn, x, w);
  const int64_t n = d[0], in = d[1], outf = d[2];
  const Activation act = activation_arg(fn, activation, 4);
  const DeviceArray dy = float_input(fn, "dy", dy_obj, 2);
  same_dtype(fn, "dy", dy, "x", x);
  if (dy.shape != Shape{outf, n}) {
    value_error(std::string(fn) + ": dy must have shape " + dims(outf, n) + " to match x " + shape_str(x.shape) +
                " and w " + shape_str(w.shape) + ", got " + shape_str(dy.shape));
  }
  const bool has_y = act != Activation::none;
  if (y_obj.is_none() == has_y) {
    value_error(std::string(fn) + ": y (the forward output) is needed for activation '" + activation +
                "' and only then");
  }
  DeviceArray y;
  if (has_y) {
    y = float_input(fn, "y", y_obj, 2);
    same_dtype(fn, "y", y, "x", x);
    if (y.shape != Shape{outf, n}) {
      value_error(std::string(fn) + ": y must have shape " + dims(outf, n) + " like dy, got " + shape_str(y.shape));
    }
  }
  if (!need_dx && !dx_obj.is_none()) value_error(std::string(fn) + ": dx was given but need_dx=False");
  if (!has_bias && !db_obj.is_none()) value_error(std::string(fn) + ": db was given but has_bias=False");
  const DeviceArray dw = float_output(fn, "dw", dw_obj, {in, outf}, x);
  DeviceArray db, dx;
  if (has_bias) db = float_output(fn, "db", db_obj, {outf}, x);
  if (need_dx) dx = float_output(fn, "dx", dx_obj, {in, n}, x);
  const Named outs[] = {{"dw", &dw, true}, {"db", &db, has_bias}, {"dx", &dx, need_dx}};
  const Named ins[] = {{"x", &x, true}, {"w", &w, true}, {"dy", &dy, true}, {"y", &y, has_y}};
  outputs_apart(fn, outs, 3, ins, 4);
  for (const Named& src : ins) {
    if (src.used) reject_nan(fn, src.name, *src.a);
  }
  {
    py::gil_scoped_release nogil;
    by_dtype(x, [&](auto zero) {
      using T = decltype(zero);
      dense_backward_fm<T>(x.ptr<T>(), w.ptr<T>(), has_y ? y.ptr<T>() : nullptr, act, dy.ptr<T>(),
                           need_dx ? dx.ptr<T>() : nullptr, dw.ptr<T>(), has_bias ? db.ptr<T>() : nullptr, n, in, outf,
                           stream());
    });
  }
  check_launch(fn);
  return py::make_tuple(need_dx ? result(dx_obj, dx) : py::none(), result(dw_obj, dw),
                        has_bias ? result(db_obj, db) : py::none());
}

}  // namespace
}  // namespace pydl::cuda

PYDL_BINDINGS(bind_dense) {
  using namespace pydl::cuda;
  using py::arg;
  const auto none = py::none();
  m.def("matmul", &matmul_py, arg("a"), arg("b"), arg("out") = none, py::kw_only(), arg("trans_a") = false,
        arg("trans_b") = false, arg("alpha") = 1.0, arg("beta") = 0.0,
        "out = alpha * op(a) @ op(b) + beta * out for 2-D device arrays, op(a) = a.T when trans_a (likewise b);\n"
        "beta == 0 ignores out's old contents, beta != 0 needs out. Returns out (allocated when None).");
  m.def("dense_forward", &dense_forward_py, arg("x"), arg("w"), arg("b") = none, arg("activation") = "none",
        arg("out") = none,
        "activation(x @ w + b) for x (N, in), w (in, out), b (out,) or None, bias and activation fused into\n"
        "the product's epilogue; activation 'none', 'relu', 'sigmoid' or 'tanh'. Returns out (N, out).");
  m.def("dense_backward", &dense_backward_py, arg("x"), arg("w"), arg("dy"), py::kw_only(), arg("dx") = none,
        arg("dw") = none, arg("db") = none, arg("need_dx") = true, arg("has_bias") = true, arg("accumulate") = false,
        "(dx, dw, db) of y = x @ w + b given dy: dx = dy @ w.T (None when need_dx=False), dw = x.T @ dy,\n"
        "db = dy.sum(axis=0) (None when has_bias=False); accumulate=True adds into the given dw and db.");
  m.def("dense_forward_fm", &dense_forward_fm_py, arg("x"), arg("w"), arg("b") = none, arg("activation") = "none",
        arg("out") = none,
        "dense_forward in feature-major layout for narrow layers (w at most 4 x 8): activation(w.T @ x + b[:, None])\n"
        "for x (in, N); returns out (out, N).");
  m.def("dense_backward_fm", &dense_backward_fm_py, arg("x"), arg("w"), arg("dy"), arg("y") = none,
        arg("activation") = "none", py::kw_only(), arg("dx") = none, arg("dw") = none, arg("db") = none,
        arg("need_dx") = true, arg("has_bias") = true,
        "dense_backward in feature-major layout with the activation folded in: dz = dy * activation'(y), then\n"
        "(dx, dw, db) = (w @ dz, x @ dz.T, dz.sum(axis=1)).");
}
