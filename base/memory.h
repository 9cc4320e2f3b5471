// The memory this machine can still give a process, for refusing a run before it allocates
// what cannot fit (nn::mlp, the trainer).
//
//   tg::MemoryAvailable m = tg::available_memory();      // m.bytes, m.source
//   if (needed > m.bytes) ... "needs " + tg::bytes(needed) + ", " + tg::bytes(m.bytes) + "
//   available"
//
// Linux: MemAvailable of /proc/meminfo (the kernel's own estimate of what can be allocated
// without swapping, page cache it can drop included), lowered to the cgroup's limit when one is
// set (cgroup v2 memory.max, v1 memory/memory.limit_in_bytes) and to what an address-space
// limit (ulimit -v, RLIMIT_AS) leaves beyond the process's VmSize. When /proc/meminfo is
// unreadable: the physical memory (sysconf), else "unknown" (bytes = INT64_MAX, nothing refused).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tg {

struct MemoryAvailable {
  int64_t bytes = INT64_MAX;       // INT64_MAX when unknown
  std::string source = "unknown";  // "MemAvailable", "cgroup memory.max", "ulimit -v", ...
  bool known() const { return bytes != INT64_MAX; }
};

// The bytes a process can use in all, when it already holds `held` bytes (a loaded data set):
// min(MemAvailable + held, the cgroup limit, RLIMIT_AS - VmSize + held). MemAvailable and the
// address space left count only what is still free; a cgroup limit covers what the process
// holds too.
MemoryAvailable available_memory(int64_t held = 0);

// The parsers behind it, on the files' text (for tests).
// /proc/meminfo: MemAvailable in bytes; kernels before 3.14 lack it, then MemFree + Buffers +
// Cached. nullopt when neither is there or a number is malformed.
std::optional<int64_t> parse_meminfo_available(std::string_view meminfo);
// cgroup memory.max ("max" or a byte count) or v1 limit_in_bytes: nullopt for "max", for
// malformed text, and for v1's "unlimited" (a value of 2^62 or more).
std::optional<int64_t> parse_cgroup_limit(std::string_view text);

}  // namespace tg
