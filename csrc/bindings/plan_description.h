// A training plan's description, from pydl/plan.py's tuples (steps, loss, optimizer), checked: shared by
// the CPU plan (bindings_plan.cpp) and the CUDA plans (cuda/bindings_plan.cpp), which differ only in
// how an array argument becomes a pointer.
#pragma once
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

PlanDescription describe_plan(const char* fn, const py::list& steps, const py::tuple& loss, const py::tuple& optim,
                              const PlanArray& array, bool (*has_step)(const std::string&));

}  // namespace pydl
