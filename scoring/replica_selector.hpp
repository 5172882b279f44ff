// Chooses which backend serves a read. Pure logic over a snapshot of backend states; the router asks
// it once per routed read. This policy is round-robin over replicas that accept connections;
// the health-scoring issue replaces the policy behind the same interface.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace sluice::scoring {

// What the selector may know about one backend at the moment of choice.
struct backend_state {
  bool is_replica = false;  // serves reads only
  bool available = true;    // accepts connections (not marked down after a failed connect)
};

class replica_selector {
 public:
  // Index of the backend that should serve the next read, or nullopt when no replica qualifies
  // (the caller then falls back to the primary). `exclude` skips one index (a retry after failure).
  std::optional<std::size_t> choose(std::span<const backend_state> backends,
                                    std::optional<std::size_t> exclude = std::nullopt) noexcept;

 private:
  std::size_t next_ = 0;  // round-robin cursor
};

}  // namespace sluice::scoring
