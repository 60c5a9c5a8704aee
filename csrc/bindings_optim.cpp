// Bindings for the optimizer updates: parameters and state are updated in place, so every one of
// them must be a writeable contiguous array of the parameter's dtype and shape.
#include "check.h"
#include "optim.h"
#include "registry.h"

namespace pydl {
namespace {

struct Checked {
  py::array param, grad;
};

Checked param_and_grad(const char* fn, const py::object& param_obj, const py::object& grad_obj, double lr,
                       double weight_decay) {
  Checked c;
  c.param = float_input(fn, "param", param_obj);
  c.param = float_inout(fn, "param", c.param, c.param, shape_vec(c.param));
  c.grad = float_input(fn, "grad", grad_obj);
  same_dtype(fn, "grad", c.grad, "param", c.param);
  same_shape(fn, "grad", c.grad, shape_vec(c.param));
  if (!(lr >= 0)) value_error(std::string(fn) + ": lr must be >= 0, got " + std::to_string(lr));
  if (!(weight_decay >= 0))
    value_error(std::string(fn) + ": weight_decay must be >= 0, got " + std::to_string(weight_decay));
  return c;
}

py::array state(const char* fn, const char* name, const py::object& obj, const py::array& param) {
  if (obj.is_none()) value_error(std::string(fn) + ": " + name + " is required with these settings");
  return float_inout(fn, name, obj, param, shape_vec(param));
}

template <typename T>
T* opt_ptr(py::array& a) { return a ? ptr<T>(a) : nullptr; }

void nan_error(const char* fn, const py::array& grad) {
  value_error(std::string(fn) + ": grad with shape " + shape_of(grad) +
              " contains NaN (training diverged? try a smaller learning rate)");
}

}  // namespace

PYDL_BINDINGS(bind_optim) {
  using py::arg;
  const auto none = py::none();
  m.def(
      "sgd_step",
      [](const py::object& param_obj, const py::object& grad_obj, const py::object& buf_obj, double lr, double momentum,
         double dampening, double weight_decay, bool nesterov, bool first_step) {
        const char* fn = "sgd_step";
        Checked c = param_and_grad(fn, param_obj, grad_obj, lr, weight_decay);
        if (momentum < 0) value_error("sgd_step: momentum must be >= 0, got " + std::to_string(momentum));
        if (nesterov && (momentum <= 0 || dampening != 0))
          value_error("sgd_step: Nesterov momentum requires momentum > 0 and dampening = 0");
        py::array buf;
        if (momentum != 0) buf = state(fn, "momentum_buf", buf_obj, c.param);
        SgdConfig cfg{lr, momentum, dampening, weight_decay, nesterov, first_step};
        bool nan;
        {
          py::gil_scoped_release nogil;
          nan = is_f32(c.param)
                    ? sgd_update(ptr<float>(c.param), cptr<float>(c.grad), opt_ptr<float>(buf), c.param.size(), cfg)
                    : sgd_update(ptr<double>(c.param), cptr<double>(c.grad), opt_ptr<double>(buf), c.param.size(), cfg);
        }
        if (nan) nan_error(fn, c.grad);
      },
      arg("param"), arg("grad"), arg("momentum_buf") = none, py::kw_only(), arg("lr"), arg("momentum") = 0.0,
      arg("dampening") = 0.0, arg("weight_decay") = 0.0, arg("nesterov") = false, arg("first_step") = false,
      "SGD as torch.optim.SGD: g = grad + wd*param; buf = g (first step) or momentum*buf + (1-dampening)*g;\n"
      "g = g + momentum*buf (nesterov) or buf; param -= lr*g. Updates param and momentum_buf in place.");
  m.def(
      "rmsprop_step",
      [](const py::object& param_obj, const py::object& grad_obj, const py::object& sq_obj, double lr, double alpha,
         double eps, double weight_decay, double momentum, bool centered, const py::object& buf_obj,
         const py::object& gavg_obj) {
        const char* fn = "rmsprop_step";
        Checked c = param_and_grad(fn, param_obj, grad_obj, lr, weight_decay);
        if (!(alpha >= 0 && alpha <= 1)) value_error("rmsprop_step: alpha must lie in [0, 1], got " + std::to_string(alpha));
        if (!(eps >= 0)) value_error("rmsprop_step: eps must be >= 0, got " + std::to_string(eps));
        py::array sq = state(fn, "square_avg", sq_obj, c.param), buf, gavg;
        if (momentum > 0) buf = state(fn, "momentum_buf", buf_obj, c.param);
        if (centered) gavg = state(fn, "grad_avg", gavg_obj, c.param);
        RmspropConfig cfg{lr, alpha, eps, weight_decay, momentum, centered};
        bool nan;
        {
          py::gil_scoped_release nogil;
          nan = is_f32(c.param) ? rmsprop_update(ptr<float>(c.param), cptr<float>(c.grad), ptr<float>(sq),
                                                 opt_ptr<float>(buf), opt_ptr<float>(gavg), c.param.size(), cfg)
                                : rmsprop_update(ptr<double>(c.param), cptr<double>(c.grad), ptr<double>(sq),
                                                 opt_ptr<double>(buf), opt_ptr<double>(gavg), c.param.size(), cfg);
        }
        if (nan) nan_error(fn, c.grad);
      },
      arg("param"), arg("grad"), arg("square_avg"), py::kw_only(), arg("lr") = 0.01, arg("alpha") = 0.99,
      arg("eps") = 1e-8, arg("weight_decay") = 0.0, arg("momentum") = 0.0, arg("centered") = false,
      arg("momentum_buf") = none, arg("grad_avg") = none,
      "RMSprop as torch.optim.RMSprop (eps added after the square root). Updates in place.");
  m.def(
      "adam_step",
      [](const py::object& param_obj, const py::object& grad_obj, const py::object& m_obj, const py::object& v_obj,
         int64_t step, double lr, double beta1, double beta2, double eps, double weight_decay) {
        const char* fn = "adam_step";
        Checked c = param_and_grad(fn, param_obj, grad_obj, lr, weight_decay);
        if (step < 1)
          value_error("adam_step: step must be >= 1 (the count including this update), got " + std::to_string(step));
        if (!(beta1 >= 0 && beta1 < 1)) value_error("adam_step: beta1 must lie in [0, 1), got " + std::to_string(beta1));
        if (!(beta2 >= 0 && beta2 < 1)) value_error("adam_step: beta2 must lie in [0, 1), got " + std::to_string(beta2));
        py::array m1 = state(fn, "exp_avg", m_obj, c.param), m2 = state(fn, "exp_avg_sq", v_obj, c.param);
        AdamConfig cfg{lr, beta1, beta2, eps, weight_decay, step};
        bool nan;
        {
          py::gil_scoped_release nogil;
          nan = is_f32(c.param) ? adam_update(ptr<float>(c.param), cptr<float>(c.grad), ptr<float>(m1),
                                              ptr<float>(m2), c.param.size(), cfg)
                                : adam_update(ptr<double>(c.param), cptr<double>(c.grad), ptr<double>(m1),
                                              ptr<double>(m2), c.param.size(), cfg);
        }
        if (nan) nan_error(fn, c.grad);
      },
      arg("param"), arg("grad"), arg("exp_avg"), arg("exp_avg_sq"), py::kw_only(), arg("step"), arg("lr") = 0.001,
      arg("beta1") = 0.9, arg("beta2") = 0.999, arg("eps") = 1e-8, arg("weight_decay") = 0.0,
      "Adam as torch.optim.Adam: param -= lr/(1-beta1^step) * m / (sqrt(v)/sqrt(1-beta2^step) + eps).\n"
      "step counts from 1 and includes this update. Updates param, exp_avg, exp_avg_sq in place.");
}

}  // namespace pydl
