// available_memory and its parsers (memory.h).
#include "base/memory.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>
#include <utility>

namespace tg {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

std::optional<int64_t> to_int(std::string_view s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < 0) return std::nullopt;
  return v;
}

// "Key:   123 kB" -> bytes; nullopt when the key is absent or its value malformed.
std::optional<int64_t> meminfo_field(std::string_view text, std::string_view key) {
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(at, end - at);
    at = end + 1;
    if (line.size() <= key.size() || line.substr(0, key.size()) != key || line[key.size()] != ':')
      continue;
    std::string_view v = trim(line.substr(key.size() + 1));
    int64_t unit = 1;
    if (v.ends_with("kB")) {
      unit = 1024;
      v = trim(v.substr(0, v.size() - 2));
    }
    auto n = to_int(v);
    if (!n || *n > INT64_MAX / unit) return std::nullopt;
    return *n * unit;
  }
  return std::nullopt;
}

std::optional<std::string> read_text(const char* path) {
  std::ifstream f(path);
  if (!f) return std::nullopt;
  std::ostringstream os;
  os << f.rdbuf();
  if (f.bad()) return std::nullopt;
  return os.str();
}

int64_t saturating_add(int64_t a, int64_t b) {
  return a > INT64_MAX - b ? INT64_MAX : a + b;
}

}  // namespace

std::optional<int64_t> parse_meminfo_available(std::string_view meminfo) {
  if (auto v = meminfo_field(meminfo, "MemAvailable")) return v;
  auto free = meminfo_field(meminfo, "MemFree");
  auto buffers = meminfo_field(meminfo, "Buffers");
  auto cached = meminfo_field(meminfo, "Cached");
  if (!free || !buffers || !cached) return std::nullopt;
  return saturating_add(saturating_add(*free, *buffers), *cached);
}

std::optional<int64_t> parse_cgroup_limit(std::string_view text) {
  text = trim(text);
  if (text == "max") return std::nullopt;
  auto v = to_int(text);
  if (!v || *v >= (int64_t{1} << 62)) return std::nullopt;  // v1 writes ~2^63 for no limit
  return v;
}

MemoryAvailable available_memory(int64_t held) {
  held = std::max<int64_t>(held, 0);
  MemoryAvailable m;
  if (auto text = read_text("/proc/meminfo")) {
    if (auto v = parse_meminfo_available(*text)) {
      m.bytes = saturating_add(*v, held);
      m.source = "MemAvailable";
    }
  }
  if (!m.known()) {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0 && pages <= INT64_MAX / page) {
      m.bytes = static_cast<int64_t>(pages) * page;
      m.source = "physical memory";
    }
  }
  const std::pair<const char*, const char*> limits[] = {
      {"/sys/fs/cgroup/memory.max", "cgroup memory.max"},
      {"/sys/fs/cgroup/memory/memory.limit_in_bytes", "cgroup memory.limit_in_bytes"}};
  for (const auto& [path, name] : limits) {
    auto text = read_text(path);
    if (!text) continue;
    if (auto limit = parse_cgroup_limit(*text); limit && *limit < m.bytes) {
      m.bytes = *limit;
      m.source = name;
    }
  }
  // ulimit -v caps the address space: what is left of it, plus what is held (already mapped).
  rlimit as{};
  if (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY &&
      as.rlim_cur < static_cast<rlim_t>(INT64_MAX)) {
    auto status = read_text("/proc/self/status");
    auto mapped = status ? meminfo_field(*status, "VmSize") : std::nullopt;
    const int64_t left =
        std::max<int64_t>(static_cast<int64_t>(as.rlim_cur) - mapped.value_or(0), 0);
    if (const int64_t v = saturating_add(left, held); v < m.bytes) {
      m.bytes = v;
      m.source = "ulimit -v";
    }
  }
  return m;
}

}  // namespace tg
