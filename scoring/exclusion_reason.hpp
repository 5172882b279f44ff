// Why a backend is not a candidate for a read. Shown per backend in a choice_explanation.
#pragma once

namespace sluice::scoring {

// Listed in the order choose() tests them; a backend shows the first that applies.
enum class exclusion_reason {
  none,                // a candidate
  no_probe,            // no probe result yet (just started): state unknown
  probe_stale,         // latest probe older than probe_staleness: state unknown (prober stuck or
                       // the server hangs)
  unreachable,         // latest probe could not connect or its query failed
  not_in_recovery,     // reports it is a primary (pg_is_in_recovery() = false): writes, not reads
  not_replica,         // told not to serve reads (set_serves_reads(false)), whatever it reports
  drained,             // drained by the operator (set_drained)
  ejected,             // ejected as an outlier; see backend_explanation::last_ejection
  lag_bytes,           // replay LSN more than max_lag_bytes behind the primary's
  lag_time,            // data older than max_lag_time (only when the time lag is known)
  excluded_by_caller,  // in choose()'s `exclude` set (e.g. it just refused a connection)
};

inline const char* to_string(exclusion_reason reason) noexcept {
  switch (reason) {
    case exclusion_reason::none: return "candidate";
    case exclusion_reason::no_probe: return "no_probe";
    case exclusion_reason::probe_stale: return "probe_stale";
    case exclusion_reason::unreachable: return "unreachable";
    case exclusion_reason::not_in_recovery: return "not_in_recovery";
    case exclusion_reason::not_replica: return "not_replica";
    case exclusion_reason::drained: return "drained";
    case exclusion_reason::ejected: return "ejected";
    case exclusion_reason::lag_bytes: return "lag_bytes";
    case exclusion_reason::lag_time: return "lag_time";
    case exclusion_reason::excluded_by_caller: return "excluded_by_caller";
  }
  return "?";
}

}  // namespace sluice::scoring
