// What the CPU kernels need to know about the processor they run on: its cache sizes, read at
// run time, so that blocking follows the machine rather than the one the code was tuned on.
//
//   tg::kernels::CpuCaches c = tg::kernels::cpu_caches();  // bytes; 0 where unknown
//
// Linux: /sys/devices/system/cpu/cpu0/cache/index*/ (level, type, size, shared_cpu_list),
// else sysconf(_SC_LEVEL*_CACHE_SIZE). Read once and cached.
#pragma once

#include <cstdint>
#include <string>

namespace tg::kernels {

struct CpuCaches {
  int64_t l1d = 0, l2 = 0, l3 = 0;  // bytes, per instance; 0: not reported
  int l2_shared_by = 1;             // logical CPUs sharing one L2
  int l3_shared_by = 1;             // logical CPUs sharing one L3
};

// The caches of CPU 0 (every core of the machines we know is alike).
const CpuCaches& cpu_caches();

// "L1d 32 KiB, L2 1 MiB (1 CPU), L3 32 MiB (2 CPUs)".
std::string cpu_caches_str(const CpuCaches& c);

// Parses a Linux CPU list ("0-3,8,10-11") into how many CPUs it names; 0 if malformed.
int count_cpu_list(const std::string& list);

// Parses a sysfs cache size ("32K", "1024K", "32M", "512"): bytes, 0 if malformed.
int64_t parse_cache_size(const std::string& text);

}  // namespace tg::kernels
