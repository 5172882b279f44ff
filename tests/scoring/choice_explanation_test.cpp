// The explanation of a choice: per-backend reasons and figures, samples and winner, and its text
// rendering.
#include <catch2/catch.hpp>

#include <memory>

#include "scoring/choice_explanation.hpp"
#include "scoring/replica_scorer.hpp"
#include "scoring_test_support.hpp"

using namespace sluice::scoring;
using namespace sluice::scoring::testing;

TEST_CASE("the explanation shows every backend, the candidates' costs and the winner") {
  cluster c(5, scoring_config{});
  c.scorer.set_drained(2, true);
  c.lag_bytes[3] = 17 * 1024 * 1024;
  c.lag_bytes[4] = 4 * 1024 * 1024;  // a quarter of the limit: penalty 1 + 3 x 0.25^2
  c.probe_all();
  c.statements(1, 2ms, 5);
  c.statements(4, 2ms, 5);
  c.scorer.on_dispatch(1);

  scripted_source rng{0, 0};
  auto why = std::make_unique<choice_explanation>();
  const auto chosen = c.scorer.choose(c.now, rng, why.get());

  CHECK(why->at == c.now);
  CHECK(why->topology == topology_state::single_primary);
  CHECK(why->primary == 0u);
  CHECK(why->backend_count == 5);
  CHECK(why->candidate_count == 2);
  CHECK(why->first_sample == 1u);
  CHECK(why->second_sample == 4u);
  CHECK(why->chosen == chosen);

  const backend_explanation& primary = why->backends[0];
  CHECK(primary.reason == exclusion_reason::not_in_recovery);
  CHECK(primary.is_primary);
  CHECK(primary.probe_rtt_us == 500);

  const backend_explanation& busy = why->backends[1];
  CHECK(busy.reason == exclusion_reason::none);
  CHECK(busy.in_flight == 1);
  CHECK(busy.statement_latency_us == 2'000);
  CHECK(busy.latency_us == 2'000);
  CHECK(busy.lag_measured);
  CHECK(busy.lag.bytes == 0);
  CHECK(busy.lag_penalty == 1.0);
  CHECK(busy.cost == Approx(2'000 * 2));
  CHECK(busy.window_samples == Approx(5));
  CHECK(busy.window_typical_latency_us == Approx(2'000));

  CHECK(why->backends[2].reason == exclusion_reason::drained);
  CHECK(why->backends[3].reason == exclusion_reason::lag_bytes);
  CHECK(why->backends[3].lag.bytes == 17 * 1024 * 1024);

  const backend_explanation& lagging = why->backends[4];
  CHECK(lagging.reason == exclusion_reason::none);
  CHECK(lagging.lag_penalty == Approx(1 + 3 * 0.0625));
  CHECK(lagging.cost == Approx(2'000 * (1 + 3 * 0.0625)));
  CHECK(*chosen == 4u);  // 2.375 ms beats 4 ms

  const std::string text = to_string(*why);
  CAPTURE(text);
  CHECK_THAT(text, Catch::StartsWith("chose 4 from 2 candidate(s); sampled 1 and 4"));
  CHECK_THAT(text, Catch::Contains("[0] not_in_recovery primary"));
  CHECK_THAT(text, Catch::Contains("[2] drained"));
  CHECK_THAT(text, Catch::Contains("[3] lag_bytes"));
  CHECK_THAT(text, Catch::Contains("in_flight=1"));
  CHECK_THAT(text, Catch::Contains("penalty=1.188"));
}

TEST_CASE("explain() gives the same picture without choosing") {
  cluster c(3, scoring_config{});
  for (int i = 0; i < 5; ++i) c.scorer.on_connect_failure(2, c.now);
  choice_explanation why;
  c.scorer.explain(c.now, why);
  CHECK(why.candidate_count == 1);
  CHECK_FALSE(why.chosen.has_value());
  const backend_explanation& out = why.backends[2];
  CHECK(out.reason == exclusion_reason::ejected);
  CHECK(out.outlier == outlier_state::ejected);
  CHECK(out.last_ejection == ejection_reason::consecutive_failures);
  CHECK(out.ejected_until == c.now + 10s);
  CHECK(out.recent_ejections == 1);
  CHECK(out.ejections_total == 1);
  CHECK(out.consecutive_failures == 5);
  CHECK(out.window_error_rate == 1.0);
  CHECK_THAT(to_string(why), Catch::Contains("outlier=ejected last=consecutive_failures"));
}
