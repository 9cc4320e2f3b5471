// base/memory.h: the available memory, parsed from given /proc/meminfo and cgroup texts.
#include <doctest/doctest.h>

#include <cstdint>

#include "base/memory.h"

namespace {

// A real /proc/meminfo's first lines (Linux 6.x).
constexpr const char* kMeminfo =
    "MemTotal:       24683568 kB\n"
    "MemFree:        22956936 kB\n"
    "MemAvailable:   23811684 kB\n"
    "Buffers:          123456 kB\n"
    "Cached:           654321 kB\n"
    "SwapCached:            0 kB\n";

}  // namespace

TEST_CASE("parse_meminfo_available: MemAvailable in bytes") {
  auto v = tg::parse_meminfo_available(kMeminfo);
  REQUIRE(v.has_value());
  CHECK(*v == int64_t{23811684} * 1024);
}

TEST_CASE("parse_meminfo_available: without MemAvailable, MemFree + Buffers + Cached") {
  auto v = tg::parse_meminfo_available(
      "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 20 kB\nCached: 3 kB\nSwapCached: 7 kB\n");
  REQUIRE(v.has_value());
  CHECK(*v == 123 * 1024);  // SwapCached is not Cached
}

TEST_CASE("parse_meminfo_available: missing or malformed fields give nothing") {
  CHECK_FALSE(tg::parse_meminfo_available("").has_value());
  CHECK_FALSE(tg::parse_meminfo_available("MemTotal: 1000 kB\n").has_value());
  CHECK_FALSE(tg::parse_meminfo_available("MemAvailable: lots kB\n").has_value());
  CHECK_FALSE(tg::parse_meminfo_available("MemAvailable: -5 kB\n").has_value());
  CHECK_FALSE(tg::parse_meminfo_available("MemAvailable: 99999999999999999999 kB\n").has_value());
  // A value near INT64_MAX in kB would overflow in bytes.
  CHECK_FALSE(tg::parse_meminfo_available("MemAvailable: 9007199254740993 kB\n").has_value());
  // A key that merely starts like MemAvailable is not it; no trailing newline is fine.
  CHECK_FALSE(tg::parse_meminfo_available("MemAvailableX: 5 kB\n").has_value());
  CHECK(tg::parse_meminfo_available("MemAvailable: 5 kB") == 5 * 1024);
}

TEST_CASE("parse_cgroup_limit: a byte count, or nothing for no limit") {
  CHECK(tg::parse_cgroup_limit("8589934592\n") == int64_t{8589934592});
  CHECK_FALSE(tg::parse_cgroup_limit("max\n").has_value());                  // cgroup v2
  CHECK_FALSE(tg::parse_cgroup_limit("9223372036854771712\n").has_value());  // v1 unlimited
  CHECK_FALSE(tg::parse_cgroup_limit("").has_value());
  CHECK_FALSE(tg::parse_cgroup_limit("12 GB").has_value());
}

TEST_CASE("available_memory: known on Linux, and what is held is added") {
  tg::MemoryAvailable m = tg::available_memory();
#ifdef __linux__
  CHECK(m.known());
  CHECK(m.bytes > 0);
  CHECK_FALSE(m.source.empty());
#endif
  // Held bytes raise MemAvailable's figure (a cgroup limit may cap it); never overflow.
  tg::MemoryAvailable all = tg::available_memory(INT64_MAX);
  CHECK(all.bytes >= 0);
}
