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
#include "plan_description.h"
#include "registry.h"

namespace pydl {
namespace {

constexpr const char* kFn = "TrainingPlan";

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
    PlanArray array = [this](const char* what, const py::handle& obj, int64_t expected) {
      py::array a = live_array(what, obj, like_, expected);
      keep_.push_back(a);
      return std::make_pair(a.mutable_data(), int64_t(a.size()));
    };
    PlanDescription d = describe_plan(kFn, steps, loss, optim, array, &has_step);
    in_size_ = d.in_size;
    out_size_ = d.out_size;
    labels_loss_ = d.labels_loss;
    if (f32_) f32_plan_ = std::make_unique<Plan<float>>(d.steps, d.loss, d.optim);
    else f64_plan_ = std::make_unique<Plan<double>>(d.steps, d.loss, d.optim);
  }

  py::tuple run(const py::object& x_obj, const py::object& t_obj, const py::object& labels_obj, const py::object& epochs_obj,
                const py::object& batch_obj, const py::object& perms_obj, const py::object& lrs_obj,
                const py::object& lr_obj, const py::object& step_obj, const py::object& seeds_obj) {
    PlanSchedule sched = plan_schedule(kFn, epochs_obj, batch_obj, lr_obj, step_obj);
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
      check_index_range(kFn, target_labels, out_size_);
    } else {
      target = float_input(kFn, "target", t_obj);
      same_dtype(kFn, "target", target, "x", x);
      if (target.ndim() < 1 || target.shape(0) != n || target.size() != n * out_size_) {
        value_error(std::string(kFn) + ": target of shape " + shape_of(target) + " does not match the output");
      }
    }
    py::array labels = int_input(kFn, "labels", labels_obj, {n});
    check_index_range(kFn, labels, out_size_ == 1 ? 2 : out_size_);
    sched.read_arrays(kFn, n, perms_obj, lrs_obj, seeds_obj, f32_ ? f32_plan_->random() : f64_plan_->random());
    py::array_t<double> losses(sched.epochs);
    py::array_t<int64_t> correct(sched.epochs);
    int64_t step = sched.step;
    int64_t done;
    {
      py::gil_scoped_release nogil;
      const EpochSchedule s = sched.schedule();
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
