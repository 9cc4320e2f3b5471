// libFuzzer harness for the JSON reader and writer (json_entry.h says which): any text either
// parses or is a tg::Error; what parses must also dump, and its dump must be a fixed point
// (parse(dump(x)) dumps to the same text, compact and pretty), or the reader and the writer
// disagree about what JSON is. Anything but a tg::Error escapes; a broken round trip aborts.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "base/error.h"
#include "json_entry.h"

namespace {

[[noreturn]] void round_trip_failed(const std::string& a, const std::string& b) {
  std::fprintf(stderr, "json round trip differs:\n  first:  %s\n  second: %s\n", a.c_str(),
               b.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace fj = tg::fuzz_json;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const auto value = fj::parse(text);
    const std::string compact = fj::dump(value, -1), pretty = fj::dump(value, 2);
    const std::string again = fj::dump(fj::parse(compact), -1);
    if (again != compact) round_trip_failed(compact, again);
    if (fj::dump(fj::parse(pretty), 2) != pretty) round_trip_failed(pretty, "(pretty)");
  } catch (const tg::Error&) {
  }
  return 0;
}
