// num, fixed, sig, plural and bytes (format.h).
#include "base/format.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace tg {

namespace {

// The spellings shared by the three: a finite value is formatted by the caller.
bool special(double v, std::string& out) {
  if (std::isnan(v)) return out = "nan", true;
  if (std::isinf(v)) return out = v > 0 ? "inf" : "-inf", true;
  return false;
}

std::string printf_double(const char* f, int digits, double v) {
  char buf[512];  // %.*f of 1e308 is 309 digits before the point
  const int n = std::snprintf(buf, sizeof buf, f, digits, v);
  return std::string(
      buf, n > 0 && static_cast<size_t>(n) < sizeof buf ? static_cast<size_t>(n) : sizeof buf - 1);
}

}  // namespace

std::string num(double v) {
  std::string s;
  if (special(v, s)) return s;
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string fixed(double v, int digits) {
  std::string s;
  if (special(v, s)) return s;
  return printf_double("%.*f", digits < 0 ? 0 : digits > 40 ? 40 : digits, v);
}

std::string sig(double v, int digits) {
  std::string s;
  if (special(v, s)) return s;
  return printf_double("%.*g", digits < 1 ? 1 : digits > 40 ? 40 : digits, v);
}

std::string plural(long long n, const std::string& noun) {
  if (n == 1) return "1 " + noun;
  auto ends = [&](const char* e) { return noun.ends_with(e); };
  // batch -> batches, but epoch -> epochs: "tch" is always /tʃ/, a bare "ch" often /k/.
  const bool es = ends("s") || ends("x") || ends("z") || ends("tch") || ends("sh");
  return std::to_string(n) + " " + noun + (es ? "es" : "s");
}

std::string bytes(int64_t n) {
  // The magnitude as unsigned, so that INT64_MIN has one.
  const uint64_t m = n < 0 ? 0 - static_cast<uint64_t>(n) : static_cast<uint64_t>(n);
  const std::string sign = n < 0 ? "-" : "";
  if (m < 1024) return sign + std::to_string(m) + " B";
  static const char* const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int u = 0;
  double v = static_cast<double>(m) / 1024;
  // Rounded to one decimal, 1023.96 KiB would print as "1024.0 KiB": move up a unit then.
  while (u + 1 < 6 && v >= 1023.95) v /= 1024, ++u;
  return sign + fixed(v, 1) + " " + units[u];
}

}  // namespace tg
