// The CUDA modules: pydl._cuda (nvcc, real devices) and pydl._cuda_sim (the same kernels on the CPU
// simulator). Every bindings_*.cpp here registers itself, as the CPU module's do.
#include <string>

#include "device_array.h"
#include "registry.h"

#ifdef PYDL_CUDA_SIM
#define PYDL_CUDA_MODULE _cuda_sim
#else
#define PYDL_CUDA_MODULE _cuda
#endif

namespace {

// (available, why not): a device and a driver that can run it.
py::tuple availability() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    cudaGetLastError();  // clear it: a missing driver is an answer, not an error of the next launch
    return py::make_tuple(false, std::string("cudaGetDeviceCount failed: ") + cudaGetErrorString(status));
  }
  if (count == 0) return py::make_tuple(false, std::string("the CUDA driver reports no device"));
  return py::make_tuple(true, std::string());
}

}  // namespace

PYBIND11_MODULE(PYDL_CUDA_MODULE, m) {
  m.doc() = "pydl CUDA kernels on DeviceArrays. Use them through pydl.cuda and device='cuda' / 'cuda-sim'.";
  m.attr("device") = pydl::cuda::device_name();
  m.def("availability", &availability, "(available, reason): whether this module can run kernels, and why not.");
  m.def("synchronize", [] {
    py::gil_scoped_release nogil;
    pydl::cuda::check(cudaDeviceSynchronize(), "synchronize");
  }, "Wait for every queued kernel; raises the error of a failed one.");
  pydl::cuda::bind_device_array(m);
  pydl::bind_all(m);
}
