// Generator: xoshiro256** (Blackman and Vigna), its 256-bit state filled from the seed by
// splitmix64 as its authors recommend. Everything here is plain integer arithmetic, so the
// same seed gives the same stream on every compiler and machine.
#include "tensor/random.h"

#include <cmath>
#include <numbers>

#include "base/error.h"

namespace tg {

namespace {

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

inline uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

}  // namespace

Generator::Generator(uint64_t seed) {
  this->seed(seed);
}

void Generator::seed(uint64_t s) {
  seed_ = s;
  uint64_t x = s;
  for (uint64_t& w : s_) w = splitmix64(x);
  have_spare_ = false;
  spare_ = 0;
}

uint64_t Generator::next_u64() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

// The top 53 bits, scaled by 2^-53: every double in [0, 1) on that grid equally likely.
double Generator::uniform() {
  return static_cast<double>(next_u64() >> 11) * 0x1.0p-53;
}

// Box-Muller: two uniforms give two independent normals; the second is kept for the next call.
double Generator::normal() {
  if (have_spare_) {
    have_spare_ = false;
    return spare_;
  }
  const double u1 = 1.0 - uniform();  // (0, 1]: log(u1) is finite
  const double u2 = uniform();
  const double r = std::sqrt(-2.0 * std::log(u1));
  const double theta = 2.0 * std::numbers::pi * u2;
  spare_ = r * std::sin(theta);
  have_spare_ = true;
  return r * std::cos(theta);
}

// Rejection: draws below 2^64 mod n are refused, so the accepted range is a whole number of
// copies of [0, n) and x % n is exactly uniform (a plain x % n would favour small values).
int64_t Generator::randint(int64_t n) {
  TG_CHECK(n > 0, "Generator::randint", "the range [0, ", n, ") is empty");
  const uint64_t un = static_cast<uint64_t>(n);
  const uint64_t threshold = (0 - un) % un;  // 2^64 mod n
  for (;;) {
    const uint64_t x = next_u64();
    if (x >= threshold) return static_cast<int64_t>(x % un);
  }
}

Generator& default_generator() {
  static Generator gen;
  return gen;
}

void manual_seed(uint64_t seed) {
  default_generator().seed(seed);
}

}  // namespace tg
