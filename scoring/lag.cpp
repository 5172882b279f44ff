// Lag arithmetic (see lag.hpp).
#include "scoring/lag.hpp"

#include <algorithm>

namespace sluice::scoring {

namespace {

using std::chrono::duration_cast;
using std::chrono::microseconds;
using std::chrono::milliseconds;

std::uint64_t forward_distance(std::uint64_t ahead, std::uint64_t behind) noexcept {
  return ahead > behind ? ahead - behind : 0;
}

// Rounds up so that any positive lag shows as at least 1 ms.
milliseconds to_lag_ms(std::int64_t microseconds_behind) noexcept {
  if (microseconds_behind <= 0) return milliseconds(0);
  return milliseconds((microseconds_behind + 999) / 1000);
}

// Keeps the tightest upper bound seen so far.
struct tightest {
  std::optional<std::int64_t> micros;
  lag_time_source source = lag_time_source::unknown;

  void offer(std::int64_t candidate, lag_time_source from) noexcept {
    candidate = std::max<std::int64_t>(candidate, 0);
    if (!micros || candidate < *micros) {
      micros = candidate;
      source = from;
    }
  }
};

}  // namespace

const char* to_string(lag_time_source source) noexcept {
  switch (source) {
    case lag_time_source::unknown: return "unknown";
    case lag_time_source::caught_up: return "caught_up";
    case lag_time_source::heartbeat: return "heartbeat";
    case lag_time_source::lsn_history: return "lsn_history";
    case lag_time_source::replay_timestamp: return "replay_timestamp";
  }
  return "?";
}

replica_lag compute_lag(const probe_result& primary, const probe_result& replica,
                        const lsn_history* history, microseconds heartbeat_max_age) noexcept {
  replica_lag lag;
  lag.bytes = forward_distance(primary.current_lsn, replica.current_lsn);
  lag.unreplayed_bytes = forward_distance(replica.receive_lsn, replica.current_lsn);

  // The primary's wall clock at the instant the replica answered, carried forward on our clock.
  const time_point replica_instant = server_instant(replica);
  const std::int64_t shift_us =
      duration_cast<microseconds>(replica_instant - server_instant(primary)).count();
  const std::int64_t primary_clock_us = primary.server_now_unix_us + shift_us;
  lag.clock_offset = microseconds(replica.server_now_unix_us - primary_clock_us);

  if (lag.bytes == 0) {
    lag.time_known = true;
    lag.time_source = lag_time_source::caught_up;
    return lag;
  }

  tightest bound;
  const bool writer_stuck =
      primary.heartbeat_unix_us &&
      primary.server_now_unix_us - *primary.heartbeat_unix_us > heartbeat_max_age.count();
  if (replica.heartbeat_unix_us && !writer_stuck) {
    bound.offer(primary_clock_us - *replica.heartbeat_unix_us, lag_time_source::heartbeat);
  }
  if (replica.last_replay_unix_us) {
    bound.offer(primary_clock_us - *replica.last_replay_unix_us, lag_time_source::replay_timestamp);
  }

  std::int64_t floor_us = 0;
  if (history != nullptr) {
    const auto found = history->last_seen_at_or_below(replica.current_lsn);
    const std::int64_t since_us = duration_cast<microseconds>(replica_instant - found.at).count();
    if (found.kind == lsn_history::match::at_or_below) {
      bound.offer(since_us, lag_time_source::lsn_history);
    } else if (found.kind == lsn_history::match::older_than_history) {
      floor_us = std::max<std::int64_t>(since_us, 0);
      if (!bound.micros) bound.offer(floor_us, lag_time_source::lsn_history);
    }
  }

  if (bound.micros) {
    lag.time = to_lag_ms(std::max(*bound.micros, floor_us));
    lag.time_known = true;
    lag.time_source = bound.source;
  }
  return lag;
}

}  // namespace sluice::scoring
