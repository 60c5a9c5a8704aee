#include "device_values.h"

#include <cstdio>
#include <cstring>

#include "cuda/value_checks.h"
#include "device_check.h"

namespace pydl::cuda {

CheckedValues check_values(const char* fn, const std::vector<DeviceArray>& arrays, const DeviceArray* labels,
                           int64_t classes) {
  const size_t k = arrays.size();
  // The checks' workspace, then three results per array and two (int64) for the labels: one copy back.
  const DeviceArray scratch = device_empty({kCheckWorkspace + int64_t(3 * k + 2)}, DType::f64);
  double* work = scratch.ptr<double>();
  double* results = work + kCheckWorkspace;
  std::vector<double> host(3 * k + 2);
  {
    py::gil_scoped_release nogil;
    for (size_t i = 0; i < k; ++i) {
      by_dtype(arrays[i], [&](auto zero) {
        using T = decltype(zero);
        value_summary<T>(arrays[i].ptr<T>(), arrays[i].size(), results + 3 * i, work, stream());
      });
    }
    if (labels) {
      first_bad_label(labels->ptr<int64_t>(), labels->size(), classes, reinterpret_cast<int64_t*>(results + 3 * k),
                      reinterpret_cast<int64_t*>(work), stream());
    }
  }
  check_launch(fn);
  {
    py::gil_scoped_release nogil;
    PYDL_CUDA_CHECK(cudaMemcpy(host.data(), results, host.size() * sizeof(double), cudaMemcpyDeviceToHost));
  }
  CheckedValues c;
  for (size_t i = 0; i < k; ++i) c.arrays.push_back({host[3 * i], host[3 * i + 1], host[3 * i + 2]});
  if (labels) {
    int64_t label_result[2];
    std::memcpy(label_result, &host[3 * k], sizeof(label_result));
    if (label_result[0] < labels->size()) c.bad_label_index = label_result[0], c.bad_label = label_result[1];
  }
  return c;
}

void raise_nonfinite(const char* fn, const char* name, const DeviceArray& a, const Values& v,
                     const std::string& suffix) {
  if (v.status == 0) return;
  const std::string what = v.status == 2 ? "NaN" : "inf (only finite values are accepted)";
  throw py::value_error(std::string(fn) + ": " + name + " with shape " + shape_str(a.shape) + " contains " + what +
                        suffix);
}

namespace {

// Python's format(x, "g"), which the reference's range message uses.
std::string format_g(double x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", x);
  return buf;
}

}  // namespace

void raise_outside_unit(const char* fn, const Values& v) {
  if (v.lo < 0 || v.hi > 1) {
    throw py::value_error(std::string(fn) + ": target values must lie in [0, 1], got range [" + format_g(v.lo) + ", " +
                          format_g(v.hi) + "]");
  }
}

void raise_bad_label(const char* fn, const CheckedValues& c, const DeviceArray& logits) {
  if (c.bad_label_index < 0) return;
  throw py::value_error(std::string(fn) + ": label " + std::to_string(c.bad_label) + " at index " +
                        std::to_string(c.bad_label_index) + " is out of range for " +
                        std::to_string(logits.shape[1]) + " classes (logits " + shape_str(logits.shape) + ")");
}

}  // namespace pydl::cuda
