// What one active probe of one backend saw. Filled by the prober (backends/, libpq) every
// probe_interval; scoring/ only reads it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "scoring/common.hpp"

namespace sluice::scoring {

// One probe round trip. Suggested query, one statement so all values come from one instant:
//   SELECT pg_is_in_recovery(),
//          CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END,
//          pg_last_wal_receive_lsn(), pg_last_xact_replay_timestamp(), now(),
//          (SELECT ts FROM <heartbeat table>)            -- only with heartbeat = true
// LSNs are pg_lsn values as 64-bit integers (pg_lsn - '0/0'); timestamps are microseconds since the
// Unix epoch (extract(epoch from ...) * 1e6). NULLs map to 0 (LSNs) or nullopt (timestamps).
struct probe_result {
  time_point at{};          // when the answer arrived, on sluice's steady clock
  bool reachable = false;   // connected and the query succeeded (false: every field below is unset)
  bool in_recovery = false; // pg_is_in_recovery(): true for a replica, false for a primary
  std::uint64_t current_lsn = 0;  // primary: pg_current_wal_lsn(); replica: pg_last_wal_replay_lsn()
  std::uint64_t receive_lsn = 0;  // replica: pg_last_wal_receive_lsn() (0 when not streaming)
  std::optional<std::int64_t> last_replay_unix_us;  // replica: pg_last_xact_replay_timestamp()
  std::int64_t server_now_unix_us = 0;              // now() on that server
  // heartbeat = true only. Replica: the newest heartbeat timestamp it has replayed. Primary: the
  // newest one written (the same query on the same table), which tells whether the writer is alive.
  std::optional<std::int64_t> heartbeat_unix_us;
  std::chrono::microseconds rtt{0};  // probe query round trip as sluice measured it
};

// Best estimate of the steady-clock instant at which the server evaluated the probe: the middle of
// the round trip. Lag arithmetic compares probes of two servers taken at different instants.
inline time_point server_instant(const probe_result& probe) noexcept {
  return probe.at - probe.rtt / 2;
}

}  // namespace sluice::scoring
