// Vocabulary shared by scoring/: the clock every time argument is read from (callers pass `now`, so
// tests drive a fake clock), and the backend limit that lets the per-statement path use fixed storage.
#pragma once

#include <bitset>
#include <chrono>
#include <cstddef>

namespace sluice::scoring {

using clock_type = std::chrono::steady_clock;
using time_point = clock_type::time_point;

// Most backends one scorer handles. choose() keeps its scratch in arrays of this size, so it never
// allocates; the config loader should refuse more backends than this.
inline constexpr std::size_t max_backends = 64;

// A set of backend indexes (bit i = backend i).
using backend_set = std::bitset<max_backends>;

}  // namespace sluice::scoring
