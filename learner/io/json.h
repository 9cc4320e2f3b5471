// Json: a small, strict JSON value with a reader and a writer, for safetensors headers and the
// trainer's --summary output. No dependency, one header, one source.
//
//   tg::Json j = tg::Json::parse(R"({"epochs": 3, "lr": 0.1, "tags": ["a", "b"]})");
//   int64_t n = j.at("epochs").as_int();           // 3; as_int() on 0.1 is a tg::Error
//   tg::Json out = tg::Json::object();
//   out.set("loss", 0.25).set("steps", 100).set("ok", true);
//   out.set("history", tg::Json::array().push(1.5).push(0.5));
//   std::string s = out.dump(2);                    // pretty; dump() is compact
//
// Strict means RFC 8259 and nothing more: no comments, no trailing commas, no NaN/Infinity, no
// leading zeros, no raw control characters in strings, valid UTF-8 only, and a duplicate key
// in an object is an error (JSON leaves it undefined; we refuse rather than guess). Every
// parse error is a tg::Error "Json.parse: at byte <offset>: <problem>".
//
// Objects keep their keys in insertion (or file) order, so a dump is stable and readable.
// Numbers are doubles; a number written without fraction or exponent that fits in int64 is also
// kept exactly as an int64 (as_int() returns it without loss, dump() writes it back verbatim).
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tg {

class Json {
 public:
  enum class Type { null, boolean, number, string, array, object };
  using Array = std::vector<Json>;
  using Object = std::vector<std::pair<std::string, Json>>;  // ordered, keys unique

  Json() = default;  // null
  Json(std::nullptr_t) {}
  Json(bool b) : type_(Type::boolean), bool_(b) {}
  Json(double d) : type_(Type::number), num_(d) {}
  template <std::integral T>
  requires(!std::same_as<T, bool>) Json(T i) : Json(int64_t_tag{}, static_cast<int64_t>(i)) {}
  Json(const char* s) : type_(Type::string), str_(s) {}
  Json(std::string s) : type_(Type::string), str_(std::move(s)) {}
  Json(std::string_view s) : type_(Type::string), str_(s) {}
  Json(Array a) : type_(Type::array), arr_(std::move(a)) {}
  Json(Object o);  // throws on duplicate keys

  static Json array() { return Json(Array{}); }
  static Json object() { return Json(Object{}); }

  // Reads exactly one value; surrounding whitespace is allowed, anything else is an error.
  static constexpr int kDefaultMaxDepth = 128;
  static Json parse(std::string_view text, int max_depth = kDefaultMaxDepth);
  // indent < 0: compact ({"a":1,"b":[1,2]}); indent >= 0: one item per line, indented by
  // that many spaces per level. NaN and infinities are refused (JSON has no spelling for them).
  std::string dump(int indent = -1) const;

  Type type() const { return type_; }
  static const char* type_name(Type t);  // "null", "boolean", ...
  bool is_null() const { return type_ == Type::null; }
  bool is_bool() const { return type_ == Type::boolean; }
  bool is_number() const { return type_ == Type::number; }
  bool is_int() const { return type_ == Type::number && is_int_; }  // exact int64 kept
  bool is_string() const { return type_ == Type::string; }
  bool is_array() const { return type_ == Type::array; }
  bool is_object() const { return type_ == Type::object; }

  // Accessors: a tg::Error naming the expected and the actual type on mismatch.
  bool as_bool() const { return check(Type::boolean), bool_; }
  double as_number() const { return check(Type::number), num_; }
  int64_t as_int() const;  // also accepts a double with an integral value in int64 range
  const std::string& as_string() const { return check(Type::string), str_; }
  const Array& as_array() const { return check(Type::array), arr_; }
  Array& as_array() { return check(Type::array), arr_; }
  const Object& as_object() const { return check(Type::object), obj_; }
  Object& as_object() { return check(Type::object), obj_; }

  // Object access: at() throws naming the key when absent.
  bool contains(std::string_view key) const;
  const Json& at(std::string_view key) const;
  Json& at(std::string_view key) { return const_cast<Json&>(std::as_const(*this).at(key)); }
  // Array access, bounds-checked.
  const Json& at(size_t i) const;
  size_t size() const;  // elements of an array or members of an object

  // Builders, chainable: set() replaces an existing key in place or appends; push() appends.
  Json& set(std::string key, Json value);
  Json& push(Json value) { return as_array().push_back(std::move(value)), *this; }

  bool operator==(const Json& other) const;  // objects compare in order

 private:
  struct int64_t_tag {};
  Json(int64_t_tag, int64_t i)
      : type_(Type::number), is_int_(true), num_(static_cast<double>(i)), int_(i) {}
  void check(Type want) const;
  void dump_to(std::string& out, int indent, int depth) const;
  friend struct JsonParser;

  Type type_ = Type::null;
  bool bool_ = false;
  bool is_int_ = false;
  double num_ = 0;
  int64_t int_ = 0;
  std::string str_;
  Array arr_;
  Object obj_;
};

}  // namespace tg
