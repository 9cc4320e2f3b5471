// tg::Error, the one exception type of tapegrad, and TG_CHECK, the one way to throw it.
//
// It lives in the lowest layer so that every layer (kernels included: index bounds, CUDA
// status codes) reports problems the same way. Messages name the op, then what is wrong,
// with the shapes and values involved:
//
//   TG_CHECK(a.size(1) == b.size(0), "matmul", "inner dimensions differ: ", a.shape_str(),
//            " @ ", b.shape_str());
//   -> tg::Error: matmul: inner dimensions differ: [2, 3] @ [4, 5]
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace tg {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {
template <typename... Args>
[[noreturn]] void throw_error(const char* op, const Args&... parts) {
  std::ostringstream os;
  os << op << ": ";
  (os << ... << parts);
  throw Error(os.str());
}
}  // namespace detail

}  // namespace tg

// Throws tg::Error("op: parts...") when cond is false. The message parts are only evaluated
// on failure.
#define TG_CHECK(cond, op, ...)                   \
  do {                                            \
    if (!(cond)) [[unlikely]]                     \
      ::tg::detail::throw_error(op, __VA_ARGS__); \
  } while (0)

// Throws unconditionally; for switch defaults and unreachable dtype branches.
#define TG_FAIL(op, ...) ::tg::detail::throw_error(op, __VA_ARGS__)
