// The strict JSON reader (a SAX handler over nlohmann's parser that builds the value itself, so
// it sees every key and every level), the checked writer and the typed readers of base/json.h.
#include "base/json.h"

#include <cmath>
#include <cstddef>
#include <iterator>
#include <vector>

#include "base/error.h"

namespace tg {

namespace {

using nlohmann::json;

// A pointer into the text that records how far nlohmann's lexer has read, so the errors found
// by the handler (a duplicate key, too deep) get a byte offset like nlohmann's own errors.
struct CountingIter {
  using iterator_category = std::forward_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;
  const char* p = nullptr;
  const char** read_to = nullptr;
  reference operator*() const { return *p; }
  CountingIter& operator++() {
    *read_to = ++p;
    return *this;
  }
  CountingIter operator++(int) {
    CountingIter old = *this;
    ++*this;
    return old;
  }
  bool operator==(const CountingIter& o) const { return p == o.p; }
};

// Builds the value as nlohmann's own DOM parser would, plus the two checks it lacks. A handler
// method returning false stops the parse; the reason is kept in error/at.
class StrictBuilder {
 public:
  StrictBuilder(const char* begin, const char* const* read_to, int max_depth)
      : begin_(begin), read_to_(read_to), max_depth_(max_depth) {}

  bool null() { return put(nullptr) != nullptr; }
  bool boolean(bool v) { return put(v) != nullptr; }
  bool number_integer(json::number_integer_t v) { return put(v) != nullptr; }
  bool number_unsigned(json::number_unsigned_t v) { return put(v) != nullptr; }
  bool number_float(json::number_float_t v, const std::string&) { return put(v) != nullptr; }
  bool string(std::string& v) { return put(std::move(v)) != nullptr; }
  bool binary(json::binary_t&) { return fail("binary values are not JSON"); }
  bool start_object(std::size_t) { return open(json::object()); }
  bool start_array(std::size_t) { return open(json::array()); }
  bool end_object() { return stack_.pop_back(), true; }
  bool end_array() { return stack_.pop_back(), true; }
  bool key(std::string& k) {
    if (stack_.back()->contains(k)) return fail("duplicate key \"" + k + "\"");
    key_ = std::move(k);
    return true;
  }
  bool parse_error(std::size_t position, const std::string&, const json::exception& ex) {
    error = ex.what();
    // "[json.exception.parse_error.101] parse error at line 1, column 2: syntax error ..."
    if (auto cut = error.find("] "); cut != std::string::npos) error.erase(0, cut + 2);
    if (error.starts_with("parse error at ")) error.erase(0, 15);
    at = position;
    return false;
  }

  json root;
  std::string error;
  std::size_t at = 0;

 private:
  bool fail(std::string why) {
    error = std::move(why);
    at = static_cast<std::size_t>(*read_to_ - begin_);
    return false;
  }
  // Places v where the parse is: the root, the next array element or the pending key's value.
  json* put(json v) {
    if (stack_.empty()) return &(root = std::move(v));
    json& top = *stack_.back();
    if (top.is_array()) {
      top.get_ref<json::array_t&>().push_back(std::move(v));
      return &top.get_ref<json::array_t&>().back();
    }
    return &(top.get_ref<json::object_t&>()[std::move(key_)] = std::move(v));
  }
  // An array element's address stays valid while it is open: its parent grows only after it
  // has closed.
  bool open(json v) {
    if (static_cast<int>(stack_.size()) >= max_depth_)
      return fail("nesting deeper than " + std::to_string(max_depth_) + " levels");
    stack_.push_back(put(std::move(v)));
    return true;
  }

  const char* begin_;
  const char* const* read_to_;
  int max_depth_;
  std::vector<json*> stack_;
  std::string key_;
};

// A value as it appears in a message: compact and at most about 60 bytes.
std::string shown(const json& j) {
  std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

// Whether j holds a NaN or an infinity; if so, where is set to its JSON pointer
// ("/history/loss/2"; "" for j itself).
template <typename J>
bool find_non_finite(const J& j, std::string& where) {
  if (j.is_number_float()) return !std::isfinite(j.template get<double>());
  if (j.is_array()) {
    for (std::size_t i = 0; i < j.size(); ++i)
      if (find_non_finite(j[i], where)) {
        where = "/" + std::to_string(i) + where;
        return true;
      }
  } else if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it)
      if (find_non_finite(it.value(), where)) {
        where = "/" + it.key() + where;
        return true;
      }
  }
  return false;
}

template <typename J>
std::string dump_checked(const J& j, std::string_view what, int indent) {
  const std::string op(what);
  std::string where;
  if (find_non_finite(j, where))
    TG_FAIL(op.c_str(), "the value at ", where.empty() ? "/" : where,
            " is not finite; JSON has no spelling for NaN or infinity");
  try {
    return j.dump(indent);
  } catch (const nlohmann::json::exception& e) {  // invalid UTF-8 in a string
    TG_FAIL(op.c_str(), "cannot write JSON: ", e.what());
  }
}

}  // namespace

nlohmann::json parse_json(std::string_view text, std::string_view what, int max_depth) {
  const std::string op(what);
  TG_CHECK(max_depth >= 1, op.c_str(), "max_depth must be at least 1, got ", max_depth);
  // nlohmann stops at a NUL byte as if the text ended there ("[1]\0x" reads as [1]) and skips
  // a UTF-8 byte order mark; neither is JSON, and a reader that sees a different text than
  // another reader is the hole strictness is for.
  if (auto nul = text.find('\0'); nul != std::string_view::npos)
    TG_FAIL(op.c_str(), "invalid JSON at byte ", nul, ": a NUL byte");
  TG_CHECK(!text.starts_with("\xef\xbb\xbf"), op.c_str(),
           "invalid JSON at byte 0: a byte order mark");
  const char* read_to = text.data();
  StrictBuilder b(text.data(), &read_to, max_depth);
  CountingIter first{text.data(), &read_to}, last{text.data() + text.size(), &read_to};
  bool ok = false;
  try {
    ok = json::sax_parse(first, last, &b);
  } catch (const std::exception& e) {  // nothing of nlohmann's escapes (bad_alloc included)
    TG_FAIL(op.c_str(), "invalid JSON: ", e.what());
  }
  if (!ok) TG_FAIL(op.c_str(), "invalid JSON at byte ", b.at > 0 ? b.at - 1 : 0, ": ", b.error);
  return std::move(b.root);
}

std::string dump_json(const nlohmann::json& j, std::string_view what, int indent) {
  return dump_checked(j, what, indent);
}
std::string dump_json(const nlohmann::ordered_json& j, std::string_view what, int indent) {
  return dump_checked(j, what, indent);
}

int64_t json_int64(const nlohmann::json& j, const char* op, std::string_view field) {
  if (j.is_number_integer() && !j.is_number_unsigned()) return j.get<int64_t>();
  if (j.is_number_unsigned() && j.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX))
    return static_cast<int64_t>(j.get<uint64_t>());
  TG_FAIL(op, field, " must be an integer that fits in int64 (no fraction or exponent), got ",
          shown(j));
}

uint64_t json_uint64(const nlohmann::json& j, const char* op, std::string_view field) {
  if (j.is_number_unsigned()) return j.get<uint64_t>();
  if (j.is_number_integer()) TG_FAIL(op, field, " must be a non-negative integer, got ", shown(j));
  TG_FAIL(op, field,
          " must be a non-negative integer that fits in uint64 (no fraction or exponent), got ",
          shown(j));
}

const std::string& json_string(const nlohmann::json& j, const char* op, std::string_view field) {
  TG_CHECK(j.is_string(), op, field, " must be a string, got ", shown(j));
  return j.get_ref<const std::string&>();
}

const nlohmann::json::array_t& json_array(const nlohmann::json& j, const char* op,
                                          std::string_view field) {
  TG_CHECK(j.is_array(), op, field, " must be an array, got ", shown(j));
  return j.get_ref<const nlohmann::json::array_t&>();
}

const nlohmann::json::object_t& json_object(const nlohmann::json& j, const char* op,
                                            std::string_view field) {
  TG_CHECK(j.is_object(), op, field, " must be an object, got ", shown(j));
  return j.get_ref<const nlohmann::json::object_t&>();
}

}  // namespace tg
