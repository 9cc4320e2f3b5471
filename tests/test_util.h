// Small helpers shared by the test suites: the message of the tg::Error a call throws, and a
// substring check, so a test can pin down what an error says (the op, the shapes) and not
// only that something was thrown.
//
//   std::string msg = tg::test::error_of([&] { a.view({4}); });
//   CHECK(tg::test::has(msg, "Tensor::view"));
#pragma once

#include <string>

#include "kernels/error.h"

namespace tg::test {

// The what() of the tg::Error that f throws, or a marker when it throws none (any other
// exception escapes, failing the test).
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const tg::Error& e) {
    return e.what();
  }
  return "<no tg::Error thrown>";
}

inline bool has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace tg::test
