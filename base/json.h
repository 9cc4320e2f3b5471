// JSON for tapegrad, over nlohmann-json: a strict reader for text that may come from anywhere
// (a safetensors header), typed readers for the fields such text holds, and a writer that
// refuses what JSON cannot spell.
//
//   nlohmann::json h = tg::parse_json(text, "load_safetensors: 'w.safetensors': header");
//   uint64_t n = tg::json_uint64(h["w"]["shape"][0], "load_safetensors", "shape[0]");
//   nlohmann::ordered_json doc = {{"loss", 0.25}, {"steps", 100}};
//   std::string s = tg::dump_json(doc, "summary", 2);  // pretty; -1: compact
//
// Strict means RFC 8259 and nothing more. nlohmann already refuses comments, trailing commas,
// NaN/Infinity, leading zeros, raw control characters, lone surrogates, invalid UTF-8 and text
// after the value; parse_json adds what it lets through: a duplicate key in an object, at any
// depth, is an error (nlohmann keeps the last one; JSON leaves it undefined and a header read
// two ways is how parser-differential attacks work), and nesting deeper than max_depth is an
// error (so a "[[[[..." bomb costs nothing). Every failure is a tg::Error
// "<what>: invalid JSON at byte <offset>: <problem>"; no nlohmann exception escapes.
//
// Numbers: a non-negative integer is kept as uint64, a negative one as int64, anything with a
// fraction or an exponent, or too large for 64 bits, as a double. The typed readers refuse a
// double even when its value is integral ("2.0", "1e3"), as the safetensors reference does.
//
// Writing: dump_json refuses NaN and infinities (nlohmann would write null, which reads back as
// something else), naming where the value sits (e.g. "/history/loss/2"), and invalid UTF-8.
// A caller that wants null for a non-finite number writes null itself (the trainer's summary
// does). Output is deterministic: nlohmann::json sorts keys, ordered_json keeps insertion order.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace tg {

constexpr int kJsonMaxDepth = 128;

// Exactly one JSON value; surrounding whitespace is allowed, anything else is an error. `what`
// opens every error message (the op and the file, say).
nlohmann::json parse_json(std::string_view text, std::string_view what,
                          int max_depth = kJsonMaxDepth);

// indent < 0: compact ({"a":1}); indent >= 0: one item per line, that many spaces per level.
std::string dump_json(const nlohmann::json& j, std::string_view what, int indent = -1);
std::string dump_json(const nlohmann::ordered_json& j, std::string_view what, int indent = -1);

// Typed readers for untrusted values: a tg::Error "<op>: <field> must be ..., got <value>" on
// anything else. json_int64 and json_uint64 take integers written without fraction or
// exponent that fit the type; json_uint64 refuses negatives.
int64_t json_int64(const nlohmann::json& j, const char* op, std::string_view field);
uint64_t json_uint64(const nlohmann::json& j, const char* op, std::string_view field);
const std::string& json_string(const nlohmann::json& j, const char* op, std::string_view field);
const nlohmann::json::array_t& json_array(const nlohmann::json& j, const char* op,
                                          std::string_view field);
const nlohmann::json::object_t& json_object(const nlohmann::json& j, const char* op,
                                            std::string_view field);

}  // namespace tg
