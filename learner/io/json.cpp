// Json: a recursive-descent reader (one pass, byte offsets in every error, a depth limit so a
// hostile file cannot overflow the stack) and a writer (shortest round-trip doubles via
// std::to_chars, strings escaped, non-ASCII UTF-8 passed through).
#include "learner/io/json.h"

#include <charconv>
#include <cmath>
#include <system_error>
#include <unordered_set>

#include "base/error.h"

namespace tg {

namespace {

bool is_ws(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

std::string hex_byte(unsigned char c) {
  static const char hex[] = "0123456789abcdef";
  return {'0', 'x', hex[c >> 4], hex[c & 15]};
}

void append_utf8(std::string& out, uint32_t cp) {
  static const unsigned char lead[] = {0, 0, 0xC0, 0xE0, 0xF0};
  int n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  out += static_cast<char>(lead[n] | (cp >> (6 * (n - 1))));
  for (int i = n - 2; i >= 0; --i) out += static_cast<char>(0x80 | ((cp >> (6 * i)) & 0x3F));
}

// Pairs of (the letter after a backslash, the character it stands for).
constexpr std::string_view kEscapes = "\"\"\\\\//b\bf\fn\nr\rt\t";

// Length of the valid UTF-8 sequence starting at s[0] (lead byte >= 0x80), or 0 when invalid
// (bad lead, bad continuation, overlong, surrogate, or above U+10FFFF).
size_t utf8_length(std::string_view s) {
  auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  size_t n = b(0) >= 0xF0 ? 4 : b(0) >= 0xE0 ? 3 : b(0) >= 0xC2 ? 2 : 0;
  if (n == 0 || b(0) > 0xF4 || s.size() < n) return 0;
  for (size_t i = 1; i < n; ++i)
    if ((b(i) & 0xC0) != 0x80) return 0;
  if (n == 3 && ((b(0) == 0xE0 && b(1) < 0xA0) || (b(0) == 0xED && b(1) >= 0xA0))) return 0;
  if (n == 4 && ((b(0) == 0xF0 && b(1) < 0x90) || (b(0) == 0xF4 && b(1) >= 0x90))) return 0;
  return n;
}

}  // namespace

struct JsonParser {
  std::string_view s;
  int max_depth;
  size_t pos = 0;

  template <typename... Args>
  [[noreturn]] void fail(size_t at, const Args&... parts) const {
    TG_FAIL("Json.parse", "at byte ", at, ": ", parts...);
  }
  void skip_ws() {
    while (pos < s.size() && is_ws(s[pos])) ++pos;
  }
  std::string what_is_here() const {
    if (pos >= s.size()) return "the end of the input";
    char c = s[pos];
    if (c >= 0x20 && c < 0x7F) return std::string("'") + c + "'";
    return "byte " + hex_byte(static_cast<unsigned char>(c));
  }
  void expect(char c, const char* context) {
    skip_ws();
    if (pos >= s.size() || s[pos] != c)
      fail(pos, "expected '", c, "' ", context, ", found ", what_is_here());
    ++pos;
  }
  bool literal(std::string_view word) {
    if (s.substr(pos, word.size()) != word) return false;
    pos += word.size();
    return true;
  }

  Json value(int depth) {
    skip_ws();
    if (pos >= s.size()) fail(pos, "expected a value, found the end of the input");
    char c = s[pos];
    if (c == '{' || c == '[') {
      if (depth >= max_depth) fail(pos, "nesting deeper than ", max_depth, " levels");
      return container(c, depth + 1);
    }
    if (c == '"') return Json(string());
    if (c == '-' || is_digit(c)) return number();
    if (literal("true")) return Json(true);
    if (literal("false")) return Json(false);
    if (literal("null")) return Json();
    fail(pos, "expected a value, found ", what_is_here());
  }

  bool eat(char c) {
    skip_ws();
    return pos < s.size() && s[pos] == c ? (++pos, true) : false;
  }

  Json container(char open, int depth) {
    const bool obj = open == '{';
    const char close = obj ? '}' : ']';
    Json out = obj ? Json::object() : Json::array();
    std::unordered_set<std::string> seen;  // a linear contains() would be quadratic
    ++pos;
    if (eat(close)) return out;
    do {
      if (!obj) {
        out.arr_.push_back(value(depth));
        continue;
      }
      skip_ws();
      size_t key_at = pos;
      if (pos >= s.size() || s[pos] != '"')
        fail(pos, "expected a string key, found ", what_is_here());
      std::string key = string();
      if (!seen.insert(key).second) fail(key_at, "duplicate key \"", key, "\"");
      expect(':', "after an object key");
      out.obj_.emplace_back(std::move(key), value(depth));
    } while (eat(','));
    expect(close, obj ? "or ',' in an object" : "or ',' in an array");
    return out;
  }

  uint32_t hex4() {
    if (s.size() - pos < 4) fail(pos, "incomplete \\u escape");
    uint32_t v = 0;
    auto [end, ec] = std::from_chars(s.data() + pos, s.data() + pos + 4, v, 16);
    if (ec != std::errc() || end != s.data() + pos + 4) fail(pos, "bad hex digits in \\u escape");
    pos += 4;
    return v;
  }

  std::string string() {
    size_t start = pos++;  // '"'
    std::string out;
    for (;;) {
      if (pos >= s.size()) fail(start, "unterminated string");
      unsigned char c = static_cast<unsigned char>(s[pos]);
      if (c == '"') return ++pos, out;
      if (c < 0x20) fail(pos, "raw control character ", hex_byte(c), " in a string");
      if (c >= 0x80) {
        size_t n = utf8_length(s.substr(pos));
        if (n == 0) fail(pos, "invalid UTF-8 in a string");
        out.append(s.substr(pos, n));
        pos += n;
        continue;
      }
      ++pos;
      if (c != '\\') {
        out += static_cast<char>(c);
        continue;
      }
      if (pos >= s.size()) fail(start, "unterminated string");
      size_t esc_at = pos - 1;
      char e = s[pos++];
      if (e == 'u') {
        uint32_t cp = hex4();
        if (cp >= 0xDC00 && cp <= 0xDFFF) fail(esc_at, "lone low surrogate in \\u escape");
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          if (!literal("\\u")) fail(esc_at, "high surrogate not followed by a \\u low surrogate");
          uint32_t lo = hex4();
          if (lo < 0xDC00 || lo > 0xDFFF) fail(esc_at, "high surrogate not followed by a low one");
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        append_utf8(out, cp);
        continue;
      }
      size_t k = 0;
      while (k < kEscapes.size() && kEscapes[k] != e) k += 2;
      if (k >= kEscapes.size()) fail(esc_at, "bad escape '\\", e, "' in a string");
      out += kEscapes[k + 1];
    }
  }

  // RFC 8259 grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  Json number() {
    size_t start = pos;
    auto digits = [&] {
      size_t from = pos;
      while (pos < s.size() && is_digit(s[pos])) ++pos;
      if (pos == from) fail(pos, "expected a digit in a number, found ", what_is_here());
    };
    if (s[pos] == '-') ++pos;
    if (pos < s.size() && s[pos] == '0') {
      ++pos;
      if (pos < s.size() && is_digit(s[pos])) fail(start, "leading zeros are not allowed");
    } else {
      digits();
    }
    bool integral = true;
    if (pos < s.size() && s[pos] == '.') ++pos, digits(), integral = false;
    if (pos < s.size() && (s[pos] == 'e' || s[pos] == 'E')) {
      ++pos, integral = false;
      if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) ++pos;
      digits();
    }
    const char* b = s.data() + start;
    const char* e = s.data() + pos;
    int64_t i = 0;
    if (integral && std::from_chars(b, e, i).ec == std::errc()) return Json(i);
    double d = 0;
    if (std::from_chars(b, e, d).ec != std::errc())
      fail(start, "number ", std::string(b, e), " is out of the range of a double");
    return Json(d);
  }
};

Json::Json(Object o) : type_(Type::object) {
  for (auto& [k, v] : o) {
    TG_CHECK(!contains(k), "Json", "duplicate key \"", k, "\"");
    obj_.emplace_back(std::move(k), std::move(v));
  }
}

Json Json::parse(std::string_view text, int max_depth) {
  JsonParser p{text, max_depth};
  Json v = p.value(0);
  p.skip_ws();
  if (p.pos != text.size()) p.fail(p.pos, "unexpected ", p.what_is_here(), " after the value");
  return v;
}

const char* Json::type_name(Type t) {
  static const char* names[] = {"null", "boolean", "number", "string", "array", "object"};
  return names[static_cast<int>(t)];
}

void Json::check(Type want) const {
  TG_CHECK(type_ == want, "Json", "expected ", type_name(want), ", got ", type_name(type_));
}

int64_t Json::as_int() const {
  check(Type::number);
  if (is_int_) return int_;
  // 2^63 is exactly representable; anything in [-2^63, 2^63) converts without overflow.
  TG_CHECK(
      std::floor(num_) == num_ && num_ >= -9223372036854775808.0 && num_ < 9223372036854775808.0,
      "Json", "expected an integer, got ", dump());
  return static_cast<int64_t>(num_);
}

bool Json::contains(std::string_view key) const {
  for (const auto& [k, v] : as_object())
    if (k == key) return true;
  return false;
}
const Json& Json::at(std::string_view key) const {
  for (const auto& [k, v] : as_object())
    if (k == key) return v;
  TG_FAIL("Json", "no key \"", key, "\" in the object");
}
const Json& Json::at(size_t i) const {
  TG_CHECK(i < as_array().size(), "Json", "index ", i, " is out of range for an array of ",
           arr_.size());
  return arr_[i];
}
size_t Json::size() const {
  TG_CHECK(is_array() || is_object(), "Json", "size() needs an array or object, got ",
           type_name(type_));
  return is_array() ? arr_.size() : obj_.size();
}

Json& Json::set(std::string key, Json value) {
  for (auto& [k, v] : as_object())
    if (k == key) return v = std::move(value), *this;
  obj_.emplace_back(std::move(key), std::move(value));
  return *this;
}

// Fields that a type does not use keep their defaults, so comparing all of them is exact.
bool Json::operator==(const Json& o) const {
  bool same_num = is_int_ && o.is_int_ ? int_ == o.int_ : num_ == o.num_;
  return type_ == o.type_ && bool_ == o.bool_ && same_num && str_ == o.str_ && arr_ == o.arr_ &&
         obj_ == o.obj_;
}

namespace {

void dump_string(std::string& out, const std::string& s) {
  out += '"';
  for (char c : s) {
    size_t k = 1;  // '/' (at 5) is left as it is
    while (k < kEscapes.size() && (kEscapes[k] != c || k == 5)) k += 2;
    if (k < kEscapes.size())
      out += {'\\', kEscapes[k - 1]};
    else if (static_cast<unsigned char>(c) < 0x20)
      out += "\\u00" + hex_byte(static_cast<unsigned char>(c)).substr(2);
    else
      out += c;
  }
  out += '"';
}

void newline(std::string& out, int indent, int depth) {
  if (indent < 0) return;
  out += '\n';
  out.append(static_cast<size_t>(indent) * depth, ' ');
}

}  // namespace

void Json::dump_to(std::string& out, int indent, int depth) const {
  if (is_null() || is_bool()) {
    out += is_null() ? "null" : bool_ ? "true" : "false";
  } else if (is_string()) {
    dump_string(out, str_);
  } else if (is_number()) {
    TG_CHECK(std::isfinite(num_), "Json.dump", "cannot write ", num_, ": JSON has no NaN/inf");
    char buf[32];
    auto r = is_int_ ? std::to_chars(buf, buf + sizeof buf, int_)
                     : std::to_chars(buf, buf + sizeof buf, num_);
    out.append(buf, r.ptr);
    // A double keeps a fraction (3.0, -0.0), so it reads back as a double, as in Python.
    if (!is_int_ && std::string_view(buf, r.ptr).find_first_of(".e") == std::string_view::npos)
      out += ".0";
  } else {
    bool is_arr = is_array();
    size_t n = is_arr ? arr_.size() : obj_.size();
    out += is_arr ? '[' : '{';
    for (size_t i = 0; i < n; ++i) {
      if (i) out += ',';
      newline(out, indent, depth + 1);
      if (!is_arr) {
        dump_string(out, obj_[i].first);
        out += indent < 0 ? ":" : ": ";
      }
      (is_arr ? arr_[i] : obj_[i].second).dump_to(out, indent, depth + 1);
    }
    if (n) newline(out, indent, depth);
    out += is_arr ? ']' : '}';
  }
}

std::string Json::dump(int indent) const {
  std::string out;
  dump_to(out, indent, 0);
  return out;
}

}  // namespace tg
