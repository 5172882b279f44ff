// Primary election from probes (see topology.hpp).
#include "scoring/topology.hpp"

#include <algorithm>

namespace sluice::scoring {

const char* to_string(topology_state state) noexcept {
  switch (state) {
    case topology_state::unknown: return "unknown";
    case topology_state::single_primary: return "single_primary";
    case topology_state::no_primary: return "no_primary";
    case topology_state::split_brain: return "split_brain";
  }
  return "?";
}

topology_view decide_topology(std::span<const std::optional<probe_result>> probes, time_point now,
                              std::chrono::nanoseconds staleness) noexcept {
  topology_view view;
  const std::size_t count = std::min(probes.size(), max_backends);
  for (std::size_t index = 0; index < count; ++index) {
    const auto& probe = probes[index];
    if (!probe || !is_fresh(*probe, now, staleness)) continue;
    ++view.fresh;
    if (probe->reachable && !probe->in_recovery) view.claimants.set(index);
  }
  const std::size_t claims = view.claimants.count();
  if (view.fresh == 0) {
    view.state = topology_state::unknown;
  } else if (claims == 0) {
    view.state = topology_state::no_primary;
  } else if (claims == 1) {
    view.state = topology_state::single_primary;
    for (std::size_t index = 0; index < count; ++index) {
      if (view.claimants.test(index)) view.primary = index;
    }
  } else {
    view.state = topology_state::split_brain;
  }
  return view;
}

}  // namespace sluice::scoring
