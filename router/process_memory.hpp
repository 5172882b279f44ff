// The process's memory as the system sees it (resident set, for GET /status and /metrics), and giving
// freed memory back after a connection storm: glibc keeps freed per-connection buffers in its arenas,
// so RSS would otherwise stay at its high-water mark.
#pragma once

#include <cstdint>
#include <optional>

namespace sluice::router {

// Resident set size in bytes, from /proc/self/statm; nullopt where that cannot be read.
std::optional<std::uint64_t> resident_memory_bytes();

// Returns free memory of every malloc arena to the system (glibc malloc_trim(0)). Takes each arena's
// lock in turn: call it rarely, from a timer, never per message.
void release_free_memory();

// When to release: after the client count has fallen from its high-water mark since the last
// release by at least min_drop clients and by half. Pure; fed once a second by one worker.
class trim_policy {
 public:
  static constexpr std::uint64_t min_drop = 1000;

  // The client count now; true when memory should be released now.
  bool observe(std::uint64_t clients) noexcept {
    if (clients > high_water_) high_water_ = clients;
    if (high_water_ - clients < min_drop || clients > high_water_ / 2) return false;
    high_water_ = clients;  // released: the next release needs a new storm
    return true;
  }

  [[nodiscard]] std::uint64_t high_water() const noexcept { return high_water_; }

 private:
  std::uint64_t high_water_ = 0;
};

}  // namespace sluice::router
