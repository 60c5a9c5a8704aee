// Bindings for the batch kernels: gather_rows (a shuffled batch) and count_correct (accuracy).
#include <string>

#include "batch.h"
#include "check.h"
#include "registry.h"

namespace pydl {
namespace {

py::array gather_rows_py(const py::object& x_obj, const py::object& index_obj, const py::object& out_obj) {
  const char* fn = "gather_rows";
  const bool ints = is_int_array(x_obj);
  py::array x = ints ? py::array(as_ndarray(fn, "x", x_obj, "a numpy.ndarray")) : float_input(fn, "x", x_obj);
  if (x.ndim() < 1) value_error(std::string(fn) + ": x must have at least 1 dimension, got shape " + shape_of(x));
  if (ints) x = int_input(fn, "x", x_obj, shape_vec(x));
  if (!is_int_array(index_obj)) type_error(std::string(fn) + ": index must be a numpy.ndarray of integers");
  const py::array index_any = as_ndarray(fn, "index", index_obj, "a numpy.ndarray of integers");
  if (index_any.ndim() != 1) value_error(std::string(fn) + ": index must be 1-D, got shape " + shape_of(index_any));
  auto index = int_input(fn, "index", index_obj, shape_vec(index_any));
  const int64_t n = x.shape(0), rows = index.size();
  const int64_t* idx = index.data();
  for (int64_t i = 0; i < rows; ++i) {
    if (idx[i] < 0 || idx[i] >= n) {
      value_error(std::string(fn) + ": index holds " + std::to_string(idx[i]) + " at position " + std::to_string(i) +
                  ", outside [0, " + std::to_string(n) + ") for x of shape " + shape_of(x));
    }
  }
  Shape out_shape = shape_vec(x);
  out_shape[0] = rows;
  py::array out = ints ? int64_output(fn, "out", out_obj, out_shape) : float_output(fn, "out", out_obj, out_shape, x);
  no_overlap(fn, "out", out, "x", x);
  no_overlap(fn, "out", out, "index", index);
  const int64_t row_elems = n > 0 ? x.size() / n : 0;
  if (rows == 0 || row_elems == 0) return out;
  py::gil_scoped_release nogil;
  if (ints) {
    gather_rows<int64_t>(static_cast<const int64_t*>(x.data()), idx, static_cast<int64_t*>(out.mutable_data()), rows,
                         row_elems);
  } else {
    by_dtype(x, [&](auto zero) {
      using T = decltype(zero);
      gather_rows<T>(cptr<T>(x), idx, ptr<T>(out), rows, row_elems);
    });
  }
  return out;
}

int64_t count_correct_py(const py::object& out_obj, const py::object& labels_obj, const py::object& threshold_obj) {
  const char* fn = "count_correct";
  const double threshold = float_arg(fn, "threshold", threshold_obj);
  py::array output = float_input(fn, "output", out_obj);
  if (output.ndim() != 1 && output.ndim() != 2) {
    value_error(std::string(fn) + ": output must be (N,) or (N, C), got shape " + shape_of(output));
  }
  const int64_t n = output.shape(0), cols = output.ndim() == 2 ? output.shape(1) : 1;
  if (cols < 1) value_error(std::string(fn) + ": output must have at least one column, got shape " + shape_of(output));
  auto labels = int_input(fn, "labels", labels_obj, {n});
  py::gil_scoped_release nogil;
  return by_dtype(output, [&](auto zero) {
    using T = decltype(zero);
    return count_correct<T>(cptr<T>(output), labels.data(), n, cols, threshold);
  });
}

}  // namespace
}  // namespace pydl

PYDL_BINDINGS(bind_batch) {
  using namespace pydl;
  m.def("gather_rows", &gather_rows_py, py::arg("x"), py::arg("index"), py::arg("out") = py::none(),
        R"doc(Rows of x picked by index: out[i] = x[index[i]], as np.take(x, index, axis=0).

x: float32/float64 or integer array of at least 1 dimension (integers are gathered as int64); index: 1-D
integers in [0, len(x)). out (len(index), *x.shape[1:]) in x's dtype (int64 for integers), written in place when given.)doc");
  m.def("count_correct", &count_correct_py, py::arg("output"), py::arg("labels"), py::arg("threshold") = 0.5,
        R"doc(How many rows of output predict their label: arg-max of each row (the first maximum; NaN counts as
the maximum, as np.argmax) for output (N, C) with C > 1, else output > threshold as class 1 for (N,) or (N, 1).)doc");
}
