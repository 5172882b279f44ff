// Replication lag of one replica behind the primary, in bytes of WAL and in time, from one probe of
// each (plus, optionally, the primary's LSN history). Pure arithmetic; docs/scoring.md explains it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "scoring/lsn_history.hpp"
#include "scoring/probe_result.hpp"

namespace sluice::scoring {

// Where a replica_lag's time came from. Every source except `caught_up` is an upper bound on how old
// the replica's data is; compute_lag reports the tightest one available.
enum class lag_time_source {
  unknown,           // no way to tell: only the byte lag applies
  caught_up,         // replay LSN at or past the primary's: zero, whatever any timestamp says
  heartbeat,         // primary's clock now minus the newest heartbeat the replica replayed
  lsn_history,       // sluice's clock: now minus the last time the primary was at the replay LSN
  replay_timestamp,  // primary's clock now minus pg_last_xact_replay_timestamp() (overstates
                     // after the primary was idle; used when nothing tighter is known)
};

const char* to_string(lag_time_source source) noexcept;

struct replica_lag {
  std::uint64_t bytes = 0;             // primary's current LSN minus the replica's replay LSN, >= 0
  std::uint64_t unreplayed_bytes = 0;  // received but not yet replayed (receive - replay LSN), >= 0
  std::chrono::milliseconds time{0};   // how old the replica's data is; meaningful if time_known
  bool time_known = false;
  lag_time_source time_source = lag_time_source::unknown;
  // Replica's clock minus the primary's, estimated (+-rtt/2). Diagnostic only: no lag figure
  // depends on it.
  std::chrono::microseconds clock_offset{0};
};

// Default for compute_lag's heartbeat_max_age.
inline constexpr std::chrono::microseconds default_heartbeat_max_age = std::chrono::seconds(2);

// Lag of `replica` behind `primary`, both reachable probes.
//
// Bytes: primary.current_lsn - replica.current_lsn, and 0 when the replica is at or ahead (its probe
// may be newer than the primary's). LSNs are 64-bit byte positions that never wrap in practice.
//
// Time, in order:
//  1. bytes == 0: zero. An idle primary leaves pg_last_xact_replay_timestamp() far in the past on an
//     up-to-date replica; that is not lag.
//  2. otherwise the smallest of these upper bounds that is available:
//     - heartbeat: the primary's clock, carried forward to the replica probe's instant with sluice's
//       steady clock, minus the newest heartbeat the replica replayed. Skipped when the primary's own
//       probe shows its newest heartbeat older than heartbeat_max_age (the writer is stuck, so the
//       figure would only grow).
//     - lsn_history: replica probe's instant minus the last instant the primary was seen at or below
//       the replica's replay LSN (sluice's clock only).
//     - replay_timestamp: the primary's clock (carried forward as above) minus the replica's
//       pg_last_xact_replay_timestamp().
//     When the replay LSN is older than the whole history, the history still gives a lower bound
//     (the primary was past it at the oldest entry) and the result is at least that.
//
// Clocks: heartbeat and replay timestamps are written by the primary's clock and are compared with
// the primary's own now(), carried forward by the steady-clock interval between the two probes (their
// server_instant()s), so skew between the primary's and the replica's clocks does not enter. What
// remains: round-trip asymmetry (at most rtt/2 per probe), the primary's clock being stepped (NTP)
// between its write and our probe, and the heartbeat or probe interval as resolution. In sluice's
// test cluster both servers share one host and one clock anyway.
replica_lag compute_lag(const probe_result& primary, const probe_result& replica,
                        const lsn_history* history = nullptr,
                        std::chrono::microseconds heartbeat_max_age = default_heartbeat_max_age)
    noexcept;

}  // namespace sluice::scoring
