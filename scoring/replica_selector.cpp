// Round-robin choice among available replicas (see replica_selector.hpp).
#include "scoring/replica_selector.hpp"

namespace sluice::scoring {

std::optional<std::size_t> replica_selector::choose(std::span<const backend_state> backends,
                                                    std::optional<std::size_t> exclude) noexcept {
  const std::size_t count = backends.size();
  for (std::size_t step = 0; step < count; ++step) {
    const std::size_t index = (next_ + step) % count;
    const auto& backend = backends[index];
    if (!backend.is_replica || !backend.available || (exclude && *exclude == index)) continue;
    next_ = index + 1;
    return index;
  }
  return std::nullopt;
}

}  // namespace sluice::scoring
