// Json: what the reader accepts and refuses (with the byte offset of the problem), exact
// integers, escapes and UTF-8, and what the writer produces, byte for byte.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>

#include "learner/io/json.h"
#include "test_util.h"

using tg::Json;
using tg::test::error_of;
using tg::test::has;

namespace {
std::string parse_error(const std::string& text) {
  return error_of([&] { Json::parse(text); });
}
}  // namespace

TEST_CASE("json: scalars parse to the right types and values") {
  CHECK(Json::parse("null").is_null());
  CHECK(Json::parse(" true ").as_bool() == true);
  CHECK(Json::parse("\n\tfalse\r").as_bool() == false);
  CHECK(Json::parse("\"hi\"").as_string() == "hi");
  CHECK(Json::parse("42").as_int() == 42);
  CHECK(Json::parse("42").is_int());
  CHECK(Json::parse("2.5").as_number() == 2.5);
  CHECK_FALSE(Json::parse("2.5").is_int());
}

TEST_CASE("json: integers are exact int64, beyond that they become doubles") {
  CHECK(Json::parse("9007199254740993").as_int() == 9007199254740993LL);  // 2^53 + 1
  CHECK(Json::parse("9223372036854775807").as_int() == std::numeric_limits<int64_t>::max());
  CHECK(Json::parse("-9223372036854775808").as_int() == std::numeric_limits<int64_t>::min());
  Json big = Json::parse("9223372036854775808");  // 2^63: no int64, a double
  CHECK_FALSE(big.is_int());
  CHECK(big.as_number() == 9223372036854775808.0);
  CHECK(has(error_of([&] { big.as_int(); }), "expected an integer"));
  CHECK(Json::parse("-0").as_int() == 0);
  CHECK(Json::parse("1e3").as_int() == 1000);  // an integral double is accepted by as_int
  CHECK(has(error_of([] { Json::parse("2.5").as_int(); }), "Json: expected an integer, got 2.5"));
  CHECK(Json::parse("9007199254740993").dump() == "9007199254740993");
}

TEST_CASE("json: negatives, fractions and exponents") {
  CHECK(Json::parse("-17").as_int() == -17);
  CHECK(Json::parse("-0.5").as_number() == -0.5);
  CHECK(Json::parse("1E+2").as_number() == 100.0);
  CHECK(Json::parse("1e-2").as_number() == 0.01);
  CHECK(Json::parse("-2.5e-3").as_number() == -0.0025);
  CHECK(Json::parse("0.1").as_number() == 0.1);
  CHECK(Json::parse("1.7976931348623157e308").as_number() == std::numeric_limits<double>::max());
  CHECK(has(parse_error("1e999"), "out of the range of a double"));
}

TEST_CASE("json: malformed numbers are refused") {
  for (const char* bad : {"01", "-01", "1.", ".5", "-", "+1", "1e", "1e+", "0x10", "NaN",
                          "Infinity", "-Infinity", "1.5.2", "--1"}) {
    CAPTURE(bad);
    CHECK(has(parse_error(bad), "Json.parse: at byte"));
  }
  CHECK(has(parse_error("01"), "at byte 0: leading zeros"));
  CHECK(has(parse_error("1."), "at byte 2: expected a digit"));
  CHECK(has(parse_error("[1.5.2]"), "at byte 4: expected ']' or ','"));
}

TEST_CASE("json: string escapes are decoded and written back") {
  Json s = Json::parse(R"("a\"b\\c\/d\b\f\n\r\t")");
  CHECK(s.as_string() == "a\"b\\c/d\b\f\n\r\t");
  CHECK(s.dump() == R"("a\"b\\c/d\b\f\n\r\t")");  // '/' needs no escape
  CHECK(Json(std::string("\x01\x1f", 2)).dump() == R"("\u0001\u001f")");
  CHECK(Json::parse(Json(std::string("\x01\x1f", 2)).dump()).as_string() == "\x01\x1f");
}

TEST_CASE("json: unicode escapes become UTF-8, raw UTF-8 is validated") {
  CHECK(Json::parse(R"("\u0041")").as_string() == "A");
  CHECK(Json::parse(R"("\u00e9")").as_string() == "\xc3\xa9");                // é
  CHECK(Json::parse(R"("\u20AC")").as_string() == "\xe2\x82\xac");            // €
  CHECK(Json::parse(R"("\ud83d\ude00")").as_string() == "\xf0\x9f\x98\x80");  // 😀
  CHECK(Json::parse("\"\xf0\x9f\x98\x80 ok\"").as_string() == "\xf0\x9f\x98\x80 ok");
  CHECK(Json("\xc3\xa9").dump() == "\"\xc3\xa9\"");  // written as UTF-8, not escaped
  CHECK(has(parse_error(R"("\ud83d")"), "at byte 1: high surrogate not followed"));
  CHECK(has(parse_error(R"("\ude00")"), "at byte 1: lone low surrogate"));
  CHECK(has(parse_error(R"("\u12G4")"), "at byte 3: bad hex digits"));
  CHECK(has(parse_error(R"("\u12")"), "incomplete \\u escape"));
  CHECK(has(parse_error("\"a\xff\""), "at byte 2: invalid UTF-8"));
  CHECK(has(parse_error("\"\xc0\xaf\""), "at byte 1: invalid UTF-8"));      // overlong '/'
  CHECK(has(parse_error("\"\xed\xa0\x80\""), "at byte 1: invalid UTF-8"));  // raw surrogate
}

TEST_CASE("json: dump compact and indented, byte for byte") {
  Json j = Json::object();
  j.set("name", "mlp").set("sizes", Json::array().push(4).push(8).push(3));
  j.set("lr", 0.1).set("nesterov", false).set("extra", nullptr);
  j.set("empty_a", Json::array()).set("empty_o", Json::object()).set("w", 3.0);
  CHECK(j.dump() == R"({"name":"mlp","sizes":[4,8,3],"lr":0.1,"nesterov":false,"extra":null,)"
                    R"("empty_a":[],"empty_o":{},"w":3.0})");
  Json small = Json::object().set("a", 1).set("b", Json::array().push("x").push(Json::object()));
  CHECK(small.dump(2) == "{\n  \"a\": 1,\n  \"b\": [\n    \"x\",\n    {}\n  ]\n}");
  CHECK(Json(-0.0).dump() == "-0.0");
  CHECK(Json(1e300).dump() == "1e+300");
  CHECK(Json(0.1).dump() == "0.1");
  CHECK(has(error_of([] { Json(std::nan("")).dump(); }), "Json.dump: cannot write nan"));
  CHECK(has(error_of([] { Json(INFINITY).dump(); }), "JSON has no NaN/inf"));
}

TEST_CASE("json: parse then dump round trips, in key order") {
  const std::string text =
      R"({"z":1,"a":[true,false,null,-1.5,"s",{"k":[[],{}]}],"m":{"x":1e-07,"y":-123}})";
  Json j = Json::parse(text);
  CHECK(j.dump() == text);
  CHECK(Json::parse(j.dump(4)) == j);
  CHECK(j.as_object()[0].first == "z");  // file order kept, not sorted
  for (double d : {0.1, 1.0 / 3, -2.5e-300, 6.02214076e23, 123456789.125}) {
    CAPTURE(d);
    CHECK(Json::parse(Json(d).dump()).as_number() == d);  // shortest round-trip form
  }
}

TEST_CASE("json: syntax errors name the byte offset") {
  CHECK(has(parse_error("{\"a\": 1} x"), "at byte 9: unexpected 'x' after the value"));
  CHECK(has(parse_error("[1, 2]]"), "at byte 6: unexpected ']'"));
  CHECK(has(parse_error("\"abc"), "at byte 0: unterminated string"));
  CHECK(has(parse_error("[\"ab\\"), "at byte 1: unterminated string"));
  CHECK(has(parse_error("\"a\\qb\""), "at byte 2: bad escape '\\q'"));
  CHECK(has(parse_error("\"a\nb\""), "at byte 2: raw control character 0x0a"));
  CHECK(has(parse_error("{\"a\" 1}"), "at byte 5: expected ':' after an object key, found '1'"));
  CHECK(has(parse_error("[1,]"), "at byte 3: expected a value, found ']'"));
  CHECK(has(parse_error("{\"a\":1,}"), "at byte 7: expected a string key, found '}'"));
  CHECK(has(parse_error("{1:2}"), "at byte 1: expected a string key"));
  CHECK(has(parse_error(""), "at byte 0: expected a value, found the end of the input"));
  CHECK(has(parse_error("  "), "at byte 2: expected a value"));
  CHECK(has(parse_error("[1 2]"), "at byte 3: expected ']' or ','"));
  CHECK(has(parse_error("tru"), "at byte 0: expected a value"));
  CHECK(has(parse_error("// c\n1"), "at byte 0: expected a value, found '/'"));
  CHECK(has(parse_error(std::string("1\0", 2)), "at byte 1: unexpected byte 0x00"));
}

TEST_CASE("json: nesting deeper than the limit is refused") {
  std::string ok = std::string(128, '[') + std::string(128, ']');
  CHECK(Json::parse(ok).is_array());
  std::string deep = std::string(129, '[') + std::string(129, ']');
  CHECK(has(parse_error(deep), "at byte 128: nesting deeper than 128 levels"));
  std::string hostile(1'000'000, '[');  // must not overflow the stack
  CHECK(has(parse_error(hostile), "nesting deeper than"));
  CHECK(has(error_of([] { Json::parse(R"({"a":{"b":1}})", 1); }), "at byte 5: nesting deeper"));
  CHECK(Json::parse(R"({"a":1})", 1).at("a").as_int() == 1);
}

TEST_CASE("json: duplicate keys are an error, not last-one-wins") {
  CHECK(has(parse_error(R"({"a":1,"b":2,"a":3})"), "at byte 13: duplicate key \"a\""));
  CHECK(has(error_of([] { Json(Json::Object{{"k", 1}, {"k", 2}}); }), "duplicate key \"k\""));
  Json j = Json::object().set("k", 1).set("k", 2);  // set() replaces in place
  CHECK(j.size() == 1);
  CHECK(j.at("k").as_int() == 2);
}

TEST_CASE("json: accessors throw on type mismatch and missing keys") {
  Json j = Json::parse(R"({"s":"x","n":1,"a":[1,2]})");
  CHECK(has(error_of([&] { j.at("s").as_number(); }), "Json: expected number, got string"));
  CHECK(has(error_of([&] { j.at("n").as_string(); }), "expected string, got number"));
  CHECK(has(error_of([&] { j.as_array(); }), "expected array, got object"));
  CHECK(has(error_of([&] { j.at("a").as_object(); }), "expected object, got array"));
  CHECK(has(error_of([&] { j.at("a").as_bool(); }), "expected boolean, got array"));
  CHECK(has(error_of([&] { j.at("missing"); }), "no key \"missing\""));
  CHECK(has(error_of([&] { j.at("a").at(2); }), "index 2 is out of range for an array of 2"));
  CHECK(has(error_of([&] { j.at("n").size(); }), "size() needs an array or object"));
  CHECK(has(error_of([&] { Json(1).set("k", 1); }), "expected object, got number"));
  CHECK(has(error_of([&] { Json().push(1); }), "expected array, got null"));
  CHECK(j.contains("s"));
  CHECK_FALSE(j.contains("S"));
  CHECK(j.at("a").at(1).as_int() == 2);
}

TEST_CASE("json: builders accept the C++ types a caller has at hand") {
  int i = 7;
  int64_t big = int64_t{1} << 60;
  size_t u = 5;
  std::string str = "s";
  Json j = Json::object().set("i", i).set("big", big).set("u", u).set("f", 1.5f);
  j.set("str", str).set("sv", std::string_view("v")).set("b", true).set("c", "lit");
  CHECK(j.dump() ==
        R"({"i":7,"big":1152921504606846976,"u":5,"f":1.5,"str":"s","sv":"v","b":true,"c":"lit"})");
  CHECK(j.at("big").as_int() == big);
  CHECK(j.at("b").is_bool());    // not converted to a number
  CHECK(j.at("c").is_string());  // not converted to bool
  Json::Object o{{"x", 1}, {"y", Json::Array{1, "two", nullptr}}};
  CHECK(Json(o).dump() == R"({"x":1,"y":[1,"two",null]})");
}
