// Production random_source: xoshiro256** (Blackman and Vigna, "Scrambled linear pseudorandom number
// generators", 2018), seeded through splitmix64 as its authors recommend. Fast, small, std only.
#pragma once

#include <array>
#include <cstdint>

#include "scoring/random_source.hpp"

namespace sluice::scoring {

class xoshiro256_source final : public random_source {
 public:
  // Any seed is fine, including 0; the caller picks one (e.g. from std::random_device per worker).
  explicit xoshiro256_source(std::uint64_t seed) noexcept;
  std::uint64_t next() noexcept override;

 private:
  std::array<std::uint64_t, 4> state_{};
};

// splitmix64 step (Steele, Lea, Flood, "Fast splittable pseudorandom number generators", 2014):
// advances `state` and returns the next value. Used for seeding.
std::uint64_t splitmix64(std::uint64_t& state) noexcept;

}  // namespace sluice::scoring
