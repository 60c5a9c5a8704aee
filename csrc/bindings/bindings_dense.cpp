// Python entry points for matmul and the dense layer: validation, GIL release, dispatch by dtype.
#include <string>

#include "check.h"
#include "dense.h"
#include "gemm.h"
#include "registry.h"

namespace pydl {
namespace {

std::string dims(int64_t a, int64_t b) { return shape_str({a, b}); }

// "(784, ?)": a shape whose other dimension is free.
std::string dim_and_any(int64_t d, bool first) {
  return first ? "(" + std::to_string(d) + ", ?)" : "(?, " + std::to_string(d) + ")";
}

py::array matmul_py(const py::object& a_obj, const py::object& b_obj, const py::object& out_obj, const py::object& ta_obj,
                    const py::object& tb_obj, const py::object& alpha_obj, const py::object& beta_obj) {
  const char* fn = "matmul";
  const bool ta = bool_arg(fn, "trans_a", ta_obj), tb = bool_arg(fn, "trans_b", tb_obj);
  const double alpha = float_arg(fn, "alpha", alpha_obj), beta = float_arg(fn, "beta", beta_obj);
  py::array a = float_input(fn, "a", a_obj, 2);
  py::array b = float_input(fn, "b", b_obj, 2);
  same_dtype(fn, "b", b, "a", a);
  const int64_t m = ta ? a.shape(1) : a.shape(0), k = ta ? a.shape(0) : a.shape(1);
  const int64_t kb = tb ? b.shape(1) : b.shape(0), n = tb ? b.shape(0) : b.shape(1);
  if (kb != k) {
    value_error(std::string(fn) + ": b must have shape " + dim_and_any(k, !tb) + (tb ? " (trans_b=True)" : "") +
                " to match a " + shape_of(a) + (ta ? " (trans_a=True)" : "") + ", got " + shape_of(b));
  }
  if (beta != 0 && out_obj.is_none()) {
    value_error(std::string(fn) + ": beta=" + std::to_string(beta) + " adds to out, so out must be given");
  }
  fits_dtype(fn, "alpha", alpha, a);
  fits_dtype(fn, "beta", beta, a);
  py::array out = float_output(fn, "out", out_obj, {m, n}, a);
  no_overlap(fn, "out", out, "a", a);
  no_overlap(fn, "out", out, "b", b);
  reject_nan(fn, "a", a);
  reject_nan(fn, "b", b);
  if (beta != 0) reject_nan(fn, "out", out);
  {
    py::gil_scoped_release nogil;
    by_dtype(a, [&](auto zero) {
      using T = decltype(zero);
      gemm(ta, tb, m, n, k, T(alpha), cptr<T>(a), a.shape(1), cptr<T>(b), b.shape(1), T(beta), ptr<T>(out), n);
    });
  }
  return out;
}

// x (n, in) and w (in, out) of one dtype; returns {n, in, out}.
Shape dense_dims(const char* fn, const py::array& x, const py::array& w) {
  same_dtype(fn, "w", w, "x", x);
  if (w.shape(0) != x.shape(1)) {
    value_error(std::string(fn) + ": w must have shape " + dim_and_any(x.shape(1), true) + " to match x " +
                shape_of(x) + ", got " + shape_of(w));
  }
  return {x.shape(0), x.shape(1), w.shape(1)};
}

py::array dense_forward_py(const py::object& x_obj, const py::object& w_obj, const py::object& b_obj,
                           const py::object& activation_obj, const py::object& out_obj) {
  const char* fn = "dense_forward";
  const std::string activation = str_arg(fn, "activation", activation_obj);
  py::array x = float_input(fn, "x", x_obj, 2);
  py::array w = float_input(fn, "w", w_obj, 2);
  const Shape d = dense_dims(fn, x, w);
  const int64_t n = d[0], in = d[1], outf = d[2];
  const bool has_b = !b_obj.is_none();
  py::array b;  // a default py::array is a real (empty) array, so has_b, not b, says whether there is one
  if (has_b) {
    b = float_input(fn, "b", b_obj);
    same_dtype(fn, "b", b, "x", x);
    if (shape_vec(b) != Shape{outf}) {
      value_error(std::string(fn) + ": b must have shape " + shape_str({outf}) + " to match w " + shape_of(w) +
                  ", got " + shape_of(b));
    }
  }
  const Activation act = activation_arg(fn, activation, 4);
  py::array out = float_output(fn, "out", out_obj, {n, outf}, x);
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
      dense_forward(cptr<T>(x), cptr<T>(w), has_b ? cptr<T>(b) : nullptr, act, ptr<T>(out), n, in, outf);
    });
  }
  return out;
}

py::tuple dense_backward_py(const py::object& x_obj, const py::object& w_obj, const py::object& dy_obj,
                            const py::object& dx_obj, const py::object& dw_obj, const py::object& db_obj,
                            const py::object& need_dx_obj, const py::object& has_bias_obj,
                            const py::object& accumulate_obj) {
  const char* fn = "dense_backward";
  const bool need_dx = bool_arg(fn, "need_dx", need_dx_obj), has_bias = bool_arg(fn, "has_bias", has_bias_obj);
  const bool accumulate = bool_arg(fn, "accumulate", accumulate_obj);
  py::array x = float_input(fn, "x", x_obj, 2);
  py::array w = float_input(fn, "w", w_obj, 2);
  const Shape d = dense_dims(fn, x, w);
  const int64_t n = d[0], in = d[1], outf = d[2];
  py::array dy = float_input(fn, "dy", dy_obj, 2);
  same_dtype(fn, "dy", dy, "x", x);
  if (shape_vec(dy) != Shape{n, outf}) {
    value_error(std::string(fn) + ": dy must have shape " + dims(n, outf) + " to match x " + shape_of(x) + " and w " +
                shape_of(w) + ", got " + shape_of(dy));
  }
  if (!need_dx && !dx_obj.is_none()) value_error(std::string(fn) + ": dx was given but need_dx=False");
  if (!has_bias && !db_obj.is_none()) value_error(std::string(fn) + ": db was given but has_bias=False");
  if (accumulate && (dw_obj.is_none() || (has_bias && db_obj.is_none()))) {
    value_error(std::string(fn) + ": accumulate=True adds into dw" + (has_bias ? " and db" : "") +
                ", so they must be given");
  }
  py::array dw = float_output(fn, "dw", dw_obj, {in, outf}, x);
  py::array db, dx;  // stay empty placeholders unless has_bias / need_dx
  if (has_bias) db = float_output(fn, "db", db_obj, {outf}, x);
  if (need_dx) dx = float_output(fn, "dx", dx_obj, {n, in}, x);
  // No output may share memory with an input or another output.
  struct Named {
    const char* name;
    const py::array* a;
    bool used;
  };
  const Named outs[] = {{"dw", &dw, true}, {"db", &db, has_bias}, {"dx", &dx, need_dx}};
  const Named ins[] = {{"x", &x, true}, {"w", &w, true}, {"dy", &dy, true}};
  for (int i = 0; i < 3; ++i) {
    if (!outs[i].used) continue;
    for (const Named& src : ins) no_overlap(fn, outs[i].name, *outs[i].a, src.name, *src.a);
    for (int j = 0; j < i; ++j) {
      if (outs[j].used) no_overlap(fn, outs[i].name, *outs[i].a, outs[j].name, *outs[j].a);
    }
  }
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
      dense_backward(cptr<T>(x), cptr<T>(w), cptr<T>(dy), need_dx ? ptr<T>(dx) : nullptr, ptr<T>(dw),
                     has_bias ? ptr<T>(db) : nullptr, n, in, outf, accumulate);
    });
  }
  return py::make_tuple(need_dx ? py::object(dx) : py::none(), dw, has_bias ? py::object(db) : py::none());
}

// ---- narrow layers, feature-major ----

// x (in, n) and a narrow w (in, out) of one dtype; returns {n, in, out}.
Shape fm_dims(const char* fn, const py::array& x, const py::array& w) {
  same_dtype(fn, "w", w, "x", x);
  if (w.shape(0) != x.shape(0)) {
    value_error(std::string(fn) + ": w must have shape " + dim_and_any(x.shape(0), true) + " to match x " +
                shape_of(x) + ", got " + shape_of(w));
  }
  if (!is_narrow(w.shape(0), w.shape(1))) {
    value_error(std::string(fn) + ": narrow layers only: w must have at most " + std::to_string(kNarrowIn) +
                " rows and " + std::to_string(kNarrowOut) + " columns, got " + shape_of(w));
  }
  return {x.shape(1), x.shape(0), w.shape(1)};
}

py::array dense_forward_fm_py(const py::object& x_obj, const py::object& w_obj, const py::object& b_obj,
                              const py::object& activation_obj, const py::object& out_obj) {
  const char* fn = "dense_forward_fm";
  const std::string activation = str_arg(fn, "activation", activation_obj);
  py::array x = float_input(fn, "x", x_obj, 2);
  py::array w = float_input(fn, "w", w_obj, 2);
  const Shape d = fm_dims(fn, x, w);
  const int64_t n = d[0], in = d[1], outf = d[2];
  const bool has_b = !b_obj.is_none();
  py::array b;
  if (has_b) {
    b = float_input(fn, "b", b_obj);
    same_dtype(fn, "b", b, "x", x);
    if (shape_vec(b) != Shape{outf}) {
      value_error(std::string(fn) + ": b must have shape " + shape_str({outf}) + " to match w " + shape_of(w) +
                  ", got " + shape_of(b));
    }
  }
  const Activation act = activation_arg(fn, activation, 4);
  py::array out = float_output(fn, "out", out_obj, {outf, n}, x);
  no_overlap(fn, "out", out, "x", x);
  no_overlap(fn, "out", out, "w", w);
  if (has_b) no_overlap(fn, "out", out, "b", b);
  reject_nan(fn, "x", x);
  reject_nan(fn, "w", w);
  if (has_b) reject_nan(fn, "b", b);
  {
    py::gil_scoped_release nogil;
    by_dtype(x, [&](auto t) {
      using T = decltype(t);
      dense_narrow_forward(true, cptr<T>(x), n, cptr<T>(w), has_b ? cptr<T>(b) : nullptr, act, ptr<T>(out), n, in,
                           outf);
    });
  }
  return out;
}

py::tuple dense_backward_fm_py(const py::object& x_obj, const py::object& w_obj, const py::object& dy_obj,
                               const py::object& y_obj, const py::object& activation_obj, const py::object& dx_obj,
                               const py::object& dw_obj, const py::object& db_obj, const py::object& need_dx_obj,
                               const py::object& has_bias_obj) {
  const char* fn = "dense_backward_fm";
  const bool need_dx = bool_arg(fn, "need_dx", need_dx_obj), has_bias = bool_arg(fn, "has_bias", has_bias_obj);
  const std::string activation = str_arg(fn, "activation", activation_obj);
  py::array x = float_input(fn, "x", x_obj, 2);
  py::array w = float_input(fn, "w", w_obj, 2);
  const Shape d = fm_dims(fn, x, w);
  const int64_t n = d[0], in = d[1], outf = d[2];
  const Activation act = activation_arg(fn, activation, 4);
  py::array dy = float_input(fn, "dy", dy_obj, 2);
  same_dtype(fn, "dy", dy, "x", x);
  if (shape_vec(dy) != Shape{outf, n}) {
    value_error(std::string(fn) + ": dy must have shape " + dims(outf, n) + " to match x " + shape_of(x) + " and w " +
                shape_of(w) + ", got " + shape_of(dy));
  }
  const bool has_y = act != Activation::none;
  if (y_obj.is_none() == has_y) {
    value_error(std::string(fn) + ": y (the forward output) is needed for activation '" + activation + "' and only then");
  }
  py::array y;
  if (has_y) {
    y = float_input(fn, "y", y_obj, 2);
    same_dtype(fn, "y", y, "x", x);
    if (shape_vec(y) != Shape{outf, n}) {
      value_error(std::string(fn) + ": y must have shape " + dims(outf, n) + " like dy, got " + shape_of(y));
    }
  }
  if (!need_dx && !dx_obj.is_none()) value_error(std::string(fn) + ": dx was given but need_dx=False");
  if (!has_bias && !db_obj.is_none()) value_error(std::string(fn) + ": db was given but has_bias=False");
  py::array dw = float_output(fn, "dw", dw_obj, {in, outf}, x);
  py::array db, dx;
  if (has_bias) db = float_output(fn, "db", db_obj, {outf}, x);
  if (need_dx) dx = float_output(fn, "dx", dx_obj, {in, n}, x);
  struct Named {
    const char* name;
    const py::array* a;
    bool used;
  };
  const Named outs[] = {{"dw", &dw, true}, {"db", &db, has_bias}, {"dx", &dx, need_dx}};
  const Named ins[] = {{"x", &x, true}, {"w", &w, true}, {"dy", &dy, true}, {"y", &y, has_y}};
  for (int i = 0; i < 3; ++i) {
    if (!outs[i].used) continue;
    for (const Named& src : ins) {
      if (src.used) no_overlap(fn, outs[i].name, *outs[i].a, src.name, *src.a);
    }
    for (int j = 0; j < i; ++j) {
      if (outs[j].used) no_overlap(fn, outs[i].name, *outs[i].a, outs[j].name, *outs[j].a);
    }
  }
  for (const Named& src : ins) {
    if (src.used) reject_nan(fn, src.name, *src.a);
  }
  {
    py::gil_scoped_release nogil;
    by_dtype(x, [&](auto t) {
      using T = decltype(t);
      dense_narrow_backward(true, cptr<T>(x), n, cptr<T>(w), has_y ? cptr<T>(y) : nullptr, act, cptr<T>(dy),
                            need_dx ? ptr<T>(dx) : nullptr, ptr<T>(dw), has_bias ? ptr<T>(db) : nullptr, n, in, outf,
                            false);
    });
  }
  return py::make_tuple(need_dx ? py::object(dx) : py::none(), dw, has_bias ? py::object(db) : py::none());
}

}  // namespace

PYDL_BINDINGS(bind_dense) {
  using py::arg;
  const auto none = py::none();
  m.def("matmul", &matmul_py, arg("a"), arg("b"), arg("out") = none, py::kw_only(), arg("trans_a") = false,
        arg("trans_b") = false, arg("alpha") = 1.0, arg("beta") = 0.0,
        "out = alpha * op(a) @ op(b) + beta * out for 2-D arrays, op(a) = a.T when trans_a (likewise b).\n"
        "The transposes are read in place, never copied. beta == 0 overwrites out (its old contents, NaN\n"
        "included, are ignored); beta != 0 needs out. Returns out (allocated when None).");
  m.def("dense_forward", &dense_forward_py, arg("x"), arg("w"), arg("b") = none, arg("activation") = "none",
        arg("out") = none,
        "Fully connected layer: activation(x @ w + b) for x (N, in_features), w (in_features, out_features),\n"
        "b (out_features,) or None. activation is 'none', 'relu', 'sigmoid' or 'tanh', applied in the same\n"
        "pass as the bias. Returns out (N, out_features), allocated when None.");
  m.def("dense_backward", &dense_backward_py, arg("x"), arg("w"), arg("dy"), py::kw_only(), arg("dx") = none,
        arg("dw") = none, arg("db") = none, arg("need_dx") = true, arg("has_bias") = true, arg("accumulate") = false,
        "Gradients of y = x @ w + b given dy = dL/dy (N, out_features), before any activation (apply its\n"
        "backward to dy first). Returns (dx, dw, db): dx = dy @ w.T (None when need_dx=False), dw = x.T @ dy,\n"
        "db = dy.sum(axis=0) (None when has_bias=False). Arrays given as dx/dw/db are written in place;\n"
        "accumulate=True adds into dw and db (which must then be given) instead of overwriting them.");
  m.def("dense_forward_fm", &dense_forward_fm_py, arg("x"), arg("w"), arg("b") = none, arg("activation") = "none",
        arg("out") = none,
        "dense_forward in feature-major layout, for narrow layers (w at most 4 x 8): activation(w.T @ x + b[:, None])\n"
        "for x (in_features, N); returns out (out_features, N). The same bits as dense_forward on the transposes.");
  m.def("dense_backward_fm", &dense_backward_fm_py, arg("x"), arg("w"), arg("dy"), arg("y") = none,
        arg("activation") = "none", py::kw_only(), arg("dx") = none, arg("dw") = none, arg("db") = none,
        arg("need_dx") = true, arg("has_bias") = true,
        "dense_backward in feature-major layout for narrow layers, with the layer's activation folded in: from\n"
        "dy = dL/d(output) (out_features, N) and the forward output y (None for 'none'), dz = dy * activation'(y),\n"
        "then returns (dx, dw, db): dx = w @ dz (in_features, N), dw = x @ dz.T, db = dz.sum(axis=1).");
}

}  // namespace pydl
