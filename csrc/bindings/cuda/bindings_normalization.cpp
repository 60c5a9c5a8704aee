// Bindings of the batch-normalization kernels on DeviceArrays: the signatures and checks of
// pydl/reference/normalization.py.
#include <cmath>
#include <string>
#include <vector>

#include "cuda/normalization.h"
#include "check.h"
#include "device_check.h"
#include "registry.h"

namespace pydl::cuda {
namespace {

struct Named {
  const char* name;
  DeviceArray a;
};

struct NCL {
  int64_t n, c, l;
};

// x as (n, c, l): at least 2-D, channels on axis 1.
NCL ncl(const char* fn, const DeviceArray& x) {
  if (x.shape.size() < 2) value_error(std::string(fn) + ": x must have shape (N, C, ...), got " + shape_str(x.shape));
  int64_t l = 1;
  for (size_t d = 2; d < x.shape.size(); ++d) l *= x.shape[d];
  return NCL{x.shape[0], x.shape[1], l};
}

DeviceArray channel_input(const char* fn, const char* name, const py::object& obj, const DeviceArray& x, int64_t c) {
  const DeviceArray a = float_input(fn, name, obj);
  same_dtype(fn, name, a, "x", x);
  same_shape(fn, name, a, {c});
  return a;
}

// An array updated in place (never None): x's dtype and shape (c,).
DeviceArray inout(const char* fn, const char* name, const py::object& obj, const DeviceArray& x, int64_t c) {
  to_device_array(fn, name, obj);  // TypeError for None or a host array
  return float_output(fn, name, obj, {c}, x);
}

// Every output against every other array: none may share memory, except an output with itself.
void no_overlaps(const char* fn, const std::vector<Named>& outs, const std::vector<Named>& all) {
  for (const Named& o : outs) {
    for (const Named& a : all) {
      if (o.a.data == a.a.data && std::string(o.name) == a.name) continue;
      no_overlap(fn, o.name, o.a, a.name, a.a);
    }
  }
}

void reject_nans(const char* fn, const std::vector<Named>& arrays) {
  for (const Named& a : arrays) reject_nan(fn, a.name, a.a);
}

double eps_arg(const char* fn, const py::object& obj, const DeviceArray& x) {
  const double eps = float_arg(fn, "eps", obj);
  if (!(eps > 0)) value_error(std::string(fn) + ": eps must be > 0, got " + float_text(eps));
  fits_dtype(fn, "eps", eps, x);
  return eps;
}

py::tuple forward_py(const py::object& x_obj, const py::object& gamma_obj, const py::object& beta_obj,
                     const py::object& rm_obj, const py::object& rv_obj, const py::object& momentum_obj,
                     const py::object& eps_obj, const py::object& out_obj, const py::object& mean_obj,
                     const py::object& invstd_obj) {
  const char* fn = "batch_norm_forward";
  const DeviceArray x = float_input(fn, "x", x_obj);
  const NCL s = ncl(fn, x);
  const DeviceArray gamma = channel_input(fn, "gamma", gamma_obj, x, s.c);
  const DeviceArray beta = channel_input(fn, "beta", beta_obj, x, s.c);
  const DeviceArray rm = inout(fn, "running_mean", rm_obj, x, s.c);
  const DeviceArray rv = inout(fn, "running_var", rv_obj, x, s.c);
  const double momentum = float_arg(fn, "momentum", momentum_obj);
  if (!(momentum >= 0 && momentum <= 1)) value_error(std::string(fn) + ": momentum must lie in [0, 1], got " + float_text(momentum));
  const double eps = eps_arg(fn, eps_obj, x);
  if (s.n * s.l < 2) {
    value_error(std::string(fn) + ": training needs more than 1 value per channel, got x of shape " + shape_str(x.shape));
  }
  const DeviceArray out = float_output(fn, "out", out_obj, x.shape, x);
  const DeviceArray mean = float_output(fn, "mean", mean_obj, {s.c}, x);
  const DeviceArray invstd = float_output(fn, "invstd", invstd_obj, {s.c}, x);
  no_overlap(fn, "out", out, "x", x, true);
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
      batch_norm_train<T>(x.ptr<T>(), gamma.ptr<T>(), beta.ptr<T>(), rm.ptr<T>(), rv.ptr<T>(), out.ptr<T>(),
                          mean.ptr<T>(), invstd.ptr<T>(), s.n, s.c, s.l, momentum, eps, stream());
    });
  }
  check_launch(fn);
  return py::make_tuple(result(out_obj, out), result(mean_obj, mean), result(invstd_obj, invstd));
}

py::object inference_py(const py::object& x_obj, const py::object& gamma_obj, const py::object& beta_obj,
                        const py::object& rm_obj, const py::object& rv_obj, const py::object& eps_obj,
                        const py::object& out_obj) {
  const char* fn = "batch_norm_inference";
  const DeviceArray x = float_input(fn, "x", x_obj);
  const NCL s = ncl(fn, x);
  const DeviceArray gamma = channel_input(fn, "gamma", gamma_obj, x, s.c);
  const DeviceArray beta = channel_input(fn, "beta", beta_obj, x, s.c);
  const DeviceArray rm = channel_input(fn, "running_mean", rm_obj, x, s.c);
  const DeviceArray rv = channel_input(fn, "running_var", rv_obj, x, s.c);
  const double eps = eps_arg(fn, eps_obj, x);
  const DeviceArray out = float_output(fn, "out", out_obj, x.shape, x);
  no_overlap(fn, "out", out, "x", x, true);
  const std::vector<Named> ins{{"gamma", gamma}, {"beta", beta}, {"running_mean", rm}, {"running_var", rv}};
  no_overlaps(fn, {{"out", out}}, ins);
  reject_nans(fn, {{"x", x}, ins[0], ins[1], ins[2], ins[3]});
  {
    py::gil_scoped_release nogil;
    by_dtype(x, [&](auto zero) {
      using T = decltype(zero);
      batch_norm_eval<T>(x.ptr<T>(), gamma.ptr<T>(), beta.ptr<T>(), rm.ptr<T>(), rv.ptr<T>(), out.ptr<T>(), s.n, s.c,
                         s.l, eps, stream());
    });
  }
  check_launch(fn);
  return result(out_obj, out);
}

py::tuple backward_py(const py::object& x_obj, const py::object& gamma_obj, const py::object& dy_obj,
                      const py::object& mean_obj, const py::object& invstd_obj, const py::object& need_dx_obj,
                      const py::object& dx_obj, const py::object& dgamma_obj, const py::object& dbeta_obj) {
  const char* fn = "batch_norm_backward";
  const DeviceArray x = float_input(fn, "x", x_obj);
  const NCL s = ncl(fn, x);
  const DeviceArray gamma = channel_input(fn, "gamma", gamma_obj, x, s.c);
  const DeviceArray dy = float_input(fn, "dy", dy_obj);
  same_dtype(fn, "dy", dy, "x", x);
  same_shape(fn, "dy", dy, x.shape);
  const DeviceArray mean = channel_input(fn, "mean", mean_obj, x, s.c);
  const DeviceArray invstd = channel_input(fn, "invstd", invstd_obj, x, s.c);
  const bool need_dx = bool_arg(fn, "need_dx", need_dx_obj);
  const DeviceArray dx = need_dx ? float_output(fn, "dx", dx_obj, x.shape, x) : DeviceArray();
  const DeviceArray dgamma = float_output(fn, "dgamma", dgamma_obj, {s.c}, x);
  const DeviceArray dbeta = float_output(fn, "dbeta", dbeta_obj, {s.c}, x);
  const std::vector<Named> all{{"x", x}, {"gamma", gamma}, {"dy", dy}, {"mean", mean}, {"invstd", invstd},
                               {"dgamma", dgamma}, {"dbeta", dbeta}};
  if (need_dx) {
    no_overlap(fn, "dx", dx, "dy", dy, true);
    no_overlaps(fn, {{"dx", dx}}, {{"x", x}, {"gamma", gamma}, {"mean", mean}, {"invstd", invstd},
                                   {"dgamma", dgamma}, {"dbeta", dbeta}});
  }
  no_overlaps(fn, {{"dgamma", dgamma}, {"dbeta", dbeta}}, all);
  reject_nans(fn, {all[0], all[1], all[2], all[3], all[4]});
  {
    py::gil_scoped_release nogil;
    by_dtype(x, [&](auto zero) {
      using T = decltype(zero);
      batch_norm_backward<T>(x.ptr<T>(), gamma.ptr<T>(), dy.ptr<T>(), mean.ptr<T>(), invstd.ptr<T>(),
                             need_dx ? dx.ptr<T>() : nullptr, dgamma.ptr<T>(), dbeta.ptr<T>(), s.n, s.c, s.l, stream());
    });
  }
  check_launch(fn);
  return py::make_tuple(need_dx ? result(dx_obj, dx) : py::object(py::none()), result(dgamma_obj, dgamma),
                        result(dbeta_obj, dbeta));
}

}  // namespace
}  // namespace pydl::cuda

PYDL_BINDINGS(bind_normalization) {
  using namespace pydl::cuda;
  using py::arg;
  const auto none = py::none();
  m.def("batch_norm_forward", &forward_py, arg("x"), arg("gamma"), arg("beta"), arg("running_mean"),
        arg("running_var"), arg("momentum") = 0.1, arg("eps") = 1e-5, py::kw_only(), arg("out") = none,
        arg("mean") = none, arg("invstd") = none,
        "Batch normalization in training: x (N, C, ...) normalized per channel with the batch statistics, then\n"
        "* gamma + beta; running_mean/running_var (unbiased) updated in place. Returns (out, mean, invstd).");
  m.def("batch_norm_inference", &inference_py, arg("x"), arg("gamma"), arg("beta"), arg("running_mean"),
        arg("running_var"), arg("eps") = 1e-5, py::kw_only(), arg("out") = none,
        "Batch normalization in eval mode, with the running statistics. Returns out.");
  m.def("batch_norm_backward", &backward_py, arg("x"), arg("gamma"), arg("dy"), arg("mean"), arg("invstd"),
        py::kw_only(), arg("need_dx") = true, arg("dx") = none, arg("dgamma") = none, arg("dbeta") = none,
        "Gradients of batch_norm_forward from its saved mean and invstd: (dx or None, dgamma, dbeta).");
}
