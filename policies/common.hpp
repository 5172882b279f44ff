// Vocabulary shared by policies/: the clock every time argument is read from (callers pass `now`, so
// tests drive a fake clock) and the duration type database time is measured in.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace sluice::policies {

using clock_type = std::chrono::steady_clock;
using time_point = clock_type::time_point;
using nanoseconds = std::chrono::nanoseconds;

}  // namespace sluice::policies
