// Core-to-core round trip: two threads, pinned to two CPUs, pass a counter back and forth
// through one cache line (each stores the next value, then spins until the other's answer).
// The figure is the time of one round trip, i.e. two cache-line transfers between the cores.
//
// Why the benchmarks print it: on a VM the host decides where the vCPUs run. On the project's
// Zen 4 VM the same two vCPUs measured about 56 ns on some minutes (one CCX, shared L3) and
// about 330 ns on others (different CCDs): every OpenMP barrier and every cache line two
// threads share then costs that much, and the course CNN's 2-thread epoch went from 1.3 s to
// 2.3 s with the FMA peak unchanged. A 2-thread figure is only comparable with another taken at
// the same round trip (docs/benchmarks.md).
#pragma once

#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <thread>

namespace tg::bench {

namespace detail {

// Pins the calling thread to one CPU; false if it may not run there.
inline bool pin_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0;
}

}  // namespace detail

// Nanoseconds per round trip between CPUs a and b (the calling thread's affinity is restored);
// NaN when this process may not run on both (fewer than two CPUs: spinning against a thread
// on the same core would measure the scheduler, not the caches).
inline double core_round_trip_ns(int cpu_a = 0, int cpu_b = 1, int rounds = 100000) {
  cpu_set_t saved;
  if (pthread_getaffinity_np(pthread_self(), sizeof(saved), &saved) != 0) return NAN;
  if (!CPU_ISSET(cpu_a, &saved) || !CPU_ISSET(cpu_b, &saved)) return NAN;
  alignas(64) std::atomic<int> turn{0};
  std::atomic<bool> ready{false}, failed{false};
  std::thread other([&] {
    failed.store(!detail::pin_to(cpu_b));
    ready.store(true);
    if (failed.load()) return;
    for (int i = 0; i < rounds; ++i) {
      while (turn.load(std::memory_order_acquire) != 2 * i + 1) {
      }
      turn.store(2 * i + 2, std::memory_order_release);
    }
  });
  while (!ready.load()) {
  }
  double ns = NAN;
  if (!failed.load()) {
    const bool pinned = detail::pin_to(cpu_a);
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < rounds; ++i) {  // (run even unpinned: the other thread waits for it)
      turn.store(2 * i + 1, std::memory_order_release);
      while (turn.load(std::memory_order_acquire) != 2 * i + 2) {
      }
    }
    const auto t1 = std::chrono::steady_clock::now();
    if (pinned) ns = std::chrono::duration<double, std::nano>(t1 - t0).count() / rounds;
  }
  other.join();
  pthread_setaffinity_np(pthread_self(), sizeof(saved), &saved);
  return ns;
}

// The figure as the benchmarks' context line shows it ("56 ns (CPUs 0 and 1)"). bench_gemm,
// bench_conv, bench_train and bench_libtorch print it at the start (benchmark context
// core_round_trip) and again on stderr at the end: the host may move the vCPUs during a run
// (bench_peak has it as a row instead).
inline std::string core_round_trip_text() {
  const double ns = core_round_trip_ns();
  if (std::isnan(ns)) return "not measured (this process may not run on CPUs 0 and 1)";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.0f ns (CPUs 0 and 1)", ns);
  return buf;
}

}  // namespace tg::bench
