#include "plan_description.h"

#include <algorithm>
#include <map>

#include "check.h"

namespace pydl {
namespace {

std::vector<int64_t> positive_shape(const char* fn, const char* what, const py::handle& obj) {
  Shape s = int_tuple(fn, what, obj, py::len(obj));
  for (int64_t v : s) {
    if (v < 1) value_error(std::string(fn) + ": " + what + " must be positive, got " + shape_str(s));
  }
  return s;
}

int64_t numel(const char* fn, const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t v : shape) n = checked_mul(fn, "a sample size", n, v);
  return n;
}

}  // namespace

PlanDescription describe_plan(const char* fn, const py::list& steps, const py::tuple& loss, const py::tuple& optim,
                              const PlanArray& array, bool (*has_step)(const std::string&)) {
  if (steps.empty()) value_error(std::string(fn) + ": a plan needs at least one step");
  PlanDescription d;
  std::vector<StepSpec>& specs = d.steps;
  for (const py::handle& item : steps) {
    py::tuple t = py::reinterpret_borrow<py::tuple>(item);
    StepSpec s;
    s.kind = str_arg(fn, "kind", t[0]);
    if (!has_step(s.kind)) value_error(std::string(fn) + ": no plan step for layer kind '" + s.kind + "'");
    py::list params = t[1], grads = t[2];
    if (params.size() != grads.size()) value_error(std::string(fn) + ": params and grads differ in number");
    for (size_t i = 0; i < params.size(); ++i) {
      const auto p = array("a parameter", params[i], -1);
      s.params.push_back(p.first);
      s.grads.push_back(array("a gradient", grads[i], p.second).first);
    }
    if (t.size() > 6) {
      for (const py::handle& b : py::reinterpret_borrow<py::list>(t[6])) {
        s.buffers.push_back(array("a layer buffer", b, -1).first);
      }
    }
    if (s.kind == "batch_norm" && (s.params.size() != 2 || s.buffers.size() != 2)) {
      value_error(std::string(fn) + ": a batch_norm step needs gamma, beta and two running statistics");
    }
    for (const auto& kv : py::reinterpret_borrow<py::dict>(t[3])) {
      s.numbers[str_arg(fn, "a number's name", kv.first)] = float_arg(fn, "a step number", kv.second);
    }
    s.in_shape = positive_shape(fn, "in_shape", t[4]);
    s.out_shape = positive_shape(fn, "out_shape", t[5]);
    if (!specs.empty() && numel(fn, s.in_shape) != specs.back().out_size()) {
      value_error(std::string(fn) + ": step '" + s.kind + "' takes " + std::to_string(numel(fn, s.in_shape)) +
                  " values per sample, the step before gives " + std::to_string(specs.back().out_size()));
    }
    numel(fn, s.out_shape);
    specs.push_back(std::move(s));
  }
  d.in_size = specs.front().in_size();
  d.out_size = specs.back().out_size();

  static const std::map<std::string, PlanLoss> losses = {{"mse", PlanLoss::mse}, {"bce", PlanLoss::bce},
      {"bce_with_logits", PlanLoss::bce_with_logits}, {"cross_entropy", PlanLoss::cross_entropy},
      {"multi_bce", PlanLoss::multi_bce}};
  const std::string loss_name = str_arg(fn, "loss", loss[0]);
  if (!losses.count(loss_name)) value_error(std::string(fn) + ": unknown loss '" + loss_name + "'");
  LossSpec ls{losses.at(loss_name), float_arg(fn, "eps", loss[1]), float_arg(fn, "threshold", loss[2])};
  d.loss = ls;
  d.labels_loss = ls.kind == PlanLoss::cross_entropy || ls.kind == PlanLoss::multi_bce;

  static const std::map<std::string, PlanOptim> optims = {
      {"sgd", PlanOptim::sgd}, {"rmsprop", PlanOptim::rmsprop}, {"adam", PlanOptim::adam},
      {"adamw", PlanOptim::adam}};
  const std::string opt_name = str_arg(fn, "optimizer", optim[0]);
  if (!optims.count(opt_name)) value_error(std::string(fn) + ": unknown optimizer '" + opt_name + "'");
  OptimSpec os;
  os.kind = optims.at(opt_name);
  py::dict h = optim[1];
  auto num = [&](const char* key, double fallback) {
    return h.contains(key) ? float_arg(fn, key, h[key]) : fallback;
  };
  os.momentum = num("momentum", 0);
  os.dampening = num("dampening", 0);
  os.alpha = num("alpha", 0.99);
  os.eps = num("eps", 1e-8);
  os.beta1 = num("beta1", 0.9);
  os.beta2 = num("beta2", 0.999);
  os.decoupled_weight_decay = num("decoupled_weight_decay", 0);
  os.nesterov = h.contains("nesterov") && bool_arg(fn, "nesterov", h["nesterov"]);
  os.centered = h.contains("centered") && bool_arg(fn, "centered", h["centered"]);
  for (const py::handle& item : py::reinterpret_borrow<py::list>(optim[2])) {
    py::tuple t = py::reinterpret_borrow<py::tuple>(item);
    const auto data = array("a trained parameter", t[0], -1);
    OptimSpec::Param p{data.first, array("a trained gradient", t[1], data.second).first,
                       {nullptr, nullptr, nullptr}, data.second, float_arg(fn, "weight_decay", t[3])};
    py::tuple states = t[2];
    if (states.size() > 3) value_error(std::string(fn) + ": at most 3 state arrays per parameter");
    for (size_t i = 0; i < states.size(); ++i) {
      if (states[i].is_none()) continue;
      p.state[i] = array("an optimizer state", states[i], data.second).first;
    }
    os.params.push_back(p);
  }
  d.optim = os;
  return d;
}

PlanSchedule plan_schedule(const char* fn, const py::object& epochs_obj, const py::object& batch_obj,
                           const py::object& lr_obj, const py::object& step_obj) {
  PlanSchedule s;
  s.epochs = int_arg(fn, "epochs", epochs_obj);
  s.batch = int_arg(fn, "batch_size", batch_obj);
  s.lr = float_arg(fn, "lr", lr_obj);
  s.step = int_arg(fn, "step", step_obj);
  if (s.epochs < 1 || s.batch < 1) value_error(std::string(fn) + ": epochs and batch_size must be >= 1");
  return s;
}

void PlanSchedule::read_arrays(const char* fn, int64_t n, const py::object& perms_obj, const py::object& lrs_obj,
                               const py::object& seeds_obj, bool random) {
  const int64_t batches = (n + std::min(batch, n) - 1) / std::min(batch, n);
  has_perms = !perms_obj.is_none();
  has_lrs = !lrs_obj.is_none();
  has_seeds = random;
  if (has_perms) {
    perms = int_input(fn, "perms", perms_obj, {epochs, n});
    check_index_range(fn, perms, n);
  }
  if (has_lrs) {
    lrs = py::array_t<double, py::array::c_style | py::array::forcecast>(lrs_obj);
    if (lrs.ndim() != 1 || lrs.size() != checked_mul(fn, "lrs", epochs, batches)) {
      value_error(std::string(fn) + ": lrs must hold one rate per step (" + std::to_string(epochs * batches) + ")");
    }
  }
  if (random) {
    if (seeds_obj.is_none()) value_error(std::string(fn) + ": a plan with dropout needs seeds, one per step");
    seeds = int_input(fn, "seeds", seeds_obj, {checked_mul(fn, "seeds", epochs, batches)});
    const int64_t* sp = static_cast<const int64_t*>(seeds.data());
    for (int64_t i = 0; i < seeds.size(); ++i) {
      if (sp[i] < 0) value_error(std::string(fn) + ": seeds must be >= 0, got " + std::to_string(sp[i]));
    }
  }
}

EpochSchedule PlanSchedule::schedule() const {
  return EpochSchedule{epochs, batch, has_perms ? static_cast<const int64_t*>(perms.data()) : nullptr,
                       has_lrs ? static_cast<const double*>(lrs.data()) : nullptr, lr,
                       has_seeds ? static_cast<const int64_t*>(seeds.data()) : nullptr};
}

void check_index_range(const char* fn, const py::array& a, int64_t bound) {
  const int64_t* p = static_cast<const int64_t*>(a.data());
  for (int64_t i = 0; i < a.size(); ++i) {
    if (p[i] < 0 || p[i] >= bound) {
      value_error(std::string(fn) + ": index or label " + std::to_string(p[i]) + " outside [0, " +
                  std::to_string(bound) + ")");
    }
  }
}

}  // namespace pydl
