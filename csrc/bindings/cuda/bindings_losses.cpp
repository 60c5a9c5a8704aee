// Bindings of the loss kernels on DeviceArrays: the signatures, checks and messages of
// pydl/reference/losses.py. The value checks run on the device and come back in one copy before any
// write; the loss is summed on the device and only that scalar is copied back.
#include "cuda/losses.h"
#include "check.h"
#include "device_check.h"
#include "device_values.h"
#include "registry.h"

namespace pydl::cuda {
namespace {

struct Checked {
  DeviceArray x, target, grad;
};

// Input and target of one shape and dtype, both finite, target in [0, 1] when unit_target; a gradient
// buffer sharing memory with neither (losses.py: _pair).
Checked paired(const char* fn, const char* name, const py::object& x_obj, const py::object& t_obj,
            const py::object& grad_obj, bool unit_target) {
  Checked p;
  p.x = float_input(fn, name, x_obj);
  p.target = float_input(fn, "target", t_obj);
  same_dtype(fn, "target", p.target, name, p.x);
  same_shape(fn, "target", p.target, p.x.shape);
  p.grad = float_output(fn, "grad", grad_obj, p.x.shape, p.x);
  no_overlap(fn, "grad", p.grad, name, p.x);
  no_overlap(fn, "grad", p.grad, "target", p.target);
  const CheckedValues v = check_values(fn, {p.x, p.target});
  raise_nonfinite(fn, name, p.x, v.arrays[0]);
  raise_nonfinite(fn, "target", p.target, v.arrays[1]);
  if (unit_target) raise_outside_unit(fn, v.arrays[1]);
  return p;
}

// Integer labels (n,) in range for logits' classes, a gradient buffer, finite logits (losses.py:
// _class_setup). Both value checks come back in one copy and raise in the reference's order.
DeviceArray labels_setup(const char* fn, const DeviceArray& logits, const py::object& t_obj,
                         const DeviceArray& labels_any_shape, const py::object& grad_obj, DeviceArray& grad) {
  const int64_t n = logits.shape[0];
  if (labels_any_shape.shape.size() == 1 && labels_any_shape.shape[0] != n) {
    throw py::value_error(std::string(fn) + ": integer labels must have shape (" + std::to_string(n) +
                          ",) to match logits " + shape_str(logits.shape) + ", got " +
                          shape_str(labels_any_shape.shape));
  }
  const DeviceArray labels = int64_input(fn, "target", t_obj, {n});
  const CheckedValues v = check_values(fn, {logits}, &labels, logits.shape[1]);
  raise_bad_label(fn, v, logits);
  grad = float_output(fn, "grad", grad_obj, logits.shape, logits);
  no_overlap(fn, "grad", grad, "logits", logits);
  no_overlap(fn, "grad", grad, "target", labels);
  raise_nonfinite(fn, "logits", logits, v.arrays[0]);
  return labels;
}

// Runs launch(loss_out, workspace) and copies the loss back: (loss, grad).
template <typename Launch>
py::tuple run_loss(const char* fn, const DeviceArray& grad, const py::object& grad_obj, Launch&& launch) {
  const DeviceArray scratch = device_empty({kLossWorkspace + 1}, DType::f64);
  double* loss_out = scratch.ptr<double>() + kLossWorkspace;
  {
    py::gil_scoped_release nogil;
    launch(loss_out, scratch.ptr<double>());
  }
  check_launch(fn);
  double loss = 0;
  {
    py::gil_scoped_release nogil;
    PYDL_CUDA_CHECK(cudaMemcpy(&loss, loss_out, sizeof(double), cudaMemcpyDeviceToHost));
  }
  return py::make_tuple(loss, result(grad_obj, grad));
}

py::tuple mse_loss_py(const py::object& pred_obj, const py::object& target_obj, const py::object& grad_obj) {
  const char* fn = "mse_loss";
  const Checked p = paired(fn, "pred", pred_obj, target_obj, grad_obj, false);
  return run_loss(fn, p.grad, grad_obj, [&](double* loss_out, double* work) {
    by_dtype(p.x, [&](auto zero) {
      using T = decltype(zero);
      mse_loss<T>(p.x.ptr<T>(), p.target.ptr<T>(), p.grad.ptr<T>(), p.x.size(), loss_out, false, work, stream());
    });
  });
}

py::tuple bce_loss_py(const py::object& prob_obj, const py::object& target_obj, const py::object& eps_obj,
                      const py::object& grad_obj) {
  const char* fn = "bce_loss";
  const double eps = float_arg(fn, "eps", eps_obj);
  if (!(eps > 0 && eps < 0.5)) {
    throw py::value_error("bce_loss: eps must lie in (0, 0.5), got " + py::repr(py::float_(eps)).cast<std::string>());
  }
  const Checked p = paired(fn, "prob", prob_obj, target_obj, grad_obj, true);
  return run_loss(fn, p.grad, grad_obj, [&](double* loss_out, double* work) {
    by_dtype(p.x, [&](auto zero) {
      using T = decltype(zero);
      bce_loss<T>(p.x.ptr<T>(), p.target.ptr<T>(), p.grad.ptr<T>(), p.x.size(), eps, loss_out, false, work, stream());
    });
  });
}

py::tuple bce_with_logits_py(const py::object& z_obj, const py::object& target_obj, const py::object& grad_obj) {
  const char* fn = "bce_with_logits_loss";
  const Checked p = paired(fn, "logits", z_obj, target_obj, grad_obj, true);
  return run_loss(fn, p.grad, grad_obj, [&](double* loss_out, double* work) {
    by_dtype(p.x, [&](auto zero) {
      using T = decltype(zero);
      bce_with_logits_loss<T>(p.x.ptr<T>(), p.target.ptr<T>(), p.grad.ptr<T>(), p.x.size(), loss_out, false, work,
                              stream());
    });
  });
}

// softmax_cross_entropy and multi_bce_loss: integer labels (N,) or target rows (N, C), checked as the twin's
// _class_setup; launch_labels / launch_rows(T{}, z, labels or target, grad, loss_out, workspace) run the kernel.
template <typename Labels, typename Rows>
py::tuple class_loss(const char* fn, const py::object& z_obj, const py::object& target_obj, const py::object& grad_obj,
                     Labels launch_labels, Rows launch_rows) {
  const DeviceArray z = float_input(fn, "logits", z_obj, 2);
  const DeviceArray t = to_device_array(fn, "target", target_obj);
  if (t.dtype == DType::i64) {
    DeviceArray grad;
    const DeviceArray labels = labels_setup(fn, z, target_obj, t, grad_obj, grad);
    return run_loss(fn, grad, grad_obj, [&](double* loss_out, double* work) {
      by_dtype(z, [&](auto zero) { launch_labels(zero, z, labels, grad, loss_out, work); });
    });
  }
  const Checked p = paired(fn, "logits", z_obj, target_obj, grad_obj, true);
  return run_loss(fn, p.grad, grad_obj, [&](double* loss_out, double* work) {
    by_dtype(z, [&](auto zero) { launch_rows(zero, z, p.target, p.grad, loss_out, work); });
  });
}

py::tuple softmax_cross_entropy_py(const py::object& z_obj, const py::object& target_obj,
                                   const py::object& grad_obj) {
  return class_loss(
      "softmax_cross_entropy", z_obj, target_obj, grad_obj,
      [](auto zero, const DeviceArray& z, const DeviceArray& labels, const DeviceArray& g, double* out, double* ws) {
        using T = decltype(zero);
        softmax_ce_labels<T>(z.ptr<T>(), labels.ptr<int64_t>(), g.ptr<T>(), z.shape[0], z.shape[1], out, false,
                             ws, stream());
      },
      [](auto zero, const DeviceArray& z, const DeviceArray& target, const DeviceArray& g, double* out, double* ws) {
        using T = decltype(zero);
        softmax_ce_rows<T>(z.ptr<T>(), target.ptr<T>(), g.ptr<T>(), z.shape[0], z.shape[1], out, false, ws,
                           stream());
      });
}

py::tuple multi_bce_loss_py(const py::object& z_obj, const py::object& target_obj, const py::object& grad_obj) {
  return class_loss(
      "multi_bce_loss", z_obj, target_obj, grad_obj,
      [](auto zero, const DeviceArray& z, const DeviceArray& labels, const DeviceArray& g, double* out, double* ws) {
        using T = decltype(zero);
        multi_bce_labels<T>(z.ptr<T>(), labels.ptr<int64_t>(), g.ptr<T>(), z.shape[0], z.shape[1], out, false,
                            ws, stream());
      },
      [](auto zero, const DeviceArray& z, const DeviceArray& target, const DeviceArray& g, double* out, double* ws) {
        using T = decltype(zero);
        bce_with_logits_loss<T>(z.ptr<T>(), target.ptr<T>(), g.ptr<T>(), z.size(), out, false, ws, stream());
      });
}

}  // namespace
}  // namespace pydl::cuda

PYDL_BINDINGS(bind_losses) {
  using namespace pydl::cuda;
  using py::arg;
  const auto none = py::none();
  m.def("mse_loss", &mse_loss_py, arg("pred"), arg("target"), arg("grad") = none,
        "Mean squared error over all elements. Returns (loss, grad).");
  m.def("bce_loss", &bce_loss_py, arg("prob"), arg("target"), arg("eps") = 1e-7, arg("grad") = none,
        "Binary cross-entropy on probabilities clipped to [eps, 1-eps], mean over all elements.\n"
        "The gradient is taken at the clipped probability. Returns (loss, grad).");
  m.def("bce_with_logits_loss", &bce_with_logits_py, arg("logits"), arg("target"), arg("grad") = none,
        "Binary cross-entropy of sigmoid(logits) in the stable form max(z,0) - z t + log1p(exp(-|z|)).\n"
        "Returns (loss, grad).");
  m.def("softmax_cross_entropy", &softmax_cross_entropy_py, arg("logits"), arg("target"), arg("grad") = none,
        "Softmax cross-entropy from logits (N, C), mean over the batch. target: integer labels (N,) as an int64\n"
        "DeviceArray, or one-hot/probability rows (N, C) with values in [0, 1]. Returns (loss, grad).");
  m.def("multi_bce_loss", &multi_bce_loss_py, arg("logits"), arg("target"), arg("grad") = none,
        "Multiple binary cross-entropy: one sigmoid per class against one-hot targets (integer labels (N,)\n"
        "or rows (N, C)), mean over batch and classes. Returns (loss, grad).");
}
