// Python entry point of the training plan (plan/plan.h): pydl/plan.py builds it from a network's layers,
// loss and optimizer, and runs epochs through it. Internal (underscored): every array is the library's
// own, still checked here so that a wrong description raises instead of writing out of bounds.
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "check.h"
#include "plan/plan.h"
#include "registry.h"

namespace pydl {
namespace {

constexpr const char* kFn = "TrainingPlan";

std::vector<int64_t> positive_shape(const char* what, const py::handle& obj) {
  Shape s = int_tuple(kFn, what, obj, py::len(obj));
  for (int64_t v : s) {
    if (v < 1) value_error(std::string(kFn) + ": " + what + " must be positive, got " + shape_str(s));
  }
  return s;
}

int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t v : shape) n = checked_mul(kFn, "a sample size", n, v);
  return n;
}

// An array the plan writes: the plan's dtype, contiguous, writeable; `expected` elements unless negative.
py::array live_array(const char* what, const py::handle& obj, const py::array& like, int64_t expected = -1) {
  py::array a = as_ndarray(kFn, what, obj, "a numpy.ndarray");
  a = float_inout(kFn, what, a, like, shape_vec(a));
  if (expected >= 0 && a.size() != expected) {
    value_error(std::string(kFn) + ": " + what + " has " + std::to_string(a.size()) + " elements, expected " +
                std::to_string(expected));
  }
  return a;
}

class PyPlan {
 public:
  PyPlan(const std::string& dtype, const py::list& steps, const py::tuple& loss, const py::tuple& optim) {
    if (dtype != "float32" && dtype != "float64") value_error(std::string(kFn) + ": dtype must be float32 or float64");
    f32_ = dtype == "float32";
    like_ = f32_ ? py::array(py::dtype::of<float>(), Shape{0}) : py::array(py::dtype::of<double>(), Shape{0});
    if (steps.empty()) value_error(std::string(kFn) + ": a plan needs at least one step");
    std::vector<StepSpec> specs;
    for (const py::handle& item : steps) {
      py::tuple t = py::reinterpret_borrow<py::tuple>(item);
      StepSpec s;
      s.kind = str_arg(kFn, "kind", t[0]);
      if (!has_step(s.kind)) value_error(std::string(kFn) + ": no plan step for layer kind '" + s.kind + "'");
      py::list params = t[1], grads = t[2];
      if (params.size() != grads.size()) value_error(std::string(kFn) + ": params and grads differ in number");
      for (size_t i = 0; i < params.size(); ++i) {
        py::array p = live_array("a parameter", params[i], like_);
        py::array g = live_array("a gradient", grads[i], like_, p.size());
        keep_.push_back(p);
        keep_.push_back(g);
        s.params.push_back(p.mutable_data());
        s.grads.push_back(g.mutable_data());
      }
      if (t.size() > 6) {
        for (const py::handle& b : py::reinterpret_borrow<py::list>(t[6])) {
          py::array a = live_array("a layer buffer", b, like_);
          keep_.push_back(a);
          s.buffers.push_back(a.mutable_data());
        }
      }
      if (s.kind == "batch_norm" && (s.params.size() != 2 || s.buffers.size() != 2)) {
        value_error(std::string(kFn) + ": a batch_norm step needs gamma, beta and two running statistics");
      }
      for (const auto& kv : py::reinterpret_borrow<py::dict>(t[3])) {
        s.numbers[str_arg(kFn, "a number's name", kv.first)] = float_arg(kFn, "a step number", kv.second);
      }
      s.in_shape = positive_shape("in_shape", t[4]);
      s.out_shape = positive_shape("out_shape", t[5]);
      if (!specs.empty() && numel(s.in_shape) != specs.back().out_size()) {
        value_error(std::string(kFn) + ": step '" + s.kind + "' takes " + std::to_string(numel(s.in_shape)) +
                    " values per sample, the step before gives " + std::to_string(specs.back().out_size()));
      }
      numel(s.out_shape);
      specs.push_back(std::move(s));
    }
    in_size_ = specs.front().in_size();
    out_size_ = specs.back().out_size();

    static const std::map<std::string, PlanLoss> losses = {{"mse", PlanLoss::mse}, {"bce", PlanLoss::bce},
        {"bce_with_logits", PlanLoss::bce_with_logits}, {"cross_entropy", PlanLoss::cross_entropy},
        {"multi_bce", PlanLoss::multi_bce}};
    const std::string loss_name = str_arg(kFn, "loss", loss[0]);
    if (!losses.count(loss_name)) value_error(std::string(kFn) + ": unknown loss '" + loss_name + "'");
    LossSpec ls{losses.at(loss_name), float_arg(kFn, "eps", loss[1]), float_arg(kFn, "threshold", loss[2])};
    labels_loss_ = ls.kind == PlanLoss::cross_entropy || ls.kind == PlanLoss::multi_bce;

    static const std::map<std::string, PlanOptim> optims = {
        {"sgd", PlanOptim::sgd}, {"rmsprop", PlanOptim::rmsprop}, {"adam", PlanOptim::adam},
        {"adamw", PlanOptim::adam}};
    const std::string opt_name = str_arg(kFn, "optimizer", optim[0]);
    if (!optims.count(opt_name)) value_error(std::string(kFn) + ": unknown optimizer '" + opt_name + "'");
    OptimSpec os;
    os.kind = optims.at(opt_name);
    py::dict h = optim[1];
    auto num = [&](const char* key, double fallback) {
      return h.contains(key) ? float_arg(kFn, key, h[key]) : fallback;
    };
    os.momentum = num("momentum", 0);
    os.dampening = num("dampening", 0);
    os.alpha = num("alpha", 0.99);
    os.eps = num("eps", 1e-8);
    os.beta1 = num("beta1", 0.9);
    os.beta2 = num("beta2", 0.999);
    os.decoupled_weight_decay = num("decoupled_weight_decay", 0);
    os.nesterov = h.contains("nesterov") && bool_arg(kFn, "nesterov", h["nesterov"]);
    os.centered = h.contains("centered") && bool_arg(kFn, "centered", h["centered"]);
    for (const py::handle& item : py::reinterpret_borrow<py::list>(optim[2])) {
      py::tuple t = py::reinterpret_borrow<py::tuple>(item);
      py::array data = live_array("a trained parameter", t[0], like_);
      py::array grad = live_array("a trained gradient", t[1], like_, data.size());
      keep_.push_back(data);
      keep_.push_back(grad);
      OptimSpec::Param p{data.mutable_data(), grad.mutable_data(), {nullptr, nullptr, nullptr}, data.size(),
                         float_arg(kFn, "weight_decay", t[3])};
      py::tuple states = t[2];
      if (states.size() > 3) value_error(std::string(kFn) + ": at most 3 state arrays per parameter");
      for (size_t i = 0; i < states.size(); ++i) {
        if (states[i].is_none()) continue;
        py::array s = live_array("an optimizer state", states[i], like_, data.size());
        keep_.push_back(s);
        p.state[i] = s.mutable_data();
      }
      os.params.push_back(p);
    }
    if (f32_) f32_plan_ = std::make_unique<Plan<float>>(specs, ls, os);
    else f64_plan_ = std::make_unique<Plan<double>>(specs, ls, os);
  }

  py::tuple run(const py::object& x_obj, const py::object& t_obj, const py::object& labels_obj, const py::object& epochs_obj,
                const py::object& batch_obj, const py::object& perms_obj, const py::object& lrs_obj,
                const py::object& lr_obj, const py::object& step_obj, const py::object& seeds_obj) {
    const int64_t epochs = int_arg(kFn, "epochs", epochs_obj);
    const int64_t batch = int_arg(kFn, "batch_size", batch_obj);
    const double lr = float_arg(kFn, "lr", lr_obj);
    int64_t step = int_arg(kFn, "step", step_obj);
    if (epochs < 1 || batch < 1) value_error(std::string(kFn) + ": epochs and batch_size must be >= 1");
    py::array x = float_input(kFn, "x", x_obj);
    same_dtype(kFn, "x", x, "the plan", like_);
    if (x.ndim() < 1 || x.shape(0) < 1 || x.size() != checked_mul(kFn, "x", x.shape(0), in_size_)) {
      value_error(std::string(kFn) + ": x of shape " + shape_of(x) + " does not hold " + std::to_string(in_size_) +
                  " values per sample");
    }
    const int64_t n = x.shape(0);
    // Arrays not given stay null pointers (a default py::array is an empty array, not null).
    py::array target, target_labels;
    const bool has_labels_target = labels_loss_ && is_int_array(t_obj);
    if (has_labels_target) {
      target_labels = int_input(kFn, "target", t_obj, {n});
      check_labels(target_labels, out_size_);
    } else {
      target = float_input(kFn, "target", t_obj);
      same_dtype(kFn, "target", target, "x", x);
      if (target.ndim() < 1 || target.shape(0) != n || target.size() != n * out_size_) {
        value_error(std::string(kFn) + ": target of shape " + shape_of(target) + " does not match the output");
      }
    }
    py::array labels = int_input(kFn, "labels", labels_obj, {n});
    check_labels(labels, out_size_ == 1 ? 2 : out_size_);
    const int64_t batches = (n + std::min(batch, n) - 1) / std::min(batch, n);
    py::array perms, lrs;
    const bool has_perms = !perms_obj.is_none(), has_lrs = !lrs_obj.is_none();
    if (has_perms) {
      perms = int_input(kFn, "perms", perms_obj, {epochs, n});
      check_labels(perms, n);
    }
    if (has_lrs) {
      lrs = py::array_t<double, py::array::c_style | py::array::forcecast>(lrs_obj);
      if (lrs.ndim() != 1 || lrs.size() != checked_mul(kFn, "lrs", epochs, batches)) {
        value_error(std::string(kFn) + ": lrs must hold one rate per step (" + std::to_string(epochs * batches) + ")");
      }
    }
    py::array seeds;
    const bool random = f32_ ? f32_plan_->random() : f64_plan_->random();
    if (random) {
      if (seeds_obj.is_none()) value_error(std::string(kFn) + ": a plan with dropout needs seeds, one per step");
      seeds = int_input(kFn, "seeds", seeds_obj, {checked_mul(kFn, "seeds", epochs, batches)});
      const int64_t* sp = static_cast<const int64_t*>(seeds.data());
      for (int64_t i = 0; i < seeds.size(); ++i) {
        if (sp[i] < 0) value_error(std::string(kFn) + ": seeds must be >= 0, got " + std::to_string(sp[i]));
      }
    }
    py::array_t<double> losses(epochs);
    py::array_t<int64_t> correct(epochs);
    int64_t done;
    {
      py::gil_scoped_release nogil;
      EpochSchedule s{epochs, batch, has_perms ? static_cast<const int64_t*>(perms.data()) : nullptr,
                      has_lrs ? static_cast<const double*>(lrs.data()) : nullptr, lr,
                      random ? static_cast<const int64_t*>(seeds.data()) : nullptr};
      const int64_t* tl = has_labels_target ? static_cast<const int64_t*>(target_labels.data()) : nullptr;
      const int64_t* lab = static_cast<const int64_t*>(labels.data());
      done = by_dtype(x, [&](auto zero) {
        using T = decltype(zero);
        Plan<T>& plan = plan_of(zero);
        EpochData<T> d{cptr<T>(x), n, has_labels_target ? nullptr : cptr<T>(target), tl, lab};
        return plan.run(d, s, step, losses.mutable_data(), correct.mutable_data());
      });
    }
    return py::make_tuple(losses, correct, done, step);
  }

  bool feature_major() const { return f32_ ? f32_plan_->feature_major() : f64_plan_->feature_major(); }

 private:
  Plan<float>& plan_of(float) { return *f32_plan_; }
  Plan<double>& plan_of(double) { return *f64_plan_; }

  static void check_labels(const py::array& a, int64_t classes) {
    const int64_t* p = static_cast<const int64_t*>(a.data());
    for (int64_t i = 0; i < a.size(); ++i) {
      if (p[i] < 0 || p[i] >= classes) {
        value_error(std::string(kFn) + ": index or label " + std::to_string(p[i]) + " outside [0, " +
                    std::to_string(classes) + ")");
      }
    }
  }

  bool f32_ = true, labels_loss_ = false;
  int64_t in_size_ = 0, out_size_ = 0;
  py::array like_;
  std::vector<py::array> keep_;  // the arrays the plan points into, kept alive with it
  std::unique_ptr<Plan<float>> f32_plan_;
  std::unique_ptr<Plan<double>> f64_plan_;
};

}  // namespace
}  // namespace pydl

PYDL_BINDINGS(bind_plan) {
  using namespace pydl;
  py::class_<PyPlan>(m, "_TrainingPlan")
      .def(py::init<const std::string&, const py::list&, const py::tuple&, const py::tuple&>(), py::arg("dtype"),
           py::arg("steps"), py::arg("loss"), py::arg("optimizer"))
      .def("run", &PyPlan::run, py::arg("x"), py::arg("target"), py::arg("labels"), py::kw_only(),
           py::arg("epochs"), py::arg("batch_size"), py::arg("perms") = py::none(), py::arg("lrs") = py::none(),
           py::arg("lr"), py::arg("step"), py::arg("seeds") = py::none(),
           "Trains `epochs` epochs; returns (losses, correct, epochs_done, step).")
      .def_property_readonly("feature_major", &PyPlan::feature_major,
                             "Whether activations are stored feature-major (a network of narrow dense layers).");
}
