// The readable name of a C++ type for messages: "SGD", "Recorder", not "N2tg5optim3SGDE".
//
//   tg::type_name(typeid(*callback))   // "Recorder"
//
// Demangled, with the namespaces a reader does not need ("tg::", "tg::optim::",
// "(anonymous namespace)::") dropped from the front.
#pragma once

#include <string>
#include <typeinfo>

namespace tg {

std::string type_name(const std::type_info& t);

}  // namespace tg
