// xoshiro256** and splitmix64 (see xoshiro256_source.hpp); reference: https://prng.di.unimi.it/
#include "scoring/xoshiro256_source.hpp"

namespace sluice::scoring {

namespace {

constexpr std::uint64_t rotate_left(std::uint64_t value, int shift) noexcept {
  return (value << shift) | (value >> (64 - shift));
}

}  // namespace

std::uint64_t splitmix64(std::uint64_t& state) noexcept {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

xoshiro256_source::xoshiro256_source(std::uint64_t seed) noexcept {
  for (auto& word : state_) word = splitmix64(seed);
}

std::uint64_t xoshiro256_source::next() noexcept {
  const std::uint64_t result = rotate_left(state_[1] * 5, 7) * 9;
  const std::uint64_t shifted = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= shifted;
  state_[3] = rotate_left(state_[3], 45);
  return result;
}

}  // namespace sluice::scoring
