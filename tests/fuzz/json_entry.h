// The JSON entry points the JSON harness calls, in one place so that moving the harness to
// another parser is a change here only: base/json.h, strict JSON over nlohmann-json.
#pragma once

#include <string>
#include <string_view>

#include "base/json.h"

namespace tg::fuzz_json {

inline auto parse(std::string_view text) {
  return tg::parse_json(text, "fuzz.json");
}
inline std::string dump(const auto& j, int indent) {
  return tg::dump_json(j, "fuzz.json", indent);
}

}  // namespace tg::fuzz_json
