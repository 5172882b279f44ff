// Lag arithmetic: bytes and their ordering, the idle-primary rule, heartbeat, LSN history and
// replay-timestamp time lags, and how the sources combine.
#include <catch2/catch.hpp>

#include <initializer_list>
#include <limits>

#include "scoring/lag.hpp"
#include "scoring_test_support.hpp"

using namespace sluice::scoring;
using namespace sluice::scoring::testing;

TEST_CASE("byte lag is the primary's LSN minus the replay LSN, never negative") {
  struct row {
    const char* name;
    std::uint64_t primary_lsn;
    std::uint64_t replay_lsn;
    std::uint64_t expected;
  };
  constexpr std::uint64_t top = std::numeric_limits<std::uint64_t>::max();
  const auto r = GENERATE_COPY(values<row>({
      {"equal", 5'000, 5'000, 0},
      {"behind", 5'000, 4'000, 1'000},
      {"replica ahead of a stale primary probe", 5'000, 6'000, 0},
      {"zero primary (not yet written)", 0, 16, 0},
      {"near the top of the 64-bit range", top - 255, top - 511, 256},
      {"replica at the top, primary probe older", top - 1'000, top, 0},
      {"whole range", top, 0, top},
  }));
  INFO(r.name);
  const auto lag = compute_lag(primary_probe(t0(), r.primary_lsn), replica_probe(t0(), r.replay_lsn));
  CHECK(lag.bytes == r.expected);
}

TEST_CASE("idle primary: equal LSNs mean zero lag whatever the replay timestamp says") {
  auto primary = primary_probe(t0(), 42'000);
  auto replica = replica_probe(t0(), 42'000);
  replica.last_replay_unix_us = wall_us(t0()) - 3'600'000'000LL;  // last commit an hour ago
  replica.heartbeat_unix_us = wall_us(t0()) - 3'600'000'000LL;    // (writer off for an hour)
  lsn_history history;
  history.record(t0() - 1h, 42'000);
  history.record(t0(), 42'000);

  for (const lsn_history* h : std::initializer_list<const lsn_history*>{nullptr, &history}) {
    const auto lag = compute_lag(primary, replica, h);
    CHECK(lag.bytes == 0);
    CHECK(lag.time_known);
    CHECK(lag.time == 0ms);
    CHECK(lag.time_source == lag_time_source::caught_up);
  }
  // A replica ahead of an older primary probe is caught up too.
  replica.current_lsn = 43'000;
  const auto ahead = compute_lag(primary, replica);
  CHECK(ahead.time == 0ms);
  CHECK(ahead.time_source == lag_time_source::caught_up);
}

TEST_CASE("replay timestamp lag uses the primary's clock carried to the replica's instant") {
  struct row {
    const char* name;
    milliseconds replica_later;  // replica probe answered this much after the primary's
    microseconds replica_rtt;
    std::int64_t replay_age_us;  // replay timestamp's age at the primary probe's instant
    milliseconds expected;
  };
  const auto r = GENERATE_COPY(values<row>({
      {"same instant", 0ms, 0us, 3'000'000, 3'000ms},
      {"replica probed 100 ms later", 100ms, 0us, 1'000'000, 1'100ms},
      {"rtt midpoint: 20 ms round trip moves the instant 10 ms back", 100ms, 20'000us, 1'000'000,
       1'090ms},
      {"sub-millisecond lag rounds up to 1 ms", 0ms, 0us, 10, 1ms},
      {"timestamp in the future (clamped)", 0ms, 0us, -5'000'000, 0ms},
  }));
  INFO(r.name);
  const auto primary = primary_probe(t0(), 10'000);
  auto replica = replica_probe(t0() + r.replica_later, 9'000, r.replica_rtt);
  replica.last_replay_unix_us = wall_us(t0()) - r.replay_age_us;
  const auto lag = compute_lag(primary, replica);
  CHECK(lag.bytes == 1'000);
  CHECK(lag.time_known);
  CHECK(lag.time_source == lag_time_source::replay_timestamp);
  CHECK(lag.time == r.expected);
}

TEST_CASE("clock skew between the servers does not change the lag, and is reported") {
  const auto primary = primary_probe(t0(), 10'000);
  auto replica = replica_probe(t0(), 9'000);
  replica.last_replay_unix_us = wall_us(t0()) - 2'000'000;
  replica.heartbeat_unix_us = wall_us(t0()) - 1'500'000;
  replica.server_now_unix_us += 7'000'000;  // replica's clock runs 7 s ahead
  const auto lag = compute_lag(primary, replica);
  CHECK(lag.time == 1'500ms);
  CHECK(lag.time_source == lag_time_source::heartbeat);
  CHECK(lag.clock_offset == 7s);
}

TEST_CASE("heartbeat lag, and when it is ignored") {
  struct row {
    const char* name;
    std::optional<std::int64_t> primary_heartbeat_age_us;  // nullopt: primary's probe has none
    std::optional<std::int64_t> replica_heartbeat_age_us;
    lag_time_source expected_source;
    milliseconds expected;
  };
  const auto r = GENERATE_COPY(values<row>({
      {"fresh writer: heartbeat wins over the replay timestamp", 100'000, 500'000,
       lag_time_source::heartbeat, 500ms},
      {"primary's heartbeat not probed: replica's is still used", std::nullopt, 500'000,
       lag_time_source::heartbeat, 500ms},
      {"writer stuck for 10 s: heartbeat ignored", 10'000'000, 10'000'000,
       lag_time_source::replay_timestamp, 5'000ms},
      {"heartbeat looser than the replay timestamp: tightest bound wins", 100'000, 8'000'000,
       lag_time_source::replay_timestamp, 5'000ms},
      {"no heartbeat on the replica", 100'000, std::nullopt, lag_time_source::replay_timestamp,
       5'000ms},
  }));
  INFO(r.name);
  auto primary = primary_probe(t0(), 10'000);
  if (r.primary_heartbeat_age_us) primary.heartbeat_unix_us = wall_us(t0()) - *r.primary_heartbeat_age_us;
  auto replica = replica_probe(t0(), 9'000);
  replica.last_replay_unix_us = wall_us(t0()) - 5'000'000;
  if (r.replica_heartbeat_age_us) replica.heartbeat_unix_us = wall_us(t0()) - *r.replica_heartbeat_age_us;
  const auto lag = compute_lag(primary, replica);
  CHECK(lag.time_source == r.expected_source);
  CHECK(lag.time == r.expected);
}

TEST_CASE("LSN history: a primary idle for a minute, then one write, is not a minute of lag") {
  lsn_history history;
  // The primary sits at LSN 1000 for 60 s (probed every 250 ms), then writes: 2000 at t0 + 60.1 s.
  for (auto t = t0(); t <= t0() + 60s; t += 250ms) history.record(t, 1'000);
  const time_point write_seen = t0() + 60s + 250ms;
  history.record(write_seen, 2'000);
  const auto primary = primary_probe(write_seen, 2'000);

  // The replica has not replayed the write yet; its last replayed commit is a minute old.
  auto replica = replica_probe(write_seen + 20ms, 1'000);
  replica.last_replay_unix_us = wall_us(t0() - 1s);
  const auto without = compute_lag(primary, replica);
  CHECK(without.time_source == lag_time_source::replay_timestamp);
  CHECK(without.time > 60s);  // what pg_last_xact_replay_timestamp() alone would say

  const auto with = compute_lag(primary, replica, &history);
  CHECK(with.time_source == lag_time_source::lsn_history);
  CHECK(with.time == 270ms);  // last seen at 1000 at t0+60s; replica answered at t0+60.27s
}

TEST_CASE("LSN history alone gives the time lag of a replica that really is behind") {
  lsn_history history;
  for (int step = 0; step <= 40; ++step) {  // 10 s of a busy primary: +100 bytes per probe
    history.record(t0() + step * 250ms, 1'000 + static_cast<std::uint64_t>(step) * 100);
  }
  const auto primary = primary_probe(t0() + 10s, 5'000);
  // Replayed up to 2'050: the primary was last seen at or below that at step 10 (2'000, t0 + 2.5 s).
  const auto replica = replica_probe(t0() + 10s, 2'050);
  const auto lag = compute_lag(primary, replica, &history);
  CHECK(lag.bytes == 2'950);
  CHECK(lag.time_source == lag_time_source::lsn_history);
  CHECK(lag.time == 7'500ms);
}

TEST_CASE("replay LSN older than the whole history: at least the history's span") {
  lsn_history history;
  history.record(t0(), 5'000);
  history.record(t0() + 5s, 6'000);
  const auto primary = primary_probe(t0() + 5s, 6'000);
  auto replica = replica_probe(t0() + 5s, 4'000);

  SECTION("no other source: the lower bound") {
    const auto lag = compute_lag(primary, replica, &history);
    CHECK(lag.time_source == lag_time_source::lsn_history);
    CHECK(lag.time == 5s);
  }
  SECTION("a replay timestamp above the bound is used") {
    replica.last_replay_unix_us = wall_us(t0() - 3s);
    const auto lag = compute_lag(primary, replica, &history);
    CHECK(lag.time_source == lag_time_source::replay_timestamp);
    CHECK(lag.time == 8s);
  }
  SECTION("a replay timestamp below the bound cannot lower it") {
    replica.last_replay_unix_us = wall_us(t0() + 4s);
    const auto lag = compute_lag(primary, replica, &history);
    CHECK(lag.time == 5s);
  }
}

TEST_CASE("time lag unknown without any source; unreplayed bytes") {
  const auto primary = primary_probe(t0(), 10'000);
  auto replica = replica_probe(t0(), 9'000);
  replica.receive_lsn = 9'600;
  const auto lag = compute_lag(primary, replica);
  CHECK(lag.bytes == 1'000);
  CHECK_FALSE(lag.time_known);
  CHECK(lag.time_source == lag_time_source::unknown);
  CHECK(lag.unreplayed_bytes == 600);

  replica.receive_lsn = 0;  // not streaming (archive recovery): pg_last_wal_receive_lsn() is NULL
  CHECK(compute_lag(primary, replica).unreplayed_bytes == 0);
  lsn_history empty;
  CHECK_FALSE(compute_lag(primary, replica, &empty).time_known);
}
