// Outlier-ejection state of one replica, and why it was last ejected.
#pragma once

namespace sluice::scoring {

enum class outlier_state {
  active,   // in the pool (possibly still ramping up after a return: see slow_start_factor)
  suspect,  // in the pool, latency above the enter threshold; ejected if it stays so for
            // outlier_min_dwell, cleared when back at or below the exit threshold
  ejected,  // out of the pool until its backoff has passed and its probes look normal again
};

enum class ejection_reason {
  none,                  // never ejected
  latency,               // mean statement latency >= enter multiple x peers' median, for min dwell
  probe_latency,         // mean probe round trip >= enter multiple x peers' median, for min dwell
  error_rate,            // failed fraction >= error_rate_threshold over the window
  consecutive_failures,  // consecutive_failures failures in a row
};

inline const char* to_string(outlier_state state) noexcept {
  switch (state) {
    case outlier_state::active: return "active";
    case outlier_state::suspect: return "suspect";
    case outlier_state::ejected: return "ejected";
  }
  return "?";
}

inline const char* to_string(ejection_reason reason) noexcept {
  switch (reason) {
    case ejection_reason::none: return "none";
    case ejection_reason::latency: return "latency";
    case ejection_reason::probe_latency: return "probe_latency";
    case ejection_reason::error_rate: return "error_rate";
    case ejection_reason::consecutive_failures: return "consecutive_failures";
  }
  return "?";
}

}  // namespace sluice::scoring
