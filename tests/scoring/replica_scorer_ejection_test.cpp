// Outlier ejection with a fake clock: latency and probe-latency multiples of the peers' median, error
// rate, consecutive failures, the cap, backoff and its doubling, return with slow start, hysteresis.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "scoring/replica_scorer.hpp"
#include "scoring_test_support.hpp"

using namespace sluice::scoring;
using namespace sluice::scoring::testing;

namespace {

std::vector<outlier_event> events(replica_scorer& scorer) {
  std::array<outlier_event, 64> buffer{};
  std::vector<outlier_event> out;
  for (std::size_t n; (n = scorer.take_events(buffer)) > 0;) {
    out.insert(out.end(), buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(n));
  }
  return out;
}

// Runs `duration` with every replica of `latency` serving a statement each 10 ms step.
void traffic(cluster& c, std::chrono::nanoseconds duration, const std::vector<microseconds>& latency) {
  c.advance(duration, 10ms, [&] {
    for (std::size_t i = 1; i < latency.size(); ++i) c.statements(i, latency[i]);
  });
}

outlier_state state_of(const cluster& c, std::size_t backend) {
  return c.explain().backends[backend].outlier;
}

}  // namespace

TEST_CASE("latency ejection enters at the multiple of the peers' median, not below") {
  struct row {
    double multiple;
    bool ejected;
  };
  const auto r = GENERATE(values<row>({{1.0, false}, {2.9, false}, {3.1, true}, {10.0, true}}));
  INFO("multiple " << r.multiple);
  cluster c(4, scoring_config{});
  const auto slow = microseconds(static_cast<std::int64_t>(10'000 * r.multiple));
  traffic(c, 10s, {0us, 10ms, 10ms, slow});
  const auto happened = events(c.scorer);
  if (!r.ejected) {
    CHECK(happened.empty());
    CHECK(state_of(c, 3) == outlier_state::active);
    return;
  }
  REQUIRE(happened.size() == 1);
  const outlier_event& e = happened[0];
  CHECK(e.backend == 3);
  CHECK(e.what == outlier_event::kind::ejected);
  CHECK(e.reason == ejection_reason::latency);
  CHECK(e.observed == Approx(static_cast<double>(slow.count())).epsilon(1e-6));
  CHECK(e.threshold == Approx(30'000).epsilon(1e-6));  // 3 x the peers' median of 10 ms
  CHECK(e.duration == 10s);
  CHECK(e.repeat == 1);
  // Suspect as soon as there is evidence (10 samples: 0.1 s), ejected after the 2 s dwell.
  CHECK(e.at - t0() >= 2s);
  CHECK(e.at - t0() <= 2'500ms);
  CHECK(c.explain().backends[3].reason == exclusion_reason::ejected);
}

TEST_CASE("sub-millisecond differences are not outliers, whatever the multiple") {
  cluster c(4, scoring_config{});
  traffic(c, 10s, {0us, 100us, 100us, 1'000us});  // 10x, but 0.9 ms apart (min excess 5 ms)
  CHECK(events(c.scorer).empty());
  CHECK(state_of(c, 3) == outlier_state::active);
}

TEST_CASE("one heavy statement does not eject a replica") {
  cluster c(4, scoring_config{});
  traffic(c, 5s, {0us, 2ms, 2ms, 2ms});
  c.statements(3, 5s);  // a five-second report on replica 3
  traffic(c, 5s, {0us, 2ms, 2ms, 2ms});
  CHECK(events(c.scorer).empty());
}

TEST_CASE("probe latency alone ejects an idle replica on a sick host; it returns when probes recover") {
  cluster c(4, scoring_config{});
  c.probe_rtt[3] = 20ms;  // others 0.5 ms
  c.advance(10s);
  auto happened = events(c.scorer);
  REQUIRE(happened.size() == 1);
  CHECK(happened[0].reason == ejection_reason::probe_latency);
  const time_point ejected_at = happened[0].at;

  // Backoff over, probes still slow: stays out.
  c.advance(ejected_at + 15s - c.now);
  CHECK(state_of(c, 3) == outlier_state::ejected);
  CHECK(events(c.scorer).empty());

  c.probe_rtt[3] = 500us;
  c.advance(10s);
  happened = events(c.scorer);
  REQUIRE(happened.size() == 1);
  CHECK(happened[0].what == outlier_event::kind::returned);
  CHECK(state_of(c, 3) == outlier_state::active);
}

TEST_CASE("an ejected replica stays out for its backoff, then returns with slow start") {
  cluster c(4, scoring_config{});
  for (int i = 0; i < 5; ++i) c.scorer.on_connect_failure(2, c.now);
  const time_point ejected_at = c.now;
  auto happened = events(c.scorer);
  REQUIRE(happened.size() == 1);
  CHECK(happened[0].reason == ejection_reason::consecutive_failures);
  CHECK(happened[0].duration == 10s);

  c.advance(9'900ms);
  CHECK(c.explain().backends[2].reason == exclusion_reason::ejected);
  c.advance(ejected_at + 10'250ms - c.now);
  const auto why = c.explain();
  CHECK(why.backends[2].reason == exclusion_reason::none);
  CHECK(why.backends[2].slow_start_factor < 0.15);
  happened = events(c.scorer);
  REQUIRE(happened.size() == 1);
  CHECK(happened[0].what == outlier_event::kind::returned);
  const time_point returned_at = happened[0].at;
  CHECK(returned_at - ejected_at >= 10s);
  CHECK(returned_at - ejected_at <= 10'250ms);

  c.advance(returned_at + 5s - c.now);
  CHECK(c.explain().backends[2].slow_start_factor == Approx(0.5));
  c.advance(5s);
  CHECK(c.explain().backends[2].slow_start_factor == 1.0);
}

TEST_CASE("backoff doubles on each repeat, up to the maximum, and is forgotten after the memory") {
  scoring_config config;
  config.max_ejection_time = 50s;
  cluster c(4, config);
  const auto eject_and_wait = [&c] {
    for (int i = 0; i < 5; ++i) c.scorer.on_connect_failure(1, c.now);
    const auto ejected = events(c.scorer);
    REQUIRE(ejected.size() == 1);
    while (state_of(c, 1) == outlier_state::ejected) c.advance(250ms);
    REQUIRE(events(c.scorer).size() == 1);  // returned
    return ejected[0];
  };
  std::vector<std::chrono::milliseconds> durations;
  std::vector<unsigned> repeats;
  for (int i = 0; i < 5; ++i) {
    const auto e = eject_and_wait();
    durations.push_back(e.duration);
    repeats.push_back(e.repeat);
  }
  CHECK(durations == std::vector<std::chrono::milliseconds>{10s, 20s, 40s, 50s, 50s});
  CHECK(repeats == std::vector<unsigned>{1, 2, 3, 4, 5});

  c.advance(301s);  // healthy for longer than ejection_memory (300 s)
  const auto forgiven = eject_and_wait();
  CHECK(forgiven.duration == 10s);
  CHECK(forgiven.repeat == 1);
  CHECK(c.explain().backends[1].ejections_total == 6);
}

TEST_CASE("error-rate ejection needs the rate and the samples") {
  struct row {
    const char* name;
    int every;       // one failure in `every` statements (never two in a row)
    int statements;  // how many, one per 10 ms
    bool ejected;
  };
  const auto r = GENERATE(values<row>({
      {"10% over 200", 10, 200, false},
      {"25% over 200", 4, 200, true},
      {"50% over 200", 2, 200, true},
      {"50% but only 8 samples", 2, 8, false},
  }));
  INFO(r.name);
  cluster c(4, scoring_config{});
  int sent = 0;
  c.advance(std::chrono::milliseconds(10 * r.statements), 10ms, [&] {
    if (sent >= r.statements) return;
    ++sent;
    c.statements(1, 2ms, 1, sent % r.every == 0);
  });
  const auto happened = events(c.scorer);
  if (!r.ejected) {
    CHECK(happened.empty());
    return;
  }
  REQUIRE(happened.size() == 1);
  CHECK(happened[0].reason == ejection_reason::error_rate);
  CHECK(happened[0].observed >= 0.2);
}

TEST_CASE("consecutive failures eject at the threshold; a success resets the count") {
  struct row {
    std::vector<bool> outcomes;  // true = failure
    bool ejected;
  };
  const auto r = GENERATE(values<row>({
      {{true, true, true, true}, false},
      {{true, true, true, true, true}, true},
      {{true, true, true, true, false, true, true, true, true}, false},
  }));
  cluster c(4, scoring_config{});
  for (const bool failed : r.outcomes) c.statements(3, 1ms, 1, failed);
  const auto happened = events(c.scorer);
  CHECK(happened.size() == (r.ejected ? 1u : 0u));
  if (r.ejected) CHECK(happened[0].reason == ejection_reason::consecutive_failures);
}

TEST_CASE("failures make a replica look slower, never faster") {
  cluster c(3, scoring_config{});
  c.statements(1, 10ms, 3);
  c.statements(1, 100us, 3, true);  // fails fast
  CHECK(c.explain().backends[1].statement_latency_us == Approx(10'000));
  c.statements(1, 30ms, 1, true);  // fails slowly
  CHECK(c.explain().backends[1].statement_latency_us == Approx(30'000));
}

TEST_CASE("ejection is capped at max_ejected_percent of the replicas, at least one") {
  struct row {
    std::size_t backends;  // primary + replicas
    std::uint32_t percent;
    std::size_t failing;
    std::size_t expected;
  };
  const auto r = GENERATE(values<row>({
      {5, 50, 3, 2},   // 4 replicas: 2 may go
      {5, 100, 4, 4},
      {5, 0, 4, 0},    // ejection off
      {2, 50, 1, 1},   // a single replica may still be ejected
      {4, 10, 3, 1},   // 10% of 3 rounds down, but one is always allowed
  }));
  scoring_config config;
  config.max_ejected_percent = r.percent;
  cluster c(r.backends, config);
  for (std::size_t b = 1; b <= r.failing; ++b) {
    for (int i = 0; i < 5; ++i) c.scorer.on_connect_failure(b, c.now);
  }
  CHECK(events(c.scorer).size() == r.expected);
  if (r.backends == 2 && r.expected == 1) {
    scripted_source rng{0};
    CHECK_FALSE(c.scorer.choose(c.now, rng).has_value());  // the caller falls back
  }
}

TEST_CASE("hysteresis: suspect at the enter multiple, cleared only at the exit multiple") {
  scoring_config config;
  config.outlier_window = 500ms;     // means follow the input quickly
  config.outlier_min_dwell = 60s;    // watch the suspect state without ejection
  cluster c(4, config);
  struct step {
    double multiple;
    outlier_state expected;
  };
  const std::vector<step> script{
      {1.0, outlier_state::active},  {2.9, outlier_state::active},  {4.0, outlier_state::suspect},
      {2.0, outlier_state::suspect}, {1.6, outlier_state::suspect}, {1.4, outlier_state::active},
      {2.9, outlier_state::active},  {3.5, outlier_state::suspect}, {1.0, outlier_state::active},
  };
  for (const step& s : script) {
    INFO("multiple " << s.multiple);
    const auto slow = microseconds(static_cast<std::int64_t>(20'000 * s.multiple));
    traffic(c, 5s, {0us, 20ms, 20ms, slow});
    CHECK(state_of(c, 3) == s.expected);
  }
  CHECK(events(c.scorer).empty());
}

TEST_CASE("a spike shorter than the dwell does not eject") {
  scoring_config config;
  config.outlier_window = 500ms;
  cluster c(4, config);
  traffic(c, 3s, {0us, 10ms, 10ms, 10ms});
  traffic(c, 1s, {0us, 10ms, 10ms, 50ms});  // 5x for 1 s; dwell is 2 s
  traffic(c, 5s, {0us, 10ms, 10ms, 10ms});
  CHECK(events(c.scorer).empty());
  CHECK(state_of(c, 3) == outlier_state::active);
}

TEST_CASE("a borderline replica oscillating around the threshold does not flap") {
  cluster c(4, scoring_config{});
  // Replica 3 alternates between 2.8x and 3.6x its peers every 3 s for 10 minutes: 200 crossings
  // of the enter threshold, each of which a bare threshold would turn into a transition.
  int crossings = 0;
  bool high = false;
  for (int period = 0; period < 200; ++period) {
    high = !high;
    ++crossings;
    traffic(c, 3s, {0us, 10ms, 10ms, high ? 36ms : 28ms});
  }
  const auto happened = events(c.scorer);
  std::vector<std::chrono::milliseconds> backoffs;
  for (const auto& e : happened) {
    if (e.what == outlier_event::kind::ejected) backoffs.push_back(e.duration);
  }
  CAPTURE(happened.size(), crossings);
  CHECK(crossings == 200);
  CHECK(happened.size() <= 12);  // pool transitions (out and back) in 10 minutes
  REQUIRE(backoffs.size() >= 2);
  for (std::size_t i = 1; i < backoffs.size(); ++i) {
    CHECK(backoffs[i] == std::min<std::chrono::milliseconds>(2 * backoffs[i - 1], 300s));
  }
}

TEST_CASE("take_events hands out events oldest first, a few at a time") {
  cluster c(5, scoring_config{});
  for (std::size_t b : {1u, 2u}) {
    for (int i = 0; i < 5; ++i) c.scorer.on_connect_failure(b, c.now);
  }
  std::array<outlier_event, 1> one{};
  REQUIRE(c.scorer.take_events(one) == 1);
  CHECK(one[0].backend == 1);
  REQUIRE(c.scorer.take_events(one) == 1);
  CHECK(one[0].backend == 2);
  CHECK(c.scorer.take_events(one) == 0);
  CHECK(c.scorer.events_dropped() == 0);
}
