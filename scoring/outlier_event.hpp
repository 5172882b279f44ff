// A change of a replica's outlier state, queued by the scorer for the caller to log and count
// (replica_scorer::take_events): ejections and returns are rare and worth an info line each.
#pragma once

#include <chrono>
#include <cstddef>

#include "scoring/common.hpp"
#include "scoring/outlier_state.hpp"

namespace sluice::scoring {

struct outlier_event {
  enum class kind {
    ejected,   // left the pool; `reason`, `observed`, `threshold` and `duration` say why and how long
    returned,  // back in the pool after its backoff, starting its slow start
  };

  time_point at{};
  std::size_t backend = 0;
  kind what = kind::ejected;
  ejection_reason reason = ejection_reason::none;
  // ejected: the evidence. latency kinds: the replica's mean and the enter threshold (multiple x
  // peers' median), microseconds; error_rate: rate and threshold; consecutive_failures: count and
  // threshold.
  double observed = 0;
  double threshold = 0;
  std::chrono::milliseconds duration{0};  // ejected: backoff before it may return
  unsigned repeat = 0;                    // ejected: 1 for a first ejection, 2 for a repeat, ...
};

}  // namespace sluice::scoring
