// Value checks of the CUDA bindings that read several arrays: each float array's NaN/inf status and range,
// and the first out-of-range label, computed on the device (cuda/value_checks.h) and brought back in one
// copy; the raise_* functions then fail with the reference's messages, in the order the reference checks.
#pragma once
#include <string>
#include <vector>

#include "device_array.h"

namespace pydl::cuda {

struct Values {
  double status;  // 2: holds a NaN, 1: holds an inf (and no NaN), 0: finite
  double lo, hi;  // the range, when finite
};

struct CheckedValues {
  std::vector<Values> arrays;   // one per float array, in the order given
  int64_t bad_label_index = -1;  // the first label outside [0, classes), -1 if none
  int64_t bad_label = 0;
};

// Runs the checks of `arrays` (float DeviceArrays) and, when given, of `labels` against `classes`.
CheckedValues check_values(const char* fn, const std::vector<DeviceArray>& arrays,
                           const DeviceArray* labels = nullptr, int64_t classes = 0);

// reject_nonfinite's ValueError when v is not finite, with `suffix` appended.
void raise_nonfinite(const char* fn, const char* name, const DeviceArray& a, const Values& v,
                     const std::string& suffix = "");
// "<fn>: target values must lie in [0, 1], got range [lo, hi]" when they do not.
void raise_outside_unit(const char* fn, const Values& v);
// The first label out of range for logits' classes, as pydl/reference/losses.py words it.
void raise_bad_label(const char* fn, const CheckedValues& c, const DeviceArray& logits);

}  // namespace pydl::cuda
