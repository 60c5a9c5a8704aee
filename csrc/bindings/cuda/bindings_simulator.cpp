// The simulator's own controls (pydl._cuda_sim only): the order a block's threads run in between barriers.
#ifdef PYDL_CUDA_SIM
#include <string>

#include "device_array.h"
#include "registry.h"

PYDL_BINDINGS(bind_simulator) {
  using pydl::sim::ThreadOrder;
  m.def("set_thread_order", [](const std::string& order, uint64_t seed) {
    if (order == "forward") pydl::sim::set_thread_order(ThreadOrder::forward, seed);
    else if (order == "reverse") pydl::sim::set_thread_order(ThreadOrder::reverse, seed);
    else if (order == "shuffle") pydl::sim::set_thread_order(ThreadOrder::shuffle, seed);
    else throw py::value_error("set_thread_order: order must be 'forward', 'reverse' or 'shuffle', got '" + order + "'");
  }, py::arg("order"), py::arg("seed") = 0,
        "Run each block's threads between barriers in this order (shuffle: seeded, redrawn at each barrier).");
  m.def("thread_order", [] {
    switch (pydl::sim::thread_order()) {
      case ThreadOrder::forward: return "forward";
      case ThreadOrder::reverse: return "reverse";
      case ThreadOrder::shuffle: return "shuffle";
    }
    return "?";
  });
}
#endif
