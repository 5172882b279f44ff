// Randomness for the scorer, injected so that tests are deterministic: a one-method interface and a
// helper for uniform doubles.
#pragma once

#include <cstdint>

namespace sluice::scoring {

// Source of uniformly distributed 64-bit values. Production uses xoshiro256_source; tests may script
// the values. Not thread-safe: one per worker, like the scorer.
class random_source {
 public:
  virtual ~random_source() = default;
  virtual std::uint64_t next() noexcept = 0;
};

// Uniform in [0, 1) from the top 53 bits (the usual construction; every value is a multiple of 2^-53).
inline double uniform01(random_source& rng) noexcept {
  return static_cast<double>(rng.next() >> 11) * 0x1.0p-53;
}

// Uniform in [0, bound), bound > 0. Modulo bias is below bound / 2^64: irrelevant for bound <= 64.
inline std::uint64_t uniform_below(random_source& rng, std::uint64_t bound) noexcept {
  return rng.next() % bound;
}

}  // namespace sluice::scoring
