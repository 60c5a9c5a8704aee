// Bindings for batch normalization: argument checks, then the kernel with the GIL released.
#include <string>
#include <vector>

#include "check.h"
#include "normalization.h"
#include "registry.h"

namespace pydl {
namespace {

struct Named {
  const char* name;
  py::array a;
};

// x as (n, c, l): at least 2-D, channels on axis 1.
NormShape norm_shape(const char* fn, const py::array& x) {
  if (x.ndim() < 2) value_error(std::string(fn) + ": x must have shape (N, C, ...), got " + shape_of(x));
  int64_t l = 1;
  for (py::ssize_t d = 2; d < x.ndim(); ++d) l *= x.shape(d);
  return NormShape{x.shape(0), x.shape(1), l};
}

py::array channel_input(const char* fn, const char* name, const py::object& obj, const py::array& x, int64_t c) {
  py::array a = float_input(fn, name, obj);
  same_dtype(fn, name, a, "x", x);
  same_shape(fn, name, a, {c});
  return a;
}

// Every output against every other array: none may share memory, except out with `same_ok` itself.
void no_overlaps(const char* fn, const std::vector<Named>& outs, const std::vector<Named>& all) {
  for (const Named& o : outs) {
    for (const Named& a : all) {
      if (o.a.ptr() == a.a.ptr() && std::string(o.name) == a.name) continue;
      no_overlap(fn, o.name, o.a, a.name, a.a, /*allow_same=*/false);
    }
  }
}

void reject_nans(const char* fn, const std::vector<Named>& arrays) {
  for (const Named& a : arrays) reject_nan(fn, a.name, a.a);
}

double eps_arg(const char* fn, const py::object& obj, const py::array& x) {
  const double eps = float_arg(fn, "eps", obj);
  if (!(eps > 0)) value_error(std::string(fn) + ": eps must be > 0, got " + std::to_string(eps));
  fits_dtype(fn, "eps", eps, x);
  return eps;
}

py::tuple forward_py(const py::object& x_obj, const py::object& gamma_obj, const py::object& beta_obj,
                     const py::object& rm_obj, const py::object& rv_obj, const py::object& momentum_obj,
                     const py::object& eps_obj, const py::object& out_obj, const py::object& mean_obj,
                     const py::object& invstd_obj) {
  const char* fn = "batch_norm_forward";
  py::array x = float_input(fn, "x", x_obj);
  const NormShape s = norm_shape(fn, x);
  py::array gamma = channel_input(fn, "gamma", gamma_obj, x, s.c);
  py::array beta = channel_input(fn, "beta", beta_obj, x, s.c);
  py::array rm = float_inout(fn, "running_mean", rm_obj, x, {s.c});
  py::array rv = float_inout(fn, "running_var", rv_obj, x, {s.c});
  const double momentum = float_arg(fn, "momentum", momentum_obj);
  if (!(momentum >= 0 && momentum <= 1)) value_error(std::string(fn) + ": momentum must lie in [0, 1], got " + std::to_string(momentum));
  const double eps = eps_arg(fn, eps_obj, x);
  if (s.n * s.l < 2) {
    value_error(std::string(fn) + ": training needs more than 1 value per channel, got x of shape " + shape_of(x));
  }
  py::array out = float_output(fn, "out", out_obj, shape_vec(x), x);
  py::array mean = float_output(fn, "mean", mean_obj, {s.c}, x);
  py::array invstd = float_output(fn, "invstd", invstd_obj, {s.c}, x);
  no_overlap(fn, "out", out, "x", x, /*allow_same=*/true);
  const std::vector<Named> ins{{"gamma", gamma}, {"beta", beta}, {"running_mean", rm}, {"running_var", rv}};
  std::vector<Named> all = ins;
  all.push_back({"mean", mean});
  all.push_back({"invstd", invstd});
  no_overlaps(fn, {{"out", out}}, all);
  all.push_back({"x", x});
  no_overlaps(fn, {{"running_mean", rm}, {"running_var", rv}, {"mean", mean}, {"invstd", invstd}}, all);
  reject_nans(fn, {{"x", x}, ins[0], ins[1], ins[2], ins[3]});
  {
    py::gil_scoped_release nogil;
    by_dtype(x, [&](auto zero) {
      using T = decltype(zero);
      batch_norm_train<T>(s, cptr<T>(x), cptr<T>(gamma), cptr<T>(beta), ptr<T>(rm), ptr<T>(rv), ptr<T>(out),
                          ptr<T>(mean), ptr<T>(invstd), momentum, eps);
    });
  }
  return py::make_tuple(out, mean, invstd);
}

py::array inference_py(const py::object& x_obj, const py::object& gamma_obj, const py::object& beta_obj,
                       const py::object& rm_obj, const py::object& rv_obj, const py::object& eps_obj,
                       const py::object& out_obj) {
  const char* fn = "batch_norm_inference";
  py::array x = float_input(fn, "x", x_obj);
  const NormShape s = norm_shape(fn, x);
  py::array gamma = channel_input(fn, "gamma", gamma_obj, x, s.c);
  py::array beta = channel_input(fn, "beta", beta_obj, x, s.c);
  py::array rm = channel_input(fn, "running_mean", rm_obj, x, s.c);
  py::array rv = channel_input(fn, "running_var", rv_obj, x, s.c);
  const double eps = eps_arg(fn, eps_obj, x);
  py::array out = float_output(fn, "out", out_obj, shape_vec(x), x);
  no_overlap(fn, "out", out, "x", x, /*allow_same=*/true);
  const std::vector<Named> ins{{"gamma", gamma}, {"beta", beta}, {"running_mean", rm}, {"running_var", rv}};
  no_overlaps(fn, {{"out", out}}, ins);
  reject_nans(fn, {{"x", x}, ins[0], ins[1], ins[2], ins[3]});
  {
    py::gil_scoped_release nogil;
    by_dtype(x, [&](auto zero) {
      using T = decltype(zero);
      batch_norm_eval<T>(s, cptr<T>(x), cptr<T>(gamma), cptr<T>(beta), cptr<T>(rm), cptr<T>(rv), ptr<T>(out), eps);
    });
  }
  return out;
}

py::tuple backward_py(const py::object& x_obj, const py::object& gamma_obj, const py::object& dy_obj,
                      const py::object& mean_obj, const py::object& invstd_obj, const py::object& need_dx_obj,
                      const py::object& dx_obj, const py::object& dgamma_obj, const py::object& dbeta_obj) {
  const char* fn = "batch_norm_backward";
  py::array x = float_input(fn, "x", x_obj);
  const NormShape s = norm_shape(fn, x);
  py::array gamma = channel_input(fn, "gamma", gamma_obj, x, s.c);
  py::array dy = float_input(fn, "dy", dy_obj);
  same_dtype(fn, "dy", dy, "x", x);
  same_shape(fn, "dy", dy, shape_vec(x));
  py::array mean = channel_input(fn, "mean", mean_obj, x, s.c);
  py::array invstd = channel_input(fn, "invstd", invstd_obj, x, s.c);
  const bool need_dx = bool_arg(fn, "need_dx", need_dx_obj);
  py::array dx = need_dx ? float_output(fn, "dx", dx_obj, shape_vec(x), x) : py::array();
  py::array dgamma = float_output(fn, "dgamma", dgamma_obj, {s.c}, x);
  py::array dbeta = float_output(fn, "dbeta", dbeta_obj, {s.c}, x);
  std::vector<Named> all{{"x", x}, {"gamma", gamma}, {"dy", dy}, {"mean", mean}, {"invstd", invstd},
                         {"dgamma", dgamma}, {"dbeta", dbeta}};
  std::vector<Named> outs{{"dgamma", dgamma}, {"dbeta", dbeta}};
  if (need_dx) {
    no_overlap(fn, "dx", dx, "dy", dy, /*allow_same=*/true);
    std::vector<Named> others{{"x", x}, {"gamma", gamma}, {"mean", mean}, {"invstd", invstd}, {"dgamma", dgamma},
                              {"dbeta", dbeta}};
    no_overlaps(fn, {{"dx", dx}}, others);
  }
  no_overlaps(fn, outs, all);
  reject_nans(fn, {{"x", x}, {"gamma", gamma}, {"dy", dy}, {"mean", mean}, {"invstd", invstd}});
  {
    py::gil_scoped_release nogil;
    by_dtype(x, [&](auto zero) {
      using T = decltype(zero);
      batch_norm_backward<T>(s, cptr<T>(x), cptr<T>(gamma), cptr<T>(dy), cptr<T>(mean), cptr<T>(invstd),
                             need_dx ? ptr<T>(dx) : nullptr, ptr<T>(dgamma), ptr<T>(dbeta));
    });
  }
  return py::make_tuple(need_dx ? py::object(dx) : py::object(py::none()), dgamma, dbeta);
}

}  // namespace

PYDL_BINDINGS(bind_normalization) {
  using py::arg;
  const auto none = py::none();
  m.def("batch_norm_forward", &forward_py, arg("x"), arg("gamma"), arg("beta"), arg("running_mean"),
        arg("running_var"), arg("momentum") = 0.1, arg("eps") = 1e-5, py::kw_only(), arg("out") = none,
        arg("mean") = none, arg("invstd") = none,
        "Batch normalization in training, as torch.nn.functional.batch_norm(training=True): x (N, C, ...)\n"
        "normalized per channel with the batch mean and biased variance, then * gamma + beta; running_mean\n"
        "and running_var (unbiased) are updated in place with momentum. Returns (out, mean, invstd).");
  m.def("batch_norm_inference", &inference_py, arg("x"), arg("gamma"), arg("beta"), arg("running_mean"),
        arg("running_var"), arg("eps") = 1e-5, py::kw_only(), arg("out") = none,
        "Batch normalization in eval mode: x normalized per channel with the running statistics. Returns out.");
  m.def("batch_norm_backward", &backward_py, arg("x"), arg("gamma"), arg("dy"), arg("mean"), arg("invstd"),
        py::kw_only(), arg("need_dx") = true, arg("dx") = none, arg("dgamma") = none, arg("dbeta") = none,
        "Gradients of batch_norm_forward from its saved mean and invstd: (dx or None, dgamma, dbeta).");
}

}  // namespace pydl
