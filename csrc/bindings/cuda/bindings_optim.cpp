// Bindings of the optimizer updates on DeviceArrays: the signatures, checks and messages of
// pydl/reference/optim.py. Parameters and state are updated in place; every check, the device's NaN/inf
// check of all the arrays included (one copy back), runs before the first element is written.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "cuda/optim.h"
#include "check.h"
#include "device_check.h"
#include "device_values.h"
#include "registry.h"

namespace pydl::cuda {
namespace {

[[noreturn]] void fail(const char* fn, const std::string& what) {
  throw py::value_error(std::string(fn) + ": " + what);
}

struct ParamGrad {
  DeviceArray param, grad;
  double lr, weight_decay;
};

ParamGrad param_and_grad(const char* fn, const py::object& param_obj, const py::object& grad_obj,
                         const py::object& lr_obj, const py::object& wd_obj) {
  ParamGrad c;
  c.param = float_input(fn, "param", param_obj);
  c.grad = float_input(fn, "grad", grad_obj);
  same_dtype(fn, "grad", c.grad, "param", c.param);
  same_shape(fn, "grad", c.grad, c.param.shape);
  c.lr = float_arg(fn, "lr", lr_obj);
  c.weight_decay = float_arg(fn, "weight_decay", wd_obj);
  fits_dtype(fn, "lr", c.lr, c.param);
  fits_dtype(fn, "weight_decay", c.weight_decay, c.param);
  if (!(c.lr >= 0)) fail(fn, "lr must be >= 0, got " + float_text(c.lr));
  if (!(c.weight_decay >= 0)) fail(fn, "weight_decay must be >= 0, got " + float_text(c.weight_decay));
  return c;
}

struct Named {
  const char* name;
  DeviceArray a;
};

// A state array the settings need (checked, and listed for the final checks), else an empty one.
DeviceArray state_if(bool needed, const char* fn, const char* name, const py::object& obj, const DeviceArray& param,
                     std::vector<Named>& arrays) {
  if (!needed) return DeviceArray();
  if (obj.is_none()) fail(fn, std::string(name) + " is required with these settings");
  DeviceArray a = float_output(fn, name, obj, param.shape, param);
  arrays.push_back({name, a});
  return a;
}

// The last checks before the update: no two arrays share memory, and all hold finite values (a NaN or
// inf can only spread); the values are checked on the device, all arrays in one copy.
void no_overlap_finite(const char* fn, const std::vector<Named>& arrays) {
  for (size_t i = 0; i < arrays.size(); ++i) {
    for (size_t j = 0; j < i; ++j) no_overlap(fn, arrays[i].name, arrays[i].a, arrays[j].name, arrays[j].a);
  }
  std::vector<DeviceArray> all;
  for (const Named& n : arrays) all.push_back(n.a);
  const CheckedValues v = check_values(fn, all);
  for (size_t i = 0; i < arrays.size(); ++i) {
    const bool grad = std::string(arrays[i].name) == "grad";
    raise_nonfinite(fn, arrays[i].name, arrays[i].a, v.arrays[i],
                    grad ? " (training diverged? try a smaller learning rate)" : "");
  }
}

template <typename T>
T* opt_ptr(const DeviceArray& a) { return a.data ? a.ptr<T>() : nullptr; }

void sgd_step_py(const py::object& param_obj, const py::object& grad_obj, const py::object& buf_obj,
                 const py::object& lr, const py::object& momentum_obj, const py::object& dampening_obj,
                 const py::object& wd, const py::object& nesterov_obj, const py::object& first_step_obj) {
  const char* fn = "sgd_step";
  const ParamGrad c = param_and_grad(fn, param_obj, grad_obj, lr, wd);
  const double momentum = float_arg(fn, "momentum", momentum_obj);
  const double dampening = float_arg(fn, "dampening", dampening_obj);
  const bool nesterov = bool_arg(fn, "nesterov", nesterov_obj);
  const bool first_step = bool_arg(fn, "first_step", first_step_obj);
  fits_dtype(fn, "momentum", momentum, c.param);
  fits_dtype(fn, "dampening", dampening, c.param);
  if (momentum < 0) fail(fn, "momentum must be >= 0, got " + float_text(momentum));
  if (nesterov && (momentum <= 0 || dampening != 0)) {
    fail(fn, "Nesterov momentum requires momentum > 0 and dampening = 0");
  }
  std::vector<Named> arrays{{"param", c.param}, {"grad", c.grad}};
  const DeviceArray buf = state_if(momentum != 0, fn, "momentum_buf", buf_obj, c.param, arrays);
  no_overlap_finite(fn, arrays);
  const SgdConfig cfg{c.lr, momentum, dampening, c.weight_decay, nesterov, first_step};
  {
    py::gil_scoped_release nogil;
    by_dtype(c.param, [&](auto zero) {
      using T = decltype(zero);
      sgd_step<T>(c.param.ptr<T>(), c.grad.ptr<T>(), opt_ptr<T>(buf), c.param.size(), cfg, stream());
    });
  }
  check_launch(fn);
}

void rmsprop_step_py(const py::object& param_obj, const py::object& grad_obj, const py::object& sq_obj,
                     const py::object& lr, const py::object& alpha_obj, const py::object& eps_obj,
                     const py::object& wd, const py::object& momentum_obj, const py::object& centered_obj,
                     const py::object& buf_obj, const py::object& gavg_obj) {
  const char* fn = "rmsprop_step";
  const ParamGrad c = param_and_grad(fn, param_obj, grad_obj, lr, wd);
  const double alpha = float_arg(fn, "alpha", alpha_obj), eps = float_arg(fn, "eps", eps_obj);
  const double momentum = float_arg(fn, "momentum", momentum_obj);
  const bool centered = bool_arg(fn, "centered", centered_obj);
  fits_dtype(fn, "eps", eps, c.param);
  fits_dtype(fn, "momentum", momentum, c.param);
  if (!(alpha >= 0 && alpha <= 1)) fail(fn, "alpha must lie in [0, 1], got " + float_text(alpha));
  if (!(eps >= 0)) fail(fn, "eps must be >= 0, got " + float_text(eps));
  if (momentum < 0) fail(fn, "momentum must be >= 0, got " + float_text(momentum));
  std::vector<Named> arrays{{"param", c.param}, {"grad", c.grad}};
  const DeviceArray sq = state_if(true, fn, "square_avg", sq_obj, c.param, arrays);
  const DeviceArray buf = state_if(momentum > 0, fn, "momentum_buf", buf_obj, c.param, arrays);
  const DeviceArray gavg = state_if(centered, fn, "grad_avg", gavg_obj, c.param, arrays);
  no_overlap_finite(fn, arrays);
  const RmspropConfig cfg{c.lr, alpha, eps, c.weight_decay, momentum, centered};
  {
    py::gil_scoped_release nogil;
    by_dtype(c.param, [&](auto zero) {
      using T = decltype(zero);
      rmsprop_step<T>(c.param.ptr<T>(), c.grad.ptr<T>(), sq.ptr<T>(), opt_ptr<T>(buf), opt_ptr<T>(gavg),
                      c.param.size(), cfg, stream());
    });
  }
  check_launch(fn);
}

void adam_step_py(const py::object& param_obj, const py::object& grad_obj, const py::object& m_obj,
                  const py::object& v_obj, const py::object& step_obj, const py::object& lr,
                  const py::object& beta1_obj, const py::object& beta2_obj, const py::object& eps_obj,
                  const py::object& wd, const py::object& dwd_obj) {
  const char* fn = "adam_step";
  const ParamGrad c = param_and_grad(fn, param_obj, grad_obj, lr, wd);
  const int64_t step = int_arg(fn, "step", step_obj);
  const double beta1 = float_arg(fn, "beta1", beta1_obj), beta2 = float_arg(fn, "beta2", beta2_obj);
  const double eps = float_arg(fn, "eps", eps_obj);
  fits_dtype(fn, "eps", eps, c.param);
  if (step < 1) fail(fn, "step must be >= 1 (the count including this update), got " + std::to_string(step));
  if (!(beta1 >= 0 && beta1 < 1)) fail(fn, "beta1 must lie in [0, 1), got " + float_text(beta1));
  if (!(beta2 >= 0 && beta2 < 1)) fail(fn, "beta2 must lie in [0, 1), got " + float_text(beta2));
  if (!(eps >= 0)) fail(fn, "eps must be >= 0, got " + float_text(eps));
  const double dwd = float_arg(fn, "decoupled_weight_decay", dwd_obj);
  fits_dtype(fn, "decoupled_weight_decay", dwd, c.param);
  if (!(dwd >= 0)) fail(fn, "decoupled_weight_decay must be >= 0, got " + float_text(dwd));
  std::vector<Named> arrays{{"param", c.param}, {"grad", c.grad}};
  const DeviceArray m1 = state_if(true, fn, "exp_avg", m_obj, c.param, arrays);
  const DeviceArray m2 = state_if(true, fn, "exp_avg_sq", v_obj, c.param, arrays);
  no_overlap_finite(fn, arrays);
  const AdamConfig cfg{c.lr, beta1, beta2, eps, c.weight_decay, step, dwd};
  {
    py::gil_scoped_release nogil;
    by_dtype(c.param, [&](auto zero) {
      using T = decltype(zero);
      adam_step<T>(c.param.ptr<T>(), c.grad.ptr<T>(), m1.ptr<T>(), m2.ptr<T>(), c.param.size(), cfg, stream());
    });
  }
  check_launch(fn);
}

}  // namespace
}  // namespace pydl::cuda

PYDL_BINDINGS(bind_optim) {
  using namespace pydl::cuda;
  using py::arg;
  const auto none = py::none();
  m.def("sgd_step", &sgd_step_py, arg("param"), arg("grad"), arg("momentum_buf") = none, py::kw_only(), arg("lr"),
        arg("momentum") = 0.0, arg("dampening") = 0.0, arg("weight_decay") = 0.0, arg("nesterov") = false,
        arg("first_step") = false,
        "SGD as torch.optim.SGD: g = grad + wd*param; buf = g (first step) or momentum*buf + (1-dampening)*g;\n"
        "g = g + momentum*buf (nesterov) or buf; param -= lr*g. Updates param and momentum_buf in place.\n"
        "NaN or inf in param, grad or momentum_buf raises ValueError before anything is written.");
  m.def("rmsprop_step", &rmsprop_step_py, arg("param"), arg("grad"), arg("square_avg"), py::kw_only(),
        arg("lr") = 0.01, arg("alpha") = 0.99, arg("eps") = 1e-8, arg("weight_decay") = 0.0, arg("momentum") = 0.0,
        arg("centered") = false, arg("momentum_buf") = none, arg("grad_avg") = none,
        "RMSprop as torch.optim.RMSprop (eps added after the square root). Updates in place.\n"
        "NaN or inf in param, grad or a state array raises ValueError before anything is written.");
  m.def("adam_step", &adam_step_py, arg("param"), arg("grad"), arg("exp_avg"), arg("exp_avg_sq"), py::kw_only(),
        arg("step"), arg("lr") = 0.001, arg("beta1") = 0.9, arg("beta2") = 0.999, arg("eps") = 1e-8,
        arg("weight_decay") = 0.0, arg("decoupled_weight_decay") = 0.0,
        "Adam as torch.optim.Adam: param -= lr/(1-beta1^step) * m / (sqrt(v)/sqrt(1-beta2^step) + eps).\n"
        "weight_decay is added to the gradient (Adam's L2); decoupled_weight_decay first scales param by\n"
        "1 - lr * decoupled_weight_decay (torch.optim.AdamW's weight_decay).\n"
        "step counts from 1 and includes this update. Updates param, exp_avg, exp_avg_sq in place.\n"
        "NaN or inf in param, grad or a state array raises ValueError before anything is written.");
}
