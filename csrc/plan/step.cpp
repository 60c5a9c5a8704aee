#include "plan/step.h"

#include <stdexcept>
#include <utility>

namespace pydl {

namespace {

struct Factories {
  StepFactory<float> f32;
  StepFactory<double> f64;
};

std::map<std::string, Factories>& registry() {
  static std::map<std::string, Factories> steps;
  return steps;
}

int64_t product(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t v : shape) n *= v;
  return n;
}

}  // namespace

int64_t StepSpec::in_size() const { return product(in_shape); }
int64_t StepSpec::out_size() const { return product(out_shape); }

RegisterStep::RegisterStep(const char* kind, StepFactory<float> f32, StepFactory<double> f64) {
  registry()[kind] = {f32, f64};
}

bool has_step(const std::string& kind) { return registry().count(kind) != 0; }

template <>
std::unique_ptr<Step<float>> make_step<float>(const StepSpec& spec) {
  auto it = registry().find(spec.kind);
  if (it == registry().end()) throw std::invalid_argument("no plan step for layer kind '" + spec.kind + "'");
  return it->second.f32(spec);
}

template <>
std::unique_ptr<Step<double>> make_step<double>(const StepSpec& spec) {
  auto it = registry().find(spec.kind);
  if (it == registry().end()) throw std::invalid_argument("no plan step for layer kind '" + spec.kind + "'");
  return it->second.f64(spec);
}

StepShapes step_shapes(const std::vector<StepSpec>& steps) {
  StepShapes shapes;
  bool params_before = false;
  for (const StepSpec& spec : steps) {
    shapes.sizes.push_back(spec.in_size());
    shapes.need_dx.push_back(params_before);
    params_before = params_before || !spec.params.empty();
  }
  shapes.sizes.push_back(steps.back().out_size());
  return shapes;
}

}  // namespace pydl
