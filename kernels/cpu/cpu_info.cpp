// kernels/cpu_info.h: the cache sizes from sysfs, or sysconf where sysfs says nothing.
#include "kernels/cpu_info.h"

#include <unistd.h>

#include <cctype>
#include <fstream>
#include <string>

namespace tg::kernels {

namespace {

std::string read_line(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  if (f) std::getline(f, line);
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
  return line;
}

int64_t sysconf_bytes(int name) {
  const long v = ::sysconf(name);
  return v > 0 ? int64_t(v) : 0;
}

CpuCaches read_caches() {
  CpuCaches c;
  const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index";
  for (int i = 0; i < 16; ++i) {
    const std::string base = dir + std::to_string(i) + "/";
    const std::string level = read_line(base + "level"), type = read_line(base + "type");
    if (level.empty()) break;
    const int64_t size = parse_cache_size(read_line(base + "size"));
    const int shared = count_cpu_list(read_line(base + "shared_cpu_list"));
    if (size <= 0) continue;
    if (level == "1" && type == "Data") {
      c.l1d = size;
    } else if (level == "2" && type != "Instruction") {
      c.l2 = size;
      c.l2_shared_by = shared > 0 ? shared : 1;
    } else if (level == "3" && type != "Instruction") {
      c.l3 = size;
      c.l3_shared_by = shared > 0 ? shared : 1;
    }
  }
#ifdef _SC_LEVEL1_DCACHE_SIZE
  if (c.l1d == 0) c.l1d = sysconf_bytes(_SC_LEVEL1_DCACHE_SIZE);
  if (c.l2 == 0) c.l2 = sysconf_bytes(_SC_LEVEL2_CACHE_SIZE);
  if (c.l3 == 0) {
    // sysconf does not say how many CPUs share the L3: assume all of them do.
    c.l3 = sysconf_bytes(_SC_LEVEL3_CACHE_SIZE);
    const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
    if (c.l3 > 0 && cpus > 0) c.l3_shared_by = int(cpus);
  }
#endif
  return c;
}

std::string bytes_str(int64_t b) {
  if (b >= (int64_t(1) << 20) && b % (int64_t(1) << 20) == 0)
    return std::to_string(b >> 20) + " MiB";
  if (b >= 1024 && b % 1024 == 0) return std::to_string(b >> 10) + " KiB";
  return std::to_string(b) + " B";
}

}  // namespace

int count_cpu_list(const std::string& list) {
  if (list.empty()) return 0;
  int count = 0;
  size_t pos = 0;
  while (pos <= list.size()) {
    const size_t comma = list.find(',', pos);
    const std::string item =
        list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    const size_t dash = item.find('-');
    try {
      size_t used = 0;
      if (dash == std::string::npos) {
        std::stoi(item, &used);
        if (used != item.size()) return 0;
        ++count;
      } else {
        const std::string lo_s = item.substr(0, dash), hi_s = item.substr(dash + 1);
        const int lo = std::stoi(lo_s, &used);
        if (used != lo_s.size()) return 0;
        const int hi = std::stoi(hi_s, &used);
        if (used != hi_s.size() || hi < lo) return 0;
        count += hi - lo + 1;
      }
    } catch (const std::exception&) {
      return 0;
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return count;
}

int64_t parse_cache_size(const std::string& text) {
  if (text.empty() || !std::isdigit(static_cast<unsigned char>(text[0]))) return 0;
  size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    return 0;
  }
  const std::string unit = text.substr(used);
  if (unit.empty()) return v;
  if (unit == "K") return v * 1024;
  if (unit == "M") return v * 1024 * 1024;
  if (unit == "G") return v * 1024 * 1024 * 1024;
  return 0;
}

const CpuCaches& cpu_caches() {
  static const CpuCaches c = read_caches();
  return c;
}

std::string cpu_caches_str(const CpuCaches& c) {
  const auto cpus = [](int n) { return std::to_string(n) + (n == 1 ? " CPU" : " CPUs"); };
  std::string s = "L1d " + (c.l1d > 0 ? bytes_str(c.l1d) : std::string("?"));
  s += ", L2 " + (c.l2 > 0 ? bytes_str(c.l2) + " (" + cpus(c.l2_shared_by) + ")" : "?");
  s += ", L3 " + (c.l3 > 0 ? bytes_str(c.l3) + " (" + cpus(c.l3_shared_by) + ")" : "?");
  return s;
}

}  // namespace tg::kernels
