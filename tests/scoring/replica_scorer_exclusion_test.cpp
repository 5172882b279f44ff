// replica_scorer hard filters: every exclusion reason, the idle-primary rule end to end, roles taken
// from probes (promotion, demotion, split brain) and the no-candidate case.
#include <catch2/catch.hpp>

#include <functional>

#include "scoring/replica_scorer.hpp"
#include "scoring_test_support.hpp"

using namespace sluice::scoring;
using namespace sluice::scoring::testing;

TEST_CASE("each exclusion reason is reported for the backend it applies to") {
  struct row {
    exclusion_reason expected;
    std::size_t backend;  // which backend the reason is expected on
    std::function<backend_set(cluster&)> arrange;
  };
  const auto r = GENERATE_COPY(values<row>({
      {exclusion_reason::none, 1, [](cluster&) { return backend_set{}; }},
      {exclusion_reason::no_probe, 3, [](cluster&) { return backend_set{}; }},
      {exclusion_reason::probe_stale, 1,
       [](cluster& c) {
         c.silent[1] = true;
         c.advance(1'500ms);
         return backend_set{};
       }},
      {exclusion_reason::unreachable, 1,
       [](cluster& c) {
         c.reachable[1] = false;
         c.probe_all();
         c.probe_all();  // probe_failures_to_down = 2
         return backend_set{};
       }},
      {exclusion_reason::not_in_recovery, 0, [](cluster&) { return backend_set{}; }},
      {exclusion_reason::not_replica, 1,
       [](cluster& c) {
         c.scorer.set_serves_reads(1, false);
         return backend_set{};
       }},
      {exclusion_reason::drained, 1,
       [](cluster& c) {
         c.scorer.set_drained(1, true);
         return backend_set{};
       }},
      {exclusion_reason::ejected, 1,
       [](cluster& c) {
         for (int i = 0; i < 5; ++i) c.scorer.on_connect_failure(1, c.now);
         return backend_set{};
       }},
      {exclusion_reason::lag_bytes, 1,
       [](cluster& c) {
         c.lag_bytes[1] = 16 * 1024 * 1024 + 1;
         c.probe_all();
         return backend_set{};
       }},
      {exclusion_reason::lag_time, 1,
       [](cluster& c) {
         // The primary keeps writing; replica 1 stops replaying (a few KB behind, 11 s old).
         c.advance(11s, 10ms, [&c] {
           c.primary_lsn += 10;
           c.lag_bytes[1] += 10;
         });
         return backend_set{};
       }},
      {exclusion_reason::excluded_by_caller, 1,
       [](cluster&) {
         backend_set exclude;
         exclude.set(1);
         return exclude;
       }},
  }));
  INFO(to_string(r.expected));
  backend_set silent;
  silent.set(3);
  cluster c(4, scoring_config{}, silent);
  const backend_set exclude = r.arrange(c);

  scripted_source rng{0, 0, 0};
  choice_explanation why;
  const auto chosen = c.scorer.choose(c.now, rng, &why, exclude);
  CHECK(why.backends[r.backend].reason == r.expected);
  CHECK(why.backends[2].reason == exclusion_reason::none);  // the bystander stays a candidate
  REQUIRE(chosen.has_value());
  if (r.backend == 1 && r.expected != exclusion_reason::none) {
    CHECK(*chosen == 2);
    CHECK(why.candidate_count == 1);
  } else {
    CHECK(why.candidate_count == 2);  // replicas 1 and 2
  }
}

TEST_CASE("no candidate: nullopt, and the explanation says why for each") {
  cluster c(3, scoring_config{});
  c.reachable[1] = false;
  c.lag_bytes[2] = 64 * 1024 * 1024;
  c.probe_all();
  c.probe_all();  // probe_failures_to_down = 2
  scripted_source rng{0};
  choice_explanation why;
  CHECK_FALSE(c.scorer.choose(c.now, rng, &why).has_value());
  CHECK_FALSE(why.chosen.has_value());
  CHECK(why.candidate_count == 0);
  CHECK(why.backends[0].reason == exclusion_reason::not_in_recovery);
  CHECK(why.backends[1].reason == exclusion_reason::unreachable);
  CHECK(why.backends[2].reason == exclusion_reason::lag_bytes);
  CHECK(rng.calls == 0);
  CHECK_FALSE(c.scorer.choose(c.now, rng).has_value());  // and without an explanation
}

TEST_CASE("an up-to-date replica of an idle primary is a candidate with zero lag") {
  cluster c(2, scoring_config{});
  for (int i = 0; i < 8; ++i) {  // two idle seconds
    c.advance(250ms);
    auto probe = replica_probe(c.now, c.primary_lsn);
    probe.last_replay_unix_us = wall_us(c.now) - 3'600'000'000LL;  // last commit an hour ago
    c.scorer.on_probe(1, probe);
  }
  const auto why = c.explain();
  CHECK(why.backends[1].reason == exclusion_reason::none);
  CHECK(why.backends[1].lag_measured);
  CHECK(why.backends[1].lag.time == 0ms);
  CHECK(why.backends[1].lag.time_source == lag_time_source::caught_up);
  CHECK(why.backends[1].lag_penalty == 1.0);
}

TEST_CASE("roles come from probes: promotion, the old primary rejoining, split brain") {
  cluster c(3, scoring_config{});
  CHECK(c.scorer.topology(c.now).primary == 0u);

  // Failover: 0 dies, 1 is promoted and writes on.
  c.reachable[0] = false;
  c.in_recovery[1] = false;
  c.probe_all();
  c.probe_all();  // probe_failures_to_down = 2
  auto view = c.scorer.topology(c.now);
  CHECK(view.state == topology_state::single_primary);
  CHECK(view.primary == 1u);
  c.primary_lsn += 1'000;
  c.lag_bytes[2] = 1'000;  // 2 follows the new primary, 1000 bytes behind
  c.probe_all();
  auto why = c.explain();
  CHECK(why.backends[0].reason == exclusion_reason::unreachable);
  CHECK(why.backends[1].reason == exclusion_reason::not_in_recovery);
  CHECK(why.backends[1].is_primary);
  CHECK(why.backends[2].reason == exclusion_reason::none);
  CHECK(why.backends[2].lag.bytes == 1'000);

  // The old primary comes back as a replica of 1: it serves reads, ramping up.
  c.reachable[0] = true;
  c.in_recovery[0] = true;
  c.lag_bytes[0] = 0;
  c.probe_all();
  why = c.explain();
  CHECK(why.backends[0].reason == exclusion_reason::none);
  CHECK(why.backends[0].slow_start_factor < 1.0);

  // Someone promotes 2 as well: two primaries. Writes must stop; neither is a read target.
  c.in_recovery[2] = false;
  c.probe_all();
  view = c.scorer.topology(c.now);
  CHECK(view.state == topology_state::split_brain);
  CHECK_FALSE(view.primary.has_value());
  CHECK(view.claimants.test(1));
  CHECK(view.claimants.test(2));
  why = c.explain();
  CHECK(why.topology == topology_state::split_brain);
  CHECK(why.backends[1].reason == exclusion_reason::not_in_recovery);
  CHECK(why.backends[2].reason == exclusion_reason::not_in_recovery);
  CHECK(why.backends[0].reason == exclusion_reason::none);
}

TEST_CASE("without a primary, replicas keep serving reads on their last measured lag") {
  cluster c(3, scoring_config{});
  c.lag_bytes[2] = 32 * 1024 * 1024;
  c.probe_all();
  c.reachable[0] = false;
  c.advance(2s);
  const auto why = c.explain();
  CHECK(why.topology == topology_state::no_primary);
  CHECK(why.backends[1].reason == exclusion_reason::none);
  CHECK(why.backends[2].reason == exclusion_reason::lag_bytes);  // was too far behind
}

TEST_CASE("a replica back after being down ramps up; the first sight of a replica does not") {
  cluster c(3, scoring_config{});
  CHECK(c.explain().backends[1].slow_start_factor == 1.0);
  c.reachable[1] = false;
  c.advance(1s);
  c.reachable[1] = true;
  c.probe_all();
  const time_point back = c.now;
  CHECK(c.explain().backends[1].slow_start_factor == Approx(0.1));
  c.advance(5s);
  CHECK(c.explain().backends[1].slow_start_factor == Approx((c.now - back) / 10.0s));
  c.advance(5s);
  CHECK(c.explain().backends[1].slow_start_factor == 1.0);
}

TEST_CASE("one failed probe is tolerated; probe_failures_to_down in a row make a backend unreachable") {
  cluster c(3, scoring_config{});
  c.reachable[1] = false;
  c.probe_all();
  scripted_source rng{0};
  choice_explanation why;
  c.scorer.choose(c.now, rng, &why);
  CHECK(why.backends[1].reason == exclusion_reason::none);  // one late probe on a loaded machine
  CHECK(c.scorer.topology(c.now).primary == 0u);
  c.reachable[0] = false;
  c.probe_all();
  CHECK(c.scorer.topology(c.now).primary == 0u);  // the primary too: writes go on
  c.probe_all();
  c.scorer.choose(c.now, rng, &why);
  CHECK(why.backends[1].reason == exclusion_reason::unreachable);
  CHECK(c.scorer.topology(c.now).state == topology_state::no_primary);
  c.reachable[1] = true;
  c.probe_all();
  c.scorer.choose(c.now, rng, &why);
  CHECK(why.backends[1].reason != exclusion_reason::unreachable);  // one good probe is enough to return
}
