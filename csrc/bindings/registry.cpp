#include "registry.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace pydl {

static std::vector<std::pair<std::string, BindFn>>& registry() {
  static std::vector<std::pair<std::string, BindFn>> fns;
  return fns;
}

RegisterBindings::RegisterBindings(const char* name, BindFn fn) { registry().emplace_back(name, fn); }

void bind_all(pybind11::module_& m) {
  auto fns = registry();
  std::sort(fns.begin(), fns.end());  // static-init order differs between builds; binding order should not
  for (auto& entry : fns) entry.second(m);
}

}  // namespace pydl
