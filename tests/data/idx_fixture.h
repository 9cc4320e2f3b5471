// Helpers for the IDX tests: a temporary folder removed at the end of the test, IDX images
// built byte by byte, and raw file reads and writes (no inflating), so a test can lay down
// exactly the (corrupt) file it means to and check the message it gets back.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>

#include <iterator>
#include <string>
#include <vector>
#include "test_util.h"

namespace tg::test {

// The bytes of an IDX file: magic and dims big-endian, then data.
inline std::vector<uint8_t> idx_bytes(uint32_t magic, const std::vector<uint32_t>& dims,
                                      const std::vector<uint8_t>& data) {
  std::vector<uint8_t> b;
  auto put = [&](uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(uint8_t(v >> s));
  };
  put(magic);
  for (uint32_t d : dims) put(d);
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

inline std::vector<uint8_t> file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

inline std::vector<uint8_t> to_bytes(const std::string& s) {
  return {s.begin(), s.end()};
}
inline std::string to_string(const std::vector<uint8_t>& b) {
  return {b.begin(), b.end()};
}

}  // namespace tg::test
