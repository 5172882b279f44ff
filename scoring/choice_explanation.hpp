// Why a read went where it did: every backend's state, exclusion reason and cost, the two sampled
// candidates and the winner. Filled by replica_scorer::choose() on request (and by explain() for the
// admin interface); to_string() renders it for debug logs.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "scoring/common.hpp"
#include "scoring/exclusion_reason.hpp"
#include "scoring/lag.hpp"
#include "scoring/outlier_state.hpp"
#include "scoring/topology.hpp"

namespace sluice::scoring {

struct backend_explanation {
  exclusion_reason reason = exclusion_reason::no_probe;
  bool is_primary = false;  // the topology's single primary
  // Latency, microseconds. `latency_us` is what the cost uses (at least latency_noise_floor): the
  // larger of the probe RTT and the statement latency (which relaxes toward the probe RTT while no
  // statement runs there).
  double latency_us = 0;
  double statement_latency_us = 0;  // statement peak EWMA as of now; 0 before the first statement
  double probe_rtt_us = 0;          // probe round-trip peak EWMA; 0 before the first probe
  std::uint32_t in_flight = 0;      // statements dispatched and not completed
  bool lag_measured = false;        // false: no primary seen since this replica's probe
  replica_lag lag{};
  double lag_penalty = 1.0;        // cost multiplier from lag (1 = none)
  double slow_start_factor = 1.0;  // 1 = full share; below 1 while ramping up
  // max(latency_us, latency_noise_floor) x (in_flight + 1) x lag_penalty. Computed for every backend with a probe, candidate
  // or not, so an operator sees what it would cost.
  double cost = 0;
  // Outlier ejection.
  outlier_state outlier = outlier_state::active;
  ejection_reason last_ejection = ejection_reason::none;  // reason of the latest ejection
  time_point ejected_until{};        // while ejected: earliest return
  unsigned recent_ejections = 0;     // ejections counted for the backoff (reset by ejection_memory)
  std::uint64_t ejections_total = 0;
  double window_samples = 0;         // statements in the outlier window (decayed count)
  double window_typical_latency_us = 0;  // their geometric mean latency (what ejection compares)
  double window_error_rate = 0;      // their failed fraction
  std::uint32_t consecutive_failures = 0;
};

struct choice_explanation {
  time_point at{};
  topology_state topology = topology_state::unknown;
  std::optional<std::size_t> primary;
  std::size_t backend_count = 0;  // entries of `backends` that are used
  std::array<backend_explanation, max_backends> backends{};
  std::size_t candidate_count = 0;
  std::optional<std::size_t> first_sample;   // power of two choices: the two sampled candidates
  std::optional<std::size_t> second_sample;  // (unset with fewer than two candidates)
  std::optional<std::size_t> chosen;         // nullopt: no candidate, the caller applies fallback
  bool slow_start_deferred = false;  // the cheaper sample was ramping up and was passed over for
                                     // the other (see replica_scorer::choose)
};

// Multi-line rendering for debug logs: a summary line, then one line per backend. Allocates.
std::string to_string(const choice_explanation& why);

}  // namespace sluice::scoring
