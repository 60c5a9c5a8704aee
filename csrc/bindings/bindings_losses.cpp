// Bindings for the losses: each returns (loss, grad), grad = d(mean loss)/d(input).
#include <cmath>

#include "check.h"
#include "losses.h"
#include "registry.h"

namespace pydl {
namespace {

template <typename T>
void check_unit_range(const char* fn, const py::array& target) {
  const T* t = cptr<T>(target);
  double lo = t[0], hi = t[0];
  for (int64_t i = 0; i < target.size(); ++i) {
    lo = std::min(lo, double(t[i]));
    hi = std::max(hi, double(t[i]));
  }
  if (lo < 0 || hi > 1) {
    value_error(std::string(fn) + ": target values must lie in [0, 1], got range [" + py::str(py::float_(lo)).cast<std::string>() +
                ", " + py::str(py::float_(hi)).cast<std::string>() + "]");
  }
}

// Input and target of one shape and dtype, both finite (a loss of inf inputs would be NaN or inf
// without telling); returns the gradient buffer, which may not share memory with either.
py::array paired(const char* fn, const char* name, py::array& x, const py::object& x_obj, py::array& t,
                 const py::object& t_obj, const py::object& grad_obj, bool unit_target) {
  x = float_input(fn, name, x_obj);
  t = float_input(fn, "target", t_obj);
  same_dtype(fn, "target", t, name, x);
  same_shape(fn, "target", t, shape_vec(x));
  py::array grad = float_output(fn, "grad", grad_obj, shape_vec(x), x);
  no_overlap(fn, "grad", grad, name, x);
  no_overlap(fn, "grad", grad, "target", t);
  reject_nonfinite(fn, name, x);
  reject_nonfinite(fn, "target", t);
  if (unit_target) by_dtype(t, [&](auto zero) { check_unit_range<decltype(zero)>(fn, t); });
  return grad;
}

// Integer class labels (N,) as int64, range-checked.
py::array_t<int64_t> class_labels(const char* fn, const py::object& obj, int64_t n, int64_t c,
                                  const py::array& logits) {
  if (py::isinstance<py::array>(obj) && py::reinterpret_borrow<py::array>(obj).ndim() == 1 &&
      py::reinterpret_borrow<py::array>(obj).shape(0) != n) {
    value_error(std::string(fn) + ": integer labels must have shape (" + std::to_string(n) + ",) to match logits " +
                shape_of(logits) + ", got " + shape_of(py::reinterpret_borrow<py::array>(obj)));
  }
  auto labels = int_input(fn, "target", obj, {n});
  const int64_t* l = labels.data();
  for (int64_t i = 0; i < n; ++i) {
    if (l[i] < 0 || l[i] >= c) {
      value_error(std::string(fn) + ": label " + std::to_string(l[i]) + " at index " + std::to_string(i) +
                  " is out of range for " + std::to_string(c) + " classes (logits " + shape_of(logits) + ")");
    }
  }
  return labels;
}

template <typename F>
py::tuple finish(const py::array& x, py::array& grad, F&& run) {
  double loss;
  {
    py::gil_scoped_release nogil;
    loss = by_dtype(x, run);
  }
  return py::make_tuple(loss, grad);
}

}  // namespace

PYDL_BINDINGS(bind_losses) {
  using py::arg;
  const auto none = py::none();
  m.def(
      "mse_loss",
      [](const py::object& pred_obj, const py::object& target_obj, const py::object& grad_obj) {
        py::array pred, target;
        py::array grad = paired("mse_loss", "pred", pred, pred_obj, target, target_obj, grad_obj, false);
        return finish(pred, grad, [&](auto zero) {
          using T = decltype(zero);
          return mse_loss<T>(cptr<T>(pred), cptr<T>(target), ptr<T>(grad), pred.size());
        });
      },
      arg("pred"), arg("target"), arg("grad") = none,
      "Mean squared error over all elements. Returns (loss, grad).");
  m.def(
      "bce_loss",
      [](const py::object& prob_obj, const py::object& target_obj, const py::object& eps_obj,
         const py::object& grad_obj) {
        const double eps = float_arg("bce_loss", "eps", eps_obj);
        if (!(eps > 0 && eps < 0.5)) value_error("bce_loss: eps must lie in (0, 0.5), got " + std::to_string(eps));
        py::array prob, target;
        py::array grad = paired("bce_loss", "prob", prob, prob_obj, target, target_obj, grad_obj, true);
        return finish(prob, grad, [&](auto zero) {
          using T = decltype(zero);
          return bce_loss<T>(cptr<T>(prob), cptr<T>(target), ptr<T>(grad), prob.size(), eps);
        });
      },
      arg("prob"), arg("target"), arg("eps") = 1e-7, arg("grad") = none,
      "Binary cross-entropy on probabilities clipped to [eps, 1-eps], mean over all elements.\n"
      "The gradient is taken at the clipped probability. Returns (loss, grad).");
  m.def(
      "bce_with_logits_loss",
      [](const py::object& z_obj, const py::object& target_obj, const py::object& grad_obj) {
        py::array z, target;
        py::array grad = paired("bce_with_logits_loss", "logits", z, z_obj, target, target_obj, grad_obj, true);
        return finish(z, grad, [&](auto zero) {
          using T = decltype(zero);
          return bce_with_logits_loss<T>(cptr<T>(z), cptr<T>(target), ptr<T>(grad), z.size());
        });
      },
      arg("logits"), arg("target"), arg("grad") = none,
      "Binary cross-entropy of sigmoid(logits) in the stable form max(z,0) - z t + log1p(exp(-|z|)).\n"
      "Returns (loss, grad).");
  m.def(
      "softmax_cross_entropy",
      [](const py::object& z_obj, const py::object& target_obj, const py::object& grad_obj) {
        const char* fn = "softmax_cross_entropy";
        py::array z = float_input(fn, "logits", z_obj, 2);
        int64_t n = z.shape(0), c = z.shape(1);
        if (is_int_array(target_obj)) {
          auto labels = class_labels(fn, target_obj, n, c, z);
          py::array grad = float_output(fn, "grad", grad_obj, shape_vec(z), z);
          no_overlap(fn, "grad", grad, "logits", z);
          no_overlap(fn, "grad", grad, "target", labels);
          reject_nonfinite(fn, "logits", z);
          return finish(z, grad, [&](auto zero) {
            using T = decltype(zero);
            return softmax_ce_labels<T>(cptr<T>(z), labels.data(), ptr<T>(grad), n, c);
          });
        }
        py::array t = float_input(fn, "target", target_obj);
        same_dtype(fn, "target", t, "logits", z);
        same_shape(fn, "target", t, shape_vec(z));
        py::array grad = float_output(fn, "grad", grad_obj, shape_vec(z), z);
        no_overlap(fn, "grad", grad, "logits", z);
        no_overlap(fn, "grad", grad, "target", t);
        reject_nonfinite(fn, "logits", z);
        reject_nonfinite(fn, "target", t);
        by_dtype(t, [&](auto zero) { check_unit_range<decltype(zero)>(fn, t); });  // probabilities
        return finish(z, grad, [&](auto zero) {
          using T = decltype(zero);
          return softmax_ce_rows<T>(cptr<T>(z), cptr<T>(t), ptr<T>(grad), n, c);
        });
      },
      arg("logits"), arg("target"), arg("grad") = none,
      "Softmax cross-entropy from logits (N, C), mean over the batch. target: integer labels (N,) or\n"
      "one-hot/probability rows (N, C) with values in [0, 1]. Returns (loss, grad).");
  m.def(
      "multi_bce_loss",
      [](const py::object& z_obj, const py::object& target_obj, const py::object& grad_obj) {
        const char* fn = "multi_bce_loss";
        py::array z = float_input(fn, "logits", z_obj, 2);
        int64_t n = z.shape(0), c = z.shape(1);
        if (is_int_array(target_obj)) {
          auto labels = class_labels(fn, target_obj, n, c, z);
          py::array grad = float_output(fn, "grad", grad_obj, shape_vec(z), z);
          no_overlap(fn, "grad", grad, "logits", z);
          no_overlap(fn, "grad", grad, "target", labels);
          reject_nonfinite(fn, "logits", z);
          return finish(z, grad, [&](auto zero) {
            using T = decltype(zero);
            return multi_bce_labels<T>(cptr<T>(z), labels.data(), ptr<T>(grad), n, c);
          });
        }
        py::array t;
        py::array grad = paired(fn, "logits", z, z_obj, t, target_obj, grad_obj, true);
        return finish(z, grad, [&](auto zero) {
          using T = decltype(zero);
          return bce_with_logits_loss<T>(cptr<T>(z), cptr<T>(t), ptr<T>(grad), z.size());
        });
      },
      arg("logits"), arg("target"), arg("grad") = none,
      "Multiple binary cross-entropy: one sigmoid per class against one-hot targets (integer labels (N,)\n"
      "or rows (N, C)), mean over batch and classes. Returns (loss, grad).");
}

}  // namespace pydl
