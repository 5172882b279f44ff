// Who is the primary, decided from the probes alone: the backend that says it is not in recovery,
// whatever the config's role says. Pure; the router asks it which backend takes writes.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <span>

#include "scoring/common.hpp"
#include "scoring/probe_result.hpp"

namespace sluice::scoring {

enum class topology_state {
  unknown,         // no backend has a fresh probe (starting up, or the prober is stuck)
  single_primary,  // exactly one fresh, reachable backend is not in recovery: writes go there
  no_primary,      // none is: writes wait or fail (primary down, or failover in progress)
  split_brain,     // two or more claim to be primary: writes stop until an operator resolves it
};

const char* to_string(topology_state state) noexcept;

struct topology_view {
  topology_state state = topology_state::unknown;
  std::optional<std::size_t> primary;  // set only for single_primary
  backend_set claimants;               // backends that claim to be primary (fresh, reachable, not in
                                       // recovery); for split_brain, the ones to show the operator
  std::size_t fresh = 0;               // backends with a fresh probe
};

// `probes[i]` is backend i's latest probe, if any. A probe older than `staleness` at `now` says
// nothing (the backend's state is unknown, so its claim is not counted); an unreachable backend's
// claim is not counted either. Backends past max_backends are ignored.
topology_view decide_topology(std::span<const std::optional<probe_result>> probes, time_point now,
                              std::chrono::nanoseconds staleness) noexcept;

// True when `probe` is recent enough at `now` to be believed.
inline bool is_fresh(const probe_result& probe, time_point now,
                     std::chrono::nanoseconds staleness) noexcept {
  return now - probe.at <= staleness;
}

}  // namespace sluice::scoring
