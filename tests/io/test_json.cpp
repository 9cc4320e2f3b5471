// base/json.h: the strictness parse_json adds to nlohmann (duplicate keys at any depth, a depth
// limit that defuses "[[[[..." bombs), what nlohmann already refuses and how the error names
// the text and the byte, the typed readers' refusals of sizes that do not fit, and the writer's
// refusal of NaN and infinity with deterministic, byte-for-byte output.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>

#include "base/json.h"
#include "test_util.h"

using nlohmann::json;
using nlohmann::ordered_json;
using tg::test::error_of;
using tg::test::has;

namespace {
std::string parse_error(const std::string& text, int max_depth = tg::kJsonMaxDepth) {
  return error_of([&] { tg::parse_json(text, "hdr.json", max_depth); });
}
}  // namespace

TEST_CASE("json: parse_json reads values with nlohmann's types") {
  json j = tg::parse_json(R"( {"a": [1, -2, 2.5, "s", true, null], "b": {}} )", "t");
  CHECK(j["a"][0].is_number_unsigned());
  CHECK(j["a"][1].is_number_integer());
  CHECK(j["a"][2].is_number_float());
  CHECK(j["a"][3] == "s");
  CHECK(j["a"][5].is_null());
  CHECK(j["b"].is_object());
  CHECK(tg::parse_json("\"\\u00e9\\ud83d\\ude00\"", "t") == "\xc3\xa9\xf0\x9f\x98\x80");
  CHECK(tg::parse_json("18446744073709551615", "t").get<uint64_t>() == UINT64_MAX);
}

TEST_CASE("json: duplicate keys are refused at any depth, naming the key and the byte") {
  // nlohmann alone keeps the last value; a header read two ways is a security hole.
  CHECK(json::parse(R"({"a":1,"a":2})")["a"] == 2);
  CHECK(has(parse_error(R"({"a":1,"b":2,"a":3})"),
            "hdr.json: invalid JSON at byte 15: duplicate key \"a\""));
  CHECK(has(parse_error(R"({"w":{"dtype":"F32","shape":[1],"dtype":"I64"}})"),
            "duplicate key \"dtype\""));
  CHECK(has(parse_error(R"([{"x":[{"k":1,"k":1}]}])"), "duplicate key \"k\""));
  // The same key in two different objects is fine.
  CHECK(tg::parse_json(R"({"a":{"k":1},"b":{"k":2}})", "t")["b"]["k"] == 2);
}

TEST_CASE("json: nesting deeper than max_depth is refused without deep recursion") {
  std::string ok = std::string(128, '[') + std::string(128, ']');
  CHECK(tg::parse_json(ok, "t").is_array());
  std::string deep = std::string(129, '[') + std::string(129, ']');
  CHECK(has(parse_error(deep), "hdr.json: invalid JSON at byte 128: nesting deeper than 128"));
  std::string bomb(100'000, '[');  // a 100 kB bomb must not overflow the stack
  CHECK(has(parse_error(bomb), "nesting deeper than 128 levels"));
  std::string obj_bomb;
  for (int i = 0; i < 20'000; ++i) obj_bomb += "{\"a\":";
  CHECK(has(parse_error(obj_bomb), "nesting deeper than 128 levels"));
  CHECK(has(parse_error(R"({"a":{"b":1}})", 1), "at byte 5: nesting deeper than 1 levels"));
  CHECK(tg::parse_json(R"({"a":1})", "t", 1)["a"] == 1);
  CHECK(has(parse_error("1", 0), "max_depth must be at least 1"));
}

TEST_CASE("json: what RFC 8259 does not allow is refused, with the byte offset") {
  CHECK(has(parse_error("NaN"), "hdr.json: invalid JSON at byte 0:"));
  CHECK(has(parse_error("[Infinity]"), "invalid JSON at byte 1:"));
  CHECK(has(parse_error("[-Infinity]"), "invalid JSON at byte"));
  CHECK(has(parse_error("// c\n1"), "invalid JSON at byte 0:"));
  CHECK(has(parse_error("/* c */ 1"), "invalid JSON at byte 0:"));
  CHECK(has(parse_error("[1,]"), "invalid JSON at byte 3: line 1, column 4: syntax error"));
  CHECK(has(parse_error(R"({"a":1,})"), "invalid JSON at byte 7:"));
  CHECK(has(parse_error("01"), "invalid JSON at byte 1:"));
  CHECK(has(parse_error("[1] x"), "expected end of input"));
  // nlohmann alone stops at a NUL as if the text ended there.
  CHECK(json::parse(std::string("[1]\0x", 5)) == json::array({1}));
  CHECK(has(parse_error(std::string("[1]\0x", 5)), "invalid JSON at byte 3: a NUL byte"));
  CHECK(has(parse_error(std::string("\"a\0\"", 4)), "invalid JSON at byte 2: a NUL byte"));
  CHECK(has(parse_error("\"a\nb\""), "control character"));
  CHECK(has(parse_error("{'a':1}"), "invalid JSON at byte 1:"));
  CHECK(has(parse_error("1e400"), "number overflow"));
  for (const char* bad : {"1.", ".5", "-", "+1", "1e", "0x10", "--1", "tru", "nul"}) {
    CAPTURE(bad);
    CHECK(has(parse_error(bad), "hdr.json: invalid JSON at byte"));
  }
}

TEST_CASE("json: truncated text and empty input are refused") {
  CHECK(has(parse_error(""), "hdr.json: invalid JSON at byte 0:"));
  CHECK(has(parse_error("   "), "unexpected end of input"));
  CHECK(has(parse_error(R"({"a":)"), "invalid JSON at byte 5: line 1, column 6"));
  CHECK(has(parse_error(R"({"a":1)"), "unexpected end of input"));
  CHECK(has(parse_error("\"abc"), "invalid JSON at byte"));
  CHECK(has(parse_error("[1, 2"), "unexpected end of input"));
}

TEST_CASE("json: invalid UTF-8 and lone surrogates are refused") {
  CHECK(has(parse_error("\"a\xff\""), "invalid JSON at byte 2:"));
  CHECK(has(parse_error("\"a\xff\""), "ill-formed UTF-8"));
  CHECK(has(parse_error("\"\xc0\xaf\""), "ill-formed UTF-8"));      // overlong '/'
  CHECK(has(parse_error("\"\xed\xa0\x80\""), "ill-formed UTF-8"));  // a raw surrogate
  CHECK(has(parse_error("\"\xf0\x9f\x98\""), "ill-formed UTF-8"));  // cut short
  CHECK(has(parse_error(R"({"\ud83d":1})"), "surrogate"));
  CHECK(has(parse_error(R"("\ude00")"), "surrogate"));
  CHECK(json::parse("\xef\xbb\xbf{}").is_object());  // nlohmann alone skips a BOM
  CHECK(has(parse_error("\xef\xbb\xbf{}"), "invalid JSON at byte 0: a byte order mark"));
}

TEST_CASE("json: typed readers take integers that fit and name the field otherwise") {
  json j = tg::parse_json(
      R"([0, 9223372036854775807, 9223372036854775808, 18446744073709551615,
          18446744073709551616, -1, -9223372036854775808, 1.5, 2.0, 1e3, 1e30, "7", null])",
      "t");
  auto err_u = [&](int i) { return error_of([&] { tg::json_uint64(j[i], "op", "size"); }); };
  auto err_i = [&](int i) { return error_of([&] { tg::json_int64(j[i], "op", "size"); }); };
  CHECK(tg::json_uint64(j[0], "op", "size") == 0);
  CHECK(tg::json_uint64(j[3], "op", "size") == UINT64_MAX);
  CHECK(tg::json_int64(j[1], "op", "size") == INT64_MAX);
  CHECK(tg::json_int64(j[6], "op", "size") == INT64_MIN);
  CHECK(tg::json_int64(j[5], "op", "size") == -1);
  CHECK(has(err_i(2), "op: size must be an integer that fits in int64"));               // 2^63
  CHECK(has(err_u(4), "op: size must be a non-negative integer that fits in uint64"));  // 2^64
  CHECK(has(err_u(5), "op: size must be a non-negative integer, got -1"));
  for (int i : {7, 8, 9, 10, 11, 12}) {  // 1.5, 2.0, 1e3, 1e30, "7", null
    CAPTURE(i);
    CHECK(has(err_u(i), "op: size must be a non-negative integer"));
    CHECK(has(err_i(i), "op: size must be an integer"));
  }
  CHECK(has(err_u(10), "got 1e+30"));
  CHECK(tg::json_string(j[11], "op", "name") == "7");
  CHECK(has(error_of([&] { tg::json_string(j[0], "op", "name"); }), "op: name must be a string"));
  CHECK(tg::json_array(j, "op", "list").size() == 13);
  CHECK(has(error_of([&] { tg::json_array(j[11], "op", "list"); }),
            "op: list must be an array, got \"7\""));
  CHECK(has(error_of([&] { tg::json_object(j, "op", "hdr"); }), "op: hdr must be an object"));
  json long_array(std::vector<int>(1000, 1));
  CHECK(error_of([&] { tg::json_object(long_array, "op", "x"); }).size() < 100);  // cut short
}

TEST_CASE("json: dump_json is deterministic, byte for byte") {
  ordered_json o = {{"z", 1}, {"a", {1.5, -2, nullptr}}, {"m", {{"k", "v"}}}, {"w", 3.0}};
  CHECK(tg::dump_json(o, "t") == R"({"z":1,"a":[1.5,-2,null],"m":{"k":"v"},"w":3.0})");
  CHECK(tg::dump_json(o, "t", 2) ==
        "{\n  \"z\": 1,\n  \"a\": [\n    1.5,\n    -2,\n    null\n  ],\n  \"m\": {\n    \"k\": "
        "\"v\"\n  },\n  \"w\": 3.0\n}");
  json sorted = {{"z", 1}, {"a", 2}};  // nlohmann::json sorts its keys
  CHECK(tg::dump_json(sorted, "t") == R"({"a":2,"z":1})");
  for (double d : {0.1, 1.0 / 3, -2.5e-300, 6.02214076e23, 123456789.125}) {
    CAPTURE(d);
    CHECK(tg::parse_json(tg::dump_json(json(d), "t"), "t").get<double>() == d);
  }
}

TEST_CASE("json: dump_json refuses NaN and infinity, naming where they are") {
  // nlohmann alone writes null, which reads back as something else.
  CHECK(json(std::nan("")).dump() == "null");
  ordered_json o = {{"history", {{"loss", {0.5, 0.25, std::nan("")}}}}};
  CHECK(has(error_of([&] { tg::dump_json(o, "summary.json"); }),
            "summary.json: the value at /history/loss/2 is not finite"));
  CHECK(has(error_of([] { tg::dump_json(json(INFINITY), "t"); }), "t: the value at / is not"));
  CHECK(has(error_of([] { tg::dump_json(json({1.0, -INFINITY}), "t"); }), "at /1 is not finite"));
  CHECK(has(error_of([] { tg::dump_json(json("a\xff"), "t"); }), "t: cannot write JSON"));
}
