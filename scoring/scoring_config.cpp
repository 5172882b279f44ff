// Range checks of scoring_config (see scoring_config.hpp).
#include "scoring/scoring_config.hpp"

#include <stdexcept>
#include <string>

namespace sluice::scoring {

namespace {

void require(bool ok, const char* field, const char* rule) {
  if (!ok) throw std::invalid_argument(std::string("scoring: ") + field + " " + rule);
}

}  // namespace

void validate(const scoring_config& c) {
  using std::chrono::milliseconds;
  require(c.max_lag_bytes > 0, "max_lag_bytes", "must be greater than 0");
  require(c.max_lag_time > milliseconds(0), "max_lag_time", "must be greater than 0");
  require(c.lag_penalty_weight >= 0, "lag_penalty_weight", "must be at least 0");
  require(c.lag_penalty_exponent > 0, "lag_penalty_exponent", "must be greater than 0");
  require(c.probe_staleness > milliseconds(0), "probe_staleness", "must be greater than 0");
  require(c.heartbeat_max_age > milliseconds(0), "heartbeat_max_age", "must be greater than 0");
  require(c.ewma_tau > milliseconds(0), "ewma_tau", "must be greater than 0");
  require(c.probe_ewma_tau > milliseconds(0), "probe_ewma_tau", "must be greater than 0");
  require(c.outlier_window > milliseconds(0), "outlier_window", "must be greater than 0");
  require(c.outlier_min_samples >= 1, "outlier_min_samples", "must be at least 1");
  require(c.outlier_exit_multiple >= 1, "outlier_exit_multiple", "must be at least 1");
  require(c.outlier_enter_multiple > c.outlier_exit_multiple, "outlier_enter_multiple",
          "must be greater than outlier_exit_multiple");
  require(c.outlier_min_excess.count() >= 0, "outlier_min_excess", "must be at least 0");
  require(c.outlier_min_dwell.count() >= 0, "outlier_min_dwell", "must be at least 0");
  require(c.error_rate_threshold > 0 && c.error_rate_threshold <= 1, "error_rate_threshold",
          "must be in (0, 1]");
  require(c.consecutive_failures >= 1, "consecutive_failures", "must be at least 1");
  require(c.base_ejection_time > milliseconds(0), "base_ejection_time", "must be greater than 0");
  require(c.max_ejection_time >= c.base_ejection_time, "max_ejection_time",
          "must be at least base_ejection_time");
  require(c.ejection_memory.count() >= 0, "ejection_memory", "must be at least 0");
  require(c.max_ejected_percent <= 100, "max_ejected_percent", "must be at most 100");
  require(c.cost_tie_tolerance >= 0.0 && c.cost_tie_tolerance < 1.0, "cost_tie_tolerance", "must be in [0, 1)");
  require(c.latency_noise_floor.count() >= 0, "latency_noise_floor", "must be at least 0");
  require(c.evaluation_interval.count() >= 0, "evaluation_interval", "must be at least 0");
  require(c.slow_start.count() >= 0, "slow_start", "must be at least 0");
  require(c.slow_start_min_weight > 0 && c.slow_start_min_weight <= 1, "slow_start_min_weight",
          "must be in (0, 1]");
  require(c.slow_start_aggression > 0, "slow_start_aggression", "must be greater than 0");
}

}  // namespace sluice::scoring
