// A training plan's description, from pydl/plan.py's tuples (steps, loss, optimizer), checked: shared by
// the CPU plan (bindings_plan.cpp) and the CUDA plans (cuda/bindings_plan.cpp), which differ only in
// how an array argument becomes a pointer.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "plan/plan.h"

namespace py = pybind11;

namespace pydl {

struct PlanDescription {
  std::vector<StepSpec> steps;
  LossSpec loss;
  OptimSpec optim;
  bool labels_loss = false;  // cross_entropy / multi_bce: the target may be class labels
  int64_t in_size = 0, out_size = 0;
};

// The data pointer and element count of an array the plan reads and writes (the plan's dtype, writable;
// `expected` elements unless negative); it must also keep the array alive as long as the plan.
using PlanArray = std::function<std::pair<void*, int64_t>(const char* what, const py::handle& obj, int64_t expected)>;

// The schedule arguments of a plan's run(), checked: epochs, batch size, the learning rate and the
// optimizer's step count (read first), then for n samples the per-epoch orders, per-step rates and, for a
// plan with random steps, per-step seeds (host arrays; a default py::array is an empty array, not null,
// so the flags say which were given). schedule() points into the arrays held here.
struct PlanSchedule {
  int64_t epochs = 0, batch = 0, step = 0;
  double lr = 0;
  py::array perms, lrs, seeds;
  bool has_perms = false, has_lrs = false, has_seeds = false;

  void read_arrays(const char* fn, int64_t n, const py::object& perms_obj, const py::object& lrs_obj,
                   const py::object& seeds_obj, bool random);
  EpochSchedule schedule() const;
};
PlanSchedule plan_schedule(const char* fn, const py::object& epochs_obj, const py::object& batch_obj,
                           const py::object& lr_obj, const py::object& step_obj);

// ValueError naming the first value of int64 `a` outside [0, bound) (labels, indices).
void check_index_range(const char* fn, const py::array& a, int64_t bound);

PlanDescription describe_plan(const char* fn, const py::list& steps, const py::tuple& loss, const py::tuple& optim,
                              const PlanArray& array, bool (*has_step)(const std::string&));

}  // namespace pydl
