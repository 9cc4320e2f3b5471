// Generator: a small, fast, seeded random number generator (xoshiro256** seeded through
// splitmix64), so every run with the same seed gives the same numbers on every machine —
// unlike std::normal_distribution, whose output differs between standard libraries.
#pragma once

#include <cstdint>

namespace tg {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0x5eed);
  void seed(uint64_t s);
  uint64_t next_u64();
  double uniform();            // [0, 1), 53 random bits
  double normal();             // standard normal (Box-Muller, caches the pair)
  int64_t randint(int64_t n);  // [0, n), unbiased
  uint64_t initial_seed() const { return seed_; }

 private:
  uint64_t s_[4];
  uint64_t seed_;
  bool have_spare_ = false;
  double spare_ = 0;
};

// The process-wide default generator (used when a function is given none) and its seed.
Generator& default_generator();
void manual_seed(uint64_t seed);

}  // namespace tg
