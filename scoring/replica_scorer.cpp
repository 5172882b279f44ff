// Replica choice: hard filters, power of two choices on cost, outlier ejection, slow start
// (see replica_scorer.hpp and docs/scoring.md).
#include "scoring/replica_scorer.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace sluice::scoring {

namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

// Median of values[0..count), count >= 1. Reorders the scratch array it is given.
double median(std::array<double, max_backends>& values, std::size_t count) noexcept {
  const auto begin = values.begin();
  const auto middle = begin + static_cast<std::ptrdiff_t>(count / 2);
  std::nth_element(begin, middle, begin + static_cast<std::ptrdiff_t>(count));
  if (count % 2 == 1) return *middle;
  const double upper = *middle;
  const double lower = *std::max_element(begin, middle);
  return (lower + upper) / 2;
}

// Outlier evidence is kept as logarithms, so window means are geometric means: a persistent k-fold
// slowdown shows as k, while one heavy statement among sixty moves the figure by about a tenth
// instead of the several-fold an arithmetic mean would show. Values below 1 us count as 1 us.
double log_latency(double microseconds) noexcept { return std::log(std::max(microseconds, 1.0)); }

// How one signal of one replica compares with its peers' median.
struct comparison {
  bool measured = false;  // the replica and at least one peer have enough samples
  double value = 0;
  double median = 0;
  [[nodiscard]] double ratio() const noexcept {
    return median > 0 ? value / median : std::numeric_limits<double>::infinity();
  }
};

}  // namespace

replica_scorer::backend::backend(const scoring_config& config)
    : probe_rtt(config.probe_ewma_tau),
      probe_window(config.outlier_window),
      latency(config.ewma_tau),
      statement_window(config.outlier_window) {}

replica_scorer::replica_scorer(std::size_t backend_count, const scoring_config& config)
    : config_(config) {
  validate(config_);
  if (backend_count > max_backends) {
    throw std::invalid_argument("scoring: at most " + std::to_string(max_backends) +
                                " backends are supported, got " + std::to_string(backend_count));
  }
  backends_.reserve(backend_count);
  for (std::size_t index = 0; index < backend_count; ++index) backends_.emplace_back(config_);
  probes_.resize(backend_count);
}

// --- Signals ------------------------------------------------------------------------------------

void replica_scorer::on_probe(std::size_t index, const probe_result& probe) noexcept {
  if (index >= backends_.size()) return;
  backend& b = backends_[index];
  const std::optional<probe_result>& previous = probes_[index];
  if (previous && probe.at < previous->at) return;  // delivered late: we already know better

  if (!probe.reachable && previous && previous->reachable &&
      ++b.probe_failures < std::max<std::uint32_t>(config_.probe_failures_to_down, 1)) {
    // Not yet: keep the last good picture (it goes stale after probe_staleness all the same).
    return;
  }
  if (probe.reachable) {
    b.probe_failures = 0;
    // Back after being down or silent: its cache may be cold, so it ramps up.
    const bool was_down =
        previous && (!previous->reachable || probe.at - previous->at > config_.probe_staleness);
    if (was_down && b.ever_reachable && config_.slow_start.count() > 0) b.warmup_since = probe.at;
    b.ever_reachable = true;
    b.known_replica = probe.in_recovery;
    const auto rtt_us = static_cast<double>(std::max<std::int64_t>(probe.rtt.count(), 0));
    b.probe_rtt.observe(probe.at, rtt_us);
    b.probe_window.add_success(probe.at, log_latency(rtt_us));
  }
  probes_[index] = probe;
  topology_from_ = time_point::max();  // topology() decides again
  topology_until_ = time_point::min();

  const topology_view view = decide_topology(probes_, probe.at, config_.probe_staleness);
  primary_ = view.primary;  // set only for single_primary
  if (primary_) {
    if (index == *primary_) {
      if (history_owner_ != primary_) {
        history_.clear();
        history_owner_ = primary_;
      }
      history_.record(server_instant(probe), probe.current_lsn);
      for (std::size_t replica = 0; replica < backends_.size(); ++replica) {
        if (replica != index) recompute_lag(replica);
      }
    } else {
      recompute_lag(index);
    }
  }
  // No single primary: lags stay as last measured. No writes can happen through sluice meanwhile,
  // so a replica does not fall further behind anything a client of sluice wrote.
  evaluate(probe.at);
}

void replica_scorer::recompute_lag(std::size_t replica) noexcept {
  const std::optional<probe_result>& probe = probes_[replica];
  if (!primary_ || !probe || !probe->reachable || !probe->in_recovery) return;
  const probe_result& primary = *probes_[*primary_];
  backend& b = backends_[replica];
  b.lag = compute_lag(primary, *probe, &history_, config_.heartbeat_max_age);
  b.lag_measured = true;
}

void replica_scorer::on_dispatch(std::size_t index) noexcept {
  if (index >= backends_.size()) return;
  std::uint32_t& in_flight = backends_[index].in_flight;
  if (in_flight < std::numeric_limits<std::uint32_t>::max()) ++in_flight;
}

void replica_scorer::on_complete(std::size_t index, time_point now,
                                 std::chrono::microseconds latency, bool failed) noexcept {
  if (index >= backends_.size()) return;
  backend& b = backends_[index];
  if (b.in_flight > 0) --b.in_flight;
  const auto latency_us = static_cast<double>(std::max<std::int64_t>(latency.count(), 0));
  if (!failed) {
    b.latency.observe(now, latency_us);
    b.statement_window.add_success(now, log_latency(latency_us));
    b.consecutive_failures = 0;
    return;
  }
  // A failure may make the backend look slower, never faster: fast failures must not attract load.
  if (b.latency.empty() || latency_us > b.latency.value()) b.latency.observe(now, latency_us);
  record_failure(index, now);
}

void replica_scorer::on_connect_failure(std::size_t index, time_point now) noexcept {
  if (index >= backends_.size()) return;
  record_failure(index, now);
}

void replica_scorer::record_failure(std::size_t index, time_point now) noexcept {
  backend& b = backends_[index];
  b.statement_window.add_failure(now);
  if (b.consecutive_failures < std::numeric_limits<std::uint32_t>::max()) ++b.consecutive_failures;
  // Only replicas are ejected: ejection is about reads, and the primary is never a read target.
  if (b.outlier == outlier_state::ejected || !b.known_replica) return;
  if (b.consecutive_failures >= config_.consecutive_failures) {
    if (can_eject()) {
      eject(index, now, ejection_reason::consecutive_failures,
            static_cast<double>(b.consecutive_failures),
            static_cast<double>(config_.consecutive_failures));
    }
    return;
  }
  const double rate = b.statement_window.failure_rate();
  if (b.statement_window.count(now) >= config_.outlier_min_samples &&
      rate >= config_.error_rate_threshold && can_eject()) {
    eject(index, now, ejection_reason::error_rate, rate, config_.error_rate_threshold);
  }
}

void replica_scorer::set_drained(std::size_t index, bool drained) noexcept {
  if (index < backends_.size()) backends_[index].drained = drained;
}

void replica_scorer::set_serves_reads(std::size_t index, bool serves) noexcept {
  if (index < backends_.size()) backends_[index].serves_reads = serves;
}

// --- Assessment ---------------------------------------------------------------------------------

exclusion_reason replica_scorer::base_reason(std::size_t index, time_point now) const noexcept {
  const std::optional<probe_result>& probe = probes_[index];
  const backend& b = backends_[index];
  if (!probe) return exclusion_reason::no_probe;
  if (!is_fresh(*probe, now, config_.probe_staleness)) return exclusion_reason::probe_stale;
  if (!probe->reachable) return exclusion_reason::unreachable;
  if (!probe->in_recovery) return exclusion_reason::not_in_recovery;
  if (!b.serves_reads) return exclusion_reason::not_replica;
  if (b.drained) return exclusion_reason::drained;
  return exclusion_reason::none;
}

// The latency a statement sent now should expect, microseconds. Two signals:
//  - statement latency (peak EWMA of what sluice measured), the one that sees disk contention;
//  - probe RTT (peak EWMA), a floor: no statement returns faster than a trivial query.
// With no statement for a while, the statement figure relaxes toward the probe floor with the same
// time constant (Finagle relaxes toward zero), so a replica that lost its traffic is retried once its
// probes look normal, while one whose probes are slow too stays avoided. At least 1 us, so that an
// unmeasured backend's in-flight count still counts.
double replica_scorer::latency_us(const backend& b, time_point now) const noexcept {
  const double probe = b.probe_rtt.empty() ? 0.0 : b.probe_rtt.value();
  const double statement = b.latency.empty() ? 0.0 : b.latency.decayed_toward(now, probe);
  return std::max({probe, statement, 1.0});
}

// 1 + weight * f^exponent, f = the lag as a fraction of its hard limit (the larger of bytes and time).
double replica_scorer::lag_penalty(const backend& b) const noexcept {
  if (!b.lag_measured) return 1.0;
  double fraction =
      static_cast<double>(b.lag.bytes) / static_cast<double>(config_.max_lag_bytes);
  if (b.lag.time_known) {
    fraction = std::max(fraction, static_cast<double>(b.lag.time.count()) /
                                      static_cast<double>(config_.max_lag_time.count()));
  }
  fraction = std::min(fraction, 1.0);
  if (fraction <= 0) return 1.0;
  return 1.0 + config_.lag_penalty_weight * std::pow(fraction, config_.lag_penalty_exponent);
}

// Envoy's slow start: max(min_weight, (elapsed / window)^(1 / aggression)).
double replica_scorer::slow_start_factor(const backend& b, time_point now) const noexcept {
  if (!b.warmup_since || config_.slow_start.count() <= 0) return 1.0;
  const auto elapsed = now - *b.warmup_since;
  if (elapsed >= config_.slow_start) return 1.0;
  const double time_factor =
      std::max(0.0, std::chrono::duration<double>(elapsed).count() /
                        std::chrono::duration<double>(config_.slow_start).count());
  const double factor = std::pow(time_factor, 1.0 / config_.slow_start_aggression);
  return std::max(config_.slow_start_min_weight, factor);
}

replica_scorer::assessment replica_scorer::assess(std::size_t index, time_point now,
                                                  backend_set exclude) const noexcept {
  const backend& b = backends_[index];
  assessment a;
  a.reason = base_reason(index, now);
  if (a.reason == exclusion_reason::none) {
    if (b.outlier == outlier_state::ejected) {
      a.reason = exclusion_reason::ejected;
    } else if (b.lag_measured && b.lag.bytes > config_.max_lag_bytes) {
      a.reason = exclusion_reason::lag_bytes;
    } else if (b.lag_measured && b.lag.time_known && b.lag.time > config_.max_lag_time) {
      a.reason = exclusion_reason::lag_time;
    } else if (exclude.test(index)) {
      a.reason = exclusion_reason::excluded_by_caller;
    }
  }
  a.probe_rtt_us = b.probe_rtt.empty() ? 0.0 : b.probe_rtt.value();
  a.statement_latency_us = b.latency.empty() ? 0.0 : b.latency.decayed_toward(now, a.probe_rtt_us);
  a.latency_us = latency_us(b, now);
  a.lag_penalty = lag_penalty(b);
  a.slow_start = slow_start_factor(b, now);
  const double cost_latency_us =
      std::max(a.latency_us, static_cast<double>(config_.latency_noise_floor.count()));
  a.cost = cost_latency_us * (static_cast<double>(b.in_flight) + 1.0) * a.lag_penalty;
  return a;
}

// --- Choice -------------------------------------------------------------------------------------

// Power of two choices (Mitzenmacher, "The Power of Two Choices in Randomized Load Balancing",
// 2001): sample two distinct candidates uniformly and take the cheaper. Compared with picking the
// global minimum (MaxScale's adaptive_routing), it does not send every worker's next statement to the
// same replica while their views lag reality, and it still avoids the bad ones: a replica loses every
// pairing in which it costs more. Finagle's P2C with PeakEwma and Envoy's least_request work so.
//
// Slow start is applied as admission, not as cost: a ramping winner is kept with probability equal to
// its factor, else the other sample serves. Dividing the cost by the factor would act as a threshold
// under light load (a replica never wins a pairing against an equal peer until the factor reaches 1),
// whereas admission scales its share by the factor whatever the load.
std::optional<std::size_t> replica_scorer::choose(time_point now, random_source& rng,
                                                  choice_explanation* why,
                                                  backend_set exclude) noexcept {
  evaluate(now);

  std::array<std::size_t, max_backends> candidates{};
  std::array<double, max_backends> costs{};
  std::array<double, max_backends> factors{};
  std::size_t count = 0;
  if (why != nullptr) fill_common(now, *why);
  for (std::size_t index = 0; index < backends_.size(); ++index) {
    const assessment a = assess(index, now, exclude);
    if (why != nullptr) fill(index, now, a, why->primary, why->backends[index]);
    if (a.reason != exclusion_reason::none) continue;
    candidates[count] = index;
    costs[count] = a.cost;
    factors[count] = a.slow_start;
    ++count;
  }

  std::optional<std::size_t> chosen;
  std::optional<std::size_t> first;
  std::optional<std::size_t> second;
  bool deferred = false;
  if (count == 1) {
    chosen = candidates[0];
  } else if (count >= 2) {
    const auto a = static_cast<std::size_t>(uniform_below(rng, count));
    auto b = static_cast<std::size_t>(uniform_below(rng, count - 1));
    if (b >= a) ++b;
    // A tie (within cost_tie_tolerance) goes to the first sample, which is uniformly random.
    const bool tie = std::max(costs[a], costs[b]) <= std::min(costs[a], costs[b]) * (1.0 + config_.cost_tie_tolerance);
    std::size_t winner = (tie || costs[a] <= costs[b]) ? a : b;
    const std::size_t other = winner == a ? b : a;
    if (factors[winner] < 1.0 && uniform01(rng) >= factors[winner]) {
      winner = other;
      deferred = true;
    }
    first = candidates[a];
    second = candidates[b];
    chosen = candidates[winner];
  }

  if (why != nullptr) {
    why->candidate_count = count;
    why->first_sample = first;
    why->second_sample = second;
    why->chosen = chosen;
    why->slow_start_deferred = deferred;
  }
  return chosen;
}

// --- Observation --------------------------------------------------------------------------------

void replica_scorer::fill_common(time_point now, choice_explanation& out) const noexcept {
  const topology_view view = topology(now);
  out.at = now;
  out.topology = view.state;
  out.primary = view.primary;
  out.backend_count = backends_.size();
  out.candidate_count = 0;
  out.first_sample.reset();
  out.second_sample.reset();
  out.chosen.reset();
  out.slow_start_deferred = false;
}

void replica_scorer::fill(std::size_t index, time_point now, const assessment& a,
                          const std::optional<std::size_t>& primary,
                          backend_explanation& out) const noexcept {
  const backend& b = backends_[index];
  const std::optional<probe_result>& probe = probes_[index];
  out.reason = a.reason;
  out.is_primary = primary == index;
  out.latency_us = a.latency_us;
  out.statement_latency_us = a.statement_latency_us;
  out.probe_rtt_us = a.probe_rtt_us;
  out.in_flight = b.in_flight;
  out.lag_measured = b.lag_measured;
  out.lag = b.lag;
  out.lag_penalty = a.lag_penalty;
  out.slow_start_factor = a.slow_start;
  out.cost = probe ? a.cost : 0.0;
  out.outlier = b.outlier;
  out.last_ejection = b.last_ejection;
  out.ejected_until = b.ejected_until;
  out.recent_ejections = b.recent_ejections;
  out.ejections_total = b.ejections_total;
  out.window_samples = b.statement_window.count(now);
  out.window_typical_latency_us =
      b.statement_window.successes(now) > 0 ? std::exp(b.statement_window.mean()) : 0.0;
  out.window_error_rate = b.statement_window.failure_rate();
  out.consecutive_failures = b.consecutive_failures;
}

void replica_scorer::explain(time_point now, choice_explanation& out) const noexcept {
  fill_common(now, out);
  std::size_t count = 0;
  for (std::size_t index = 0; index < backends_.size(); ++index) {
    const assessment a = assess(index, now, {});
    fill(index, now, a, out.primary, out.backends[index]);
    if (a.reason == exclusion_reason::none) ++count;
  }
  out.candidate_count = count;
}

topology_view replica_scorer::topology(time_point now) const noexcept {
  if (topology_from_ <= now && now <= topology_until_) return topology_cache_;
  topology_cache_ = decide_topology(probes_, now, config_.probe_staleness);
  // A fresh probe stays fresh until at + staleness; a stale one stays stale as time goes on.
  topology_from_ = now;
  topology_until_ = time_point::max();
  for (const auto& probe : probes_) {
    if (!probe || !is_fresh(*probe, now, config_.probe_staleness)) continue;
    topology_until_ = std::min(topology_until_, probe->at + config_.probe_staleness);
  }
  return topology_cache_;
}

std::size_t replica_scorer::take_events(std::span<outlier_event> out) noexcept {
  const std::size_t taken = std::min(out.size(), events_size_);
  for (std::size_t i = 0; i < taken; ++i) {
    out[i] = events_[events_head_];
    events_head_ = (events_head_ + 1) % event_capacity;
  }
  events_size_ -= taken;
  return taken;
}

void replica_scorer::push_event(const outlier_event& event) noexcept {
  if (events_size_ == event_capacity) {
    events_head_ = (events_head_ + 1) % event_capacity;
    --events_size_;
    ++events_dropped_;
  }
  events_[(events_head_ + events_size_) % event_capacity] = event;
  ++events_size_;
}

// --- Outlier ejection ---------------------------------------------------------------------------

void replica_scorer::evaluate(time_point now) noexcept {
  if (last_evaluation_ && now - *last_evaluation_ < config_.evaluation_interval) return;
  run_evaluation(now);
}

// Envoy's max_ejection_percent, but never below one replica: with one or two replicas a single
// broken one must still be removable (reads then go to the other, or to the primary).
bool replica_scorer::can_eject() const noexcept {
  if (config_.max_ejected_percent == 0) return false;
  std::size_t replicas = 0;
  std::size_t ejected = 0;
  for (const backend& b : backends_) {
    if (b.known_replica) ++replicas;
    if (b.outlier == outlier_state::ejected) ++ejected;
  }
  const std::size_t allowed = std::max<std::size_t>(1, replicas * config_.max_ejected_percent / 100);
  return ejected < allowed;
}

// Backoff: base_ejection_time x 2^(repeat - 1), capped at max_ejection_time; the repeat count
// restarts after ejection_memory in the pool. (Envoy multiplies the base by the ejection count
// instead; doubling reaches the cap sooner for a replica that keeps failing.)
void replica_scorer::eject(std::size_t index, time_point now, ejection_reason reason,
                           double observed, double threshold) noexcept {
  backend& b = backends_[index];
  if (b.recent_ejections > 0 && b.last_return && now - *b.last_return > config_.ejection_memory) {
    b.recent_ejections = 0;
  }
  ++b.recent_ejections;
  ++b.ejections_total;
  const unsigned doublings = std::min(b.recent_ejections - 1, 30u);
  const std::int64_t base_ms = config_.base_ejection_time.count();
  const std::int64_t max_ms = config_.max_ejection_time.count();
  const std::int64_t scaled =
      base_ms > (max_ms >> doublings) ? max_ms : std::min(max_ms, base_ms << doublings);
  const milliseconds duration(scaled);

  b.outlier = outlier_state::ejected;
  b.last_ejection = reason;
  b.ejected_until = now + duration;
  b.suspect_since.reset();
  b.warmup_since.reset();
  push_event({now, index, outlier_event::kind::ejected, reason, observed, threshold, duration,
              b.recent_ejections});
}

void replica_scorer::return_to_pool(std::size_t index, time_point now) noexcept {
  backend& b = backends_[index];
  b.outlier = outlier_state::active;
  b.last_return = now;
  b.statement_window.reset();  // old evidence: it must earn a new ejection with new statements
  b.consecutive_failures = 0;
  b.suspect_since.reset();
  if (config_.slow_start.count() > 0) b.warmup_since = now;
  push_event({now, index, outlier_event::kind::returned, b.last_ejection, 0, 0, milliseconds(0),
              b.recent_ejections});
}

// One outlier analysis pass, on the windows' geometric means. Latency outliers need evidence: the replica and at least one peer with
// outlier_min_samples in the window; peers are the other replicas in the pool. Hysteresis and dwell:
// suspect at >= enter multiple (and >= min excess above the median), cleared only at <= exit
// multiple, ejected once suspect for outlier_min_dwell and still above. Returns: backoff over and
// probes at or below the exit multiple of the peers' median.
void replica_scorer::run_evaluation(time_point now) noexcept {
  last_evaluation_ = now;
  const std::size_t n = backends_.size();
  const double min_samples = config_.outlier_min_samples;
  const double min_excess = static_cast<double>(config_.outlier_min_excess.count());

  std::array<bool, max_backends> in_pool{};
  std::array<bool, max_backends> has_statements{};
  std::array<bool, max_backends> has_probes{};
  std::array<double, max_backends> statement_mean{};
  std::array<double, max_backends> probe_mean{};
  for (std::size_t i = 0; i < n; ++i) {
    backend& b = backends_[i];
    if (b.warmup_since && now - *b.warmup_since >= config_.slow_start) b.warmup_since.reset();
    in_pool[i] = b.known_replica && b.outlier != outlier_state::ejected &&
                 base_reason(i, now) == exclusion_reason::none;
    has_statements[i] = b.statement_window.successes(now) >= min_samples;
    has_probes[i] = b.probe_window.count(now) >= min_samples;
    statement_mean[i] = std::exp(b.statement_window.mean());
    probe_mean[i] = std::exp(b.probe_window.mean());
  }

  std::array<double, max_backends> scratch{};
  const auto compare = [&](std::size_t self, const std::array<bool, max_backends>& has,
                           const std::array<double, max_backends>& mean) {
    comparison result;
    if (!has[self]) return result;
    std::size_t peers = 0;
    for (std::size_t j = 0; j < n; ++j) {
      if (j != self && in_pool[j] && has[j]) scratch[peers++] = mean[j];
    }
    if (peers == 0) return result;
    result.measured = true;
    result.value = mean[self];
    result.median = median(scratch, peers);
    return result;
  };
  const auto above = [&](const comparison& c) {
    return c.measured && c.value >= config_.outlier_enter_multiple * c.median &&
           c.value - c.median >= min_excess;
  };
  const auto below = [&](const comparison& c) {
    return c.value <= config_.outlier_exit_multiple * c.median || c.value - c.median < min_excess;
  };

  // Returns first, so that a returning replica is not judged on its pre-ejection evidence.
  for (std::size_t i = 0; i < n; ++i) {
    backend& b = backends_[i];
    if (b.outlier != outlier_state::ejected || now < b.ejected_until) continue;
    const comparison probes = compare(i, has_probes, probe_mean);
    if (!probes.measured || below(probes)) return_to_pool(i, now);
  }

  struct pending {
    std::size_t index = 0;
    ejection_reason reason = ejection_reason::none;
    double severity = 0;
    double observed = 0;
    double threshold = 0;
  };
  std::array<pending, max_backends> to_eject{};
  std::size_t pending_count = 0;
  for (std::size_t i = 0; i < n; ++i) {
    backend& b = backends_[i];
    if (!in_pool[i]) continue;
    const comparison statements = compare(i, has_statements, statement_mean);
    const comparison probes = compare(i, has_probes, probe_mean);
    const bool is_above = above(statements) || above(probes);
    const bool is_below = (statements.measured || probes.measured) &&
                          (!statements.measured || below(statements)) &&
                          (!probes.measured || below(probes));
    if (is_above) {
      if (!b.suspect_since) b.suspect_since = now;
      b.outlier = outlier_state::suspect;
    } else if (is_below) {
      b.suspect_since.reset();
      b.outlier = outlier_state::active;
    }
    if (!is_above || !b.suspect_since || now - *b.suspect_since < config_.outlier_min_dwell) continue;
    const bool by_statements =
        above(statements) && (!above(probes) || statements.ratio() >= probes.ratio());
    const comparison& worst = by_statements ? statements : probes;
    to_eject[pending_count++] = {i, by_statements ? ejection_reason::latency
                                                  : ejection_reason::probe_latency,
                                 worst.ratio(), worst.value,
                                 config_.outlier_enter_multiple * worst.median};
  }

  // Worst first, while the cap allows.
  std::sort(to_eject.begin(), to_eject.begin() + static_cast<std::ptrdiff_t>(pending_count),
            [](const pending& x, const pending& y) { return x.severity > y.severity; });
  for (std::size_t k = 0; k < pending_count; ++k) {
    if (!can_eject()) break;
    const pending& p = to_eject[k];
    eject(p.index, now, p.reason, p.observed, p.threshold);
  }
}

}  // namespace sluice::scoring
