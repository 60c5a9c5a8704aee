#include "device_step.h"

#include <map>
#include <stdexcept>
#include <utility>

namespace pydl::cuda {
namespace {

std::map<std::string, std::pair<DeviceStepFactory<float>, DeviceStepFactory<double>>>& registry() {
  static std::map<std::string, std::pair<DeviceStepFactory<float>, DeviceStepFactory<double>>> steps;
  return steps;
}

}  // namespace

RegisterDeviceStep::RegisterDeviceStep(const char* kind, DeviceStepFactory<float> f32, DeviceStepFactory<double> f64) {
  registry()[kind] = {f32, f64};
}

bool has_device_step(const std::string& kind) { return registry().count(kind) > 0; }

template <>
std::unique_ptr<DeviceStep<float>> make_device_step<float>(const StepSpec& spec) {
  auto it = registry().find(spec.kind);
  if (it == registry().end()) throw std::invalid_argument("no GPU plan step for layer kind '" + spec.kind + "'");
  return it->second.first(spec);
}

template <>
std::unique_ptr<DeviceStep<double>> make_device_step<double>(const StepSpec& spec) {
  auto it = registry().find(spec.kind);
  if (it == registry().end()) throw std::invalid_argument("no GPU plan step for layer kind '" + spec.kind + "'");
  return it->second.second(spec);
}

}  // namespace pydl::cuda
