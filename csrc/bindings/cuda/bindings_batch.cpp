// Bindings of the batch kernels on DeviceArrays: the signatures and checks of pydl/reference/batch.py, the
// index range checked on the device before any write.
#include <string>

#include "cuda/batch.h"
#include "check.h"
#include "device_check.h"
#include "registry.h"

namespace pydl::cuda {
namespace {

py::object gather_rows_py(const py::object& x_obj, const py::object& index_obj, const py::object& out_obj) {
  const char* fn = "gather_rows";
  DeviceArray x = to_device_array(fn, "x", x_obj);
  const bool ints = x.dtype == DType::i64;
  if (!ints) x = float_input(fn, "x", x_obj);
  if (x.shape.empty()) value_error(std::string(fn) + ": x must have at least 1 dimension, got shape " + shape_str(x.shape));
  const DeviceArray index = to_device_array(fn, "index", index_obj);
  if (index.dtype != DType::i64) type_error(std::string(fn) + ": index must be a DeviceArray of integers (int64)");
  if (index.shape.size() != 1) value_error(std::string(fn) + ": index must be 1-D, got shape " + shape_str(index.shape));
  const int64_t n = x.shape[0], count = index.shape[0];
  if (count > 0) {
    int64_t value = 0;
    int64_t bad;
    {
      py::gil_scoped_release nogil;
      bad = first_index_out_of_range(index.ptr<int64_t>(), count, n, &value, stream());
    }
    check_launch(fn);
    if (bad >= 0) {
      value_error(std::string(fn) + ": index holds " + std::to_string(value) + " at position " + std::to_string(bad) +
                  ", outside [0, " + std::to_string(n) + ") for x of shape " + shape_str(x.shape));
    }
  }
  Shape shape = x.shape;
  shape[0] = count;
  const DeviceArray out = ints ? int64_output(fn, "out", out_obj, shape) : float_output(fn, "out", out_obj, shape, x);
  no_overlap(fn, "out", out, "x", x);
  no_overlap(fn, "out", out, "index", index);
  const int64_t row_elems = n > 0 ? x.size() / n : 0;
  if (count == 0 || row_elems == 0) return result(out_obj, out);
  {
    py::gil_scoped_release nogil;
    if (ints) {
      gather_rows<int64_t>(x.ptr<int64_t>(), index.ptr<int64_t>(), out.ptr<int64_t>(), count, row_elems, stream());
    } else {
      by_dtype(x, [&](auto zero) {
        using T = decltype(zero);
        gather_rows<T>(x.ptr<T>(), index.ptr<int64_t>(), out.ptr<T>(), count, row_elems, stream());
      });
    }
  }
  check_launch(fn);
  return result(out_obj, out);
}

int64_t count_correct_py(const py::object& output_obj, const py::object& labels_obj, const py::object& threshold_obj) {
  const char* fn = "count_correct";
  const double threshold = float_arg(fn, "threshold", threshold_obj);
  const DeviceArray output = float_input(fn, "output", output_obj);
  if (output.shape.size() != 1 && output.shape.size() != 2) {
    value_error(std::string(fn) + ": output must be (N,) or (N, C), got shape " + shape_str(output.shape));
  }
  const int64_t n = output.shape[0], cols = output.shape.size() == 2 ? output.shape[1] : 1;
  if (cols < 1) value_error(std::string(fn) + ": output must have at least one column, got shape " + shape_str(output.shape));
  const DeviceArray labels = int64_input(fn, "labels", labels_obj, {n});
  int64_t correct;
  {
    py::gil_scoped_release nogil;
    correct = by_dtype(output, [&](auto zero) {
      using T = decltype(zero);
      return count_correct<T>(output.ptr<T>(), labels.ptr<int64_t>(), n, cols, threshold, stream());
    });
  }
  check_launch(fn);
  return correct;
}

}  // namespace
}  // namespace pydl::cuda

PYDL_BINDINGS(bind_batch) {
  using namespace pydl::cuda;
  using py::arg;
  m.def("gather_rows", &gather_rows_py, arg("x"), arg("index"), arg("out") = py::none(),
        "Rows of x (float32/float64 or int64) picked by the int64 index: out[i] = x[index[i]], as np.take(x, index, axis=0).");
  m.def("count_correct", &count_correct_py, arg("output"), arg("labels"), arg("threshold") = 0.5,
        "How many rows of output predict their int64 label: arg-max of each row for (N, C) with C > 1 (the first\n"
        "maximum; NaN counts as the maximum), else output > threshold as class 1. Counted on the device.");
}
