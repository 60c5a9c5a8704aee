// A layer as the plan runs it: forward and backward over a batch of `rows` samples, through the same
// kernels the layer's Python forward/backward call. Buffers are the plan's; parameters and gradients
// are the layer's own arrays, trained in place.
//
//   x  (rows, in_size)    the layer input          y  (rows, out_size)   its output
//   dy (rows, out_size)   dL/dy                    dx (rows, in_size)    dL/dx, null when not needed
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace pydl {

// What a layer tells the plan (bindings_plan.cpp builds it from the layer's plan_spec(); checked there).
struct StepSpec {
  std::string kind;
  std::vector<void*> params, grads;  // the layer's parameter arrays and their gradients, in its order
  std::vector<void*> buffers;  // the layer's persistent buffers (BatchNorm's running statistics), in its order
  std::map<std::string, double> numbers;
  std::vector<int64_t> in_shape, out_shape;  // per sample

  double number(const std::string& key) const { return numbers.at(key); }
  int64_t in_size() const;
  int64_t out_size() const;
};

// Per-sample sizes of each step's input plus the last step's output (sizes.back()), and whether step i
// must produce dL/dx (some step before it has parameters): what every plan sizes its buffers by.
struct StepShapes {
  std::vector<int64_t> sizes;
  std::vector<bool> need_dx;
};
StepShapes step_shapes(const std::vector<StepSpec>& steps);

template <typename T>
class Step {
 public:
  virtual ~Step() = default;
  virtual void forward(const T* x, T* y, int64_t rows) = 0;
  virtual void backward(const T* x, const T* y, const T* dy, T* dx, int64_t rows) = 0;
  // A step that draws random numbers (Dropout) says so, and gets each training step's seed before forward.
  virtual bool random() const { return false; }
  virtual void set_seed(uint64_t) {}
};

template <typename T>
using StepFactory = std::unique_ptr<Step<T>> (*)(const StepSpec&);

// The step of spec.kind; throws std::invalid_argument for a kind no step was registered for.
template <typename T>
std::unique_ptr<Step<T>> make_step(const StepSpec& spec);
bool has_step(const std::string& kind);

struct RegisterStep {
  RegisterStep(const char* kind, StepFactory<float> f32, StepFactory<double> f64);
};

}  // namespace pydl

// Registers Class<float> / Class<double> (constructed from a StepSpec) as the step of `kind`.
#define PYDL_PLAN_STEP(kind, Class)                                                                          \
  static ::pydl::RegisterStep Class##_registration(                                                          \
      kind, [](const ::pydl::StepSpec& s) -> std::unique_ptr<::pydl::Step<float>> {                          \
        return std::make_unique<Class<float>>(s);                                                            \
      },                                                                                                     \
      [](const ::pydl::StepSpec& s) -> std::unique_ptr<::pydl::Step<double>> {                               \
        return std::make_unique<Class<double>>(s);                                                           \
      })
