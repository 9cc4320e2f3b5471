// Small helpers shared by the test suites: the message of the tg::Error a call throws, and a
// substring check, so a test can pin down what an error says (the op, the shapes) and not
// only that something was thrown; and a temporary folder removed at the end of a test.
//
//   std::string msg = tg::test::error_of([&] { a.view({4}); });
//   CHECK(tg::test::has(msg, "Tensor::view"));
#pragma once

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <cstring>
#include <exception>
#include <map>

#include "base/error.h"
#include "tensor/tensor.h"

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

// Same shape, dtype and bytes: for round trips that must be bit-exact.
inline bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  Tensor ca = a.detach().contiguous(), cb = b.detach().contiguous();
  size_t bytes = ca.numel() * dtype_size(ca.dtype());
  return bytes == 0 || std::memcmp(ca.raw_data(), cb.raw_data(), bytes) == 0;
}
inline bool same_bits(const std::map<std::string, Tensor>& a,
                      const std::map<std::string, Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [k, t] : a)
    if (!b.count(k) || !same_bits(t, b.at(k))) return false;
  return true;
}

// An exception's message followed by those of the exceptions nested in it, joined by " | ".
inline std::string messages(const std::exception& e) {
  std::string s = e.what();
  try {
    std::rethrow_if_nested(e);
  } catch (const std::exception& inner) {
    s += " | " + messages(inner);
  }
  return s;
}

// A fresh folder under the system's temporary directory, removed with everything in it when
// the object goes out of scope. `tmp / "name"` is the path of a file in it.
class TempDir {
 public:
  TempDir() {
    static int count = 0;
    dir = std::filesystem::temp_directory_path() /
          ("tg_test_" + std::to_string(::getpid()) + "_" + std::to_string(count++));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string str() const { return dir.string(); }
  std::string operator/(const std::string& name) const { return (dir / name).string(); }
  // The names of the entries in the folder, sorted (to check no temporary file was left).
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir))
      out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }

  std::filesystem::path dir;
};

}  // namespace tg::test
