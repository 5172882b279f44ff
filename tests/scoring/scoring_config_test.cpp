// scoring_config defaults are valid and every out-of-range field is refused by name.
#include <catch2/catch.hpp>

#include <functional>
#include <stdexcept>
#include <string>

#include "scoring/scoring_config.hpp"
#include "scoring/replica_scorer.hpp"

using namespace sluice::scoring;
using namespace std::chrono_literals;

TEST_CASE("defaults are valid") { CHECK_NOTHROW(validate(scoring_config{})); }

TEST_CASE("each field out of range is named") {
  struct row {
    const char* field;
    std::function<void(scoring_config&)> spoil;
  };
  const auto r = GENERATE_COPY(values<row>({
      {"max_lag_bytes", [](scoring_config& c) { c.max_lag_bytes = 0; }},
      {"max_lag_time", [](scoring_config& c) { c.max_lag_time = 0ms; }},
      {"lag_penalty_weight", [](scoring_config& c) { c.lag_penalty_weight = -1; }},
      {"lag_penalty_exponent", [](scoring_config& c) { c.lag_penalty_exponent = 0; }},
      {"probe_staleness", [](scoring_config& c) { c.probe_staleness = 0ms; }},
      {"heartbeat_max_age", [](scoring_config& c) { c.heartbeat_max_age = 0ms; }},
      {"ewma_tau", [](scoring_config& c) { c.ewma_tau = 0ms; }},
      {"probe_ewma_tau", [](scoring_config& c) { c.probe_ewma_tau = -1ms; }},
      {"outlier_window", [](scoring_config& c) { c.outlier_window = 0ms; }},
      {"outlier_min_samples", [](scoring_config& c) { c.outlier_min_samples = 0.5; }},
      {"outlier_exit_multiple", [](scoring_config& c) { c.outlier_exit_multiple = 0.9; }},
      {"outlier_enter_multiple", [](scoring_config& c) { c.outlier_enter_multiple = 1.5; }},
      {"outlier_min_excess", [](scoring_config& c) { c.outlier_min_excess = -1us; }},
      {"outlier_min_dwell", [](scoring_config& c) { c.outlier_min_dwell = -1ms; }},
      {"error_rate_threshold", [](scoring_config& c) { c.error_rate_threshold = 0; }},
      {"error_rate_threshold", [](scoring_config& c) { c.error_rate_threshold = 1.5; }},
      {"consecutive_failures", [](scoring_config& c) { c.consecutive_failures = 0; }},
      {"base_ejection_time", [](scoring_config& c) { c.base_ejection_time = 0ms; }},
      {"max_ejection_time", [](scoring_config& c) { c.max_ejection_time = 1ms; }},
      {"ejection_memory", [](scoring_config& c) { c.ejection_memory = -1ms; }},
      {"max_ejected_percent", [](scoring_config& c) { c.max_ejected_percent = 101; }},
      {"evaluation_interval", [](scoring_config& c) { c.evaluation_interval = -1ms; }},
      {"slow_start", [](scoring_config& c) { c.slow_start = -1ms; }},
      {"slow_start_min_weight", [](scoring_config& c) { c.slow_start_min_weight = 0; }},
      {"slow_start_aggression", [](scoring_config& c) { c.slow_start_aggression = 0; }},
  }));
  scoring_config config;
  r.spoil(config);
  try {
    validate(config);
    FAIL("accepted a bad " << r.field);
  } catch (const std::invalid_argument& e) {
    CHECK_THAT(e.what(), Catch::Contains(r.field));
  }
  CHECK_THROWS_AS(replica_scorer(3, config), std::invalid_argument);
}

TEST_CASE("more backends than max_backends are refused") {
  CHECK_THROWS_AS(replica_scorer(max_backends + 1, scoring_config{}), std::invalid_argument);
  CHECK_NOTHROW(replica_scorer(max_backends, scoring_config{}));
  CHECK_NOTHROW(replica_scorer(0, scoring_config{}));
}
