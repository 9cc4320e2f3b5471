// type_name (type_name.h), with the Itanium ABI's demangler (GCC and Clang).
#include "base/type_name.h"

#include <cxxabi.h>

#include <cstdlib>
#include <memory>

namespace tg {

std::string type_name(const std::type_info& t) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> d(abi::__cxa_demangle(t.name(), nullptr, nullptr, &status),
                                           std::free);
  std::string n = (status == 0 && d) ? d.get() : t.name();
  for (const std::string prefix : {"tg::optim::", "tg::nn::", "tg::", "(anonymous namespace)::"})
    if (n.rfind(prefix, 0) == 0) n = n.substr(prefix.size());
  return n;
}

}  // namespace tg
