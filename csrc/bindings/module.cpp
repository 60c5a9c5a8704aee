#include <string>

#include "build_config.h"
#include "cpu.h"
#include "gemm.h"
#include "parallel.h"
#include "registry.h"

namespace py = pybind11;

PYBIND11_MODULE(_core, m) {
  m.doc() = "pydl native kernels. Use them through pydl.kernels, which documents them.";
  m.def("build_info", [] {
    py::dict info;
    info["version"] = PYDL_VERSION;
    info["compiler"] = PYDL_COMPILER;
    info["simd"] = pydl::simd_name(pydl::simd_level());
    info["cpu_simd"] = pydl::simd_name(pydl::cpu_simd_level());
    info["openmp"] = PYDL_OPENMP_STATUS;
    info["threads"] = pydl::num_threads();
    info["gemm"] = pydl::gemm_path();
    info["cuda"] = PYDL_CUDA_STATUS;
    return info;
  });
  m.def("set_num_threads", &pydl::set_num_threads, py::arg("n"));
  m.def("get_num_threads", &pydl::num_threads);
  m.def(
      "set_simd_level",
      [](const std::string& name) {
        if (name == "generic") pydl::set_simd_level(pydl::SimdLevel::generic);
        else if (name == "avx2") pydl::set_simd_level(pydl::SimdLevel::avx2);
        else if (name == "avx512") pydl::set_simd_level(pydl::SimdLevel::avx512);
        else throw py::value_error("set_simd_level: level must be 'generic', 'avx2' or 'avx512', got '" + name + "'");
        return std::string(pydl::simd_name(pydl::simd_level()));
      },
      py::arg("level"));
  pydl::bind_all(m);
}
