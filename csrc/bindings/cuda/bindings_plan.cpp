// Python entry point of the GPU training plan (cuda/plan/device_plan.h): the same constructor and run() as
// the CPU plan's _core._TrainingPlan, with DeviceArrays where that one takes NumPy arrays (parameters,
// gradients, optimizer state, x and the target; labels may be either), and the schedule on the host.
#include <memory>
#include <string>

#include "check.h"
#include "cuda/batch.h"
#include "cuda/plan/device_plan.h"
#include "device_check.h"
#include "plan_description.h"
#include "registry.h"

namespace pydl::cuda {
namespace {

constexpr const char* kFn = "TrainingPlan";

class PyDevicePlan {
 public:
  PyDevicePlan(const std::string& dtype, const py::list& steps, const py::tuple& loss, const py::tuple& optim) {
    if (dtype != "float32" && dtype != "float64") value_error(std::string(kFn) + ": dtype must be float32 or float64");
    dtype_ = dtype == "float32" ? DType::f32 : DType::f64;
    PlanArray array = [this](const char* what, const py::handle& obj, int64_t expected) {
      DeviceArray a = to_device_array(kFn, what, obj);
      if (a.dtype != dtype_) {
        type_error(std::string(kFn) + ": " + what + " has dtype " + cuda::dtype_name(a.dtype) + ", the plan's is " +
                   cuda::dtype_name(dtype_));
      }
      if (expected >= 0 && a.size() != expected) {
        value_error(std::string(kFn) + ": " + what + " has " + std::to_string(a.size()) + " elements, expected " +
                    std::to_string(expected));
      }
      keep_.push_back(py::reinterpret_borrow<py::object>(obj));
      return std::make_pair(a.data, a.size());
    };
    PlanDescription d = describe_plan(kFn, steps, loss, optim, array, &has_device_step);
    in_size_ = d.in_size;
    out_size_ = d.out_size;
    labels_loss_ = d.labels_loss;
    if (dtype_ == DType::f32) f32_ = std::make_unique<DevicePlan<float>>(d.steps, d.loss, d.optim);
    else f64_ = std::make_unique<DevicePlan<double>>(d.steps, d.loss, d.optim);
  }

  py::tuple run(const py::object& x_obj, const py::object& t_obj, const py::object& labels_obj,
                const py::object& epochs_obj, const py::object& batch_obj, const py::object& perms_obj,
                const py::object& lrs_obj, const py::object& lr_obj, const py::object& step_obj,
                const py::object& seeds_obj) {
    PlanSchedule sched = plan_schedule(kFn, epochs_obj, batch_obj, lr_obj, step_obj);
    const DeviceArray x = float_input(kFn, "x", x_obj);
    if (x.dtype != dtype_) type_error(std::string(kFn) + ": x must have the plan's dtype " + cuda::dtype_name(dtype_));
    if (x.shape.empty() || x.size() != x.shape[0] * in_size_) {
      value_error(std::string(kFn) + ": x of shape " + shape_str(x.shape) + " does not hold " +
                  std::to_string(in_size_) + " values per sample");
    }
    const int64_t n = x.shape[0];
    DeviceArray target, target_labels;
    const bool labels_target = labels_loss_ && is_device_array(t_obj) && t_obj.cast<DeviceArray>().dtype == DType::i64;
    if (labels_target) {
      target_labels = int64_input(kFn, "target", t_obj, {n});
      check_indices("target", target_labels, out_size_);
    } else {
      target = float_input(kFn, "target", t_obj);
      same_dtype(kFn, "target", target, "x", x);
      if (target.shape[0] != n || target.size() != n * out_size_) {
        value_error(std::string(kFn) + ": target of shape " + shape_str(target.shape) + " does not match the output");
      }
    }
    // Class labels for the accuracy count: a DeviceArray, or host integers copied over once per call.
    DeviceArray labels = is_device_array(labels_obj) ? int64_input(kFn, "labels", labels_obj, {n})
                                                     : upload_ints("labels", labels_obj, {n});
    check_indices("labels", labels, out_size_ == 1 ? 2 : out_size_);
    sched.read_arrays(kFn, n, perms_obj, lrs_obj, seeds_obj, f32_ ? f32_->random() : f64_->random());
    py::array_t<double> losses(sched.epochs);
    py::array_t<int64_t> correct(sched.epochs);
    int64_t step = sched.step;
    int64_t done;
    {
      py::gil_scoped_release nogil;
      const EpochSchedule s = sched.schedule();
      const int64_t* tl = labels_target ? target_labels.ptr<int64_t>() : nullptr;
      if (f32_) {
        EpochData<float> d{x.ptr<float>(), n, labels_target ? nullptr : target.ptr<float>(), tl, labels.ptr<int64_t>()};
        done = f32_->run(d, s, step, losses.mutable_data(), correct.mutable_data());
      } else {
        EpochData<double> d{x.ptr<double>(), n, labels_target ? nullptr : target.ptr<double>(), tl, labels.ptr<int64_t>()};
        done = f64_->run(d, s, step, losses.mutable_data(), correct.mutable_data());
      }
    }
    check_launch(kFn);
    return py::make_tuple(losses, correct, done, step);
  }

 private:
  [[noreturn]] static void type_error(const std::string& m) { throw py::type_error(m); }
  [[noreturn]] static void value_error(const std::string& m) { throw py::value_error(m); }

  DeviceArray upload_ints(const char* what, const py::object& obj, const Shape& shape) {
    py::array host = pydl::int_input(kFn, what, obj, shape);
    DeviceArray a = device_empty(shape, DType::i64);
    PYDL_CUDA_CHECK(cudaMemcpy(a.data, host.data(), a.nbytes(), cudaMemcpyHostToDevice));
    return a;
  }

  static void check_indices(const char* what, const DeviceArray& a, int64_t classes) {
    int64_t value = 0;
    if (a.size() && first_index_out_of_range(a.ptr<int64_t>(), a.size(), classes, &value, stream()) >= 0) {
      value_error(std::string(kFn) + ": index or label " + std::to_string(value) + " outside [0, " +
                  std::to_string(classes) + ") in " + what);
    }
  }

  DType dtype_ = DType::f32;
  bool labels_loss_ = false;
  int64_t in_size_ = 0, out_size_ = 0;
  std::vector<py::object> keep_;  // the arrays the plan points into, kept alive with it
  std::unique_ptr<DevicePlan<float>> f32_;
  std::unique_ptr<DevicePlan<double>> f64_;
};

}  // namespace
}  // namespace pydl::cuda

PYDL_BINDINGS(bind_plan) {
  using namespace pydl::cuda;
  py::class_<PyDevicePlan>(m, "_TrainingPlan", py::module_local())
      .def(py::init<const std::string&, const py::list&, const py::tuple&, const py::tuple&>(), py::arg("dtype"),
           py::arg("steps"), py::arg("loss"), py::arg("optimizer"))
      .def("run", &PyDevicePlan::run, py::arg("x"), py::arg("target"), py::arg("labels"), py::kw_only(),
           py::arg("epochs"), py::arg("batch_size"), py::arg("perms") = py::none(), py::arg("lrs") = py::none(),
           py::arg("lr"), py::arg("step"), py::arg("seeds") = py::none(),
           "Trains `epochs` epochs on the device; returns (losses, correct, epochs_done, step).")
      .def_property_readonly("feature_major", [](const PyDevicePlan&) { return false; },
                             "Always False: the GPU plan keeps activations row-major.");
}
