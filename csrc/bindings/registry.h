// Each bindings_*.cpp registers its functions here, so adding a kernel never edits module.cpp.
#pragma once
#include <pybind11/pybind11.h>

namespace pydl {

using BindFn = void (*)(pybind11::module_&);

struct RegisterBindings {
  RegisterBindings(const char* name, BindFn fn);
};

void bind_all(pybind11::module_& m);

}  // namespace pydl

#define PYDL_BINDINGS(name)                                              \
  static void name(pybind11::module_& m);                                \
  static ::pydl::RegisterBindings name##_registration(#name, name);      \
  static void name(pybind11::module_& m)
