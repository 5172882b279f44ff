// Every threshold of replica scoring, with its default. The router's config loader maps the
// [scoring] TOML table onto this; docs/scoring.md justifies each default.
#pragma once

#include <chrono>
#include <cstdint>

namespace sluice::scoring {

struct scoring_config {
  using milliseconds = std::chrono::milliseconds;

  // --- Hard limits: a replica beyond either never serves reads ---------------------------------
  // Replay LSN this many bytes behind the primary's LSN excludes. Default 16 MiB: one WAL segment at
  // the default wal_segment_size.
  std::uint64_t max_lag_bytes = 16ULL * 1024 * 1024;
  // Data this old excludes (only when the time lag is known). Default 10 s: ten times a healthy
  // replica's worst and a third of PostgreSQL's max_standby_streaming_delay (30 s), so a replica whose
  // replay is paused by a query conflict leaves the pool well before PostgreSQL resolves it.
  milliseconds max_lag_time{10'000};

  // --- Soft lag penalty below the limits ---------------------------------------------------------
  // cost *= 1 + lag_penalty_weight * f^lag_penalty_exponent, where f = the larger of bytes/max_lag_bytes
  // and time/max_lag_time, capped at 1. Defaults 3 and 2: a replica at the limit costs 4x, one at half
  // of it 1.75x, one at a tenth of it 1.03x (small lags barely matter, growing ones increasingly).
  double lag_penalty_weight = 3.0;
  double lag_penalty_exponent = 2.0;

  // --- Probes ------------------------------------------------------------------------------------
  // A probe older than this says nothing: the backend counts as unknown (no reads, no primary claim).
  // Default 1 s = 4 probe intervals of 250 ms: tolerates a late probe or two, catches a hung server
  // within a second. Must exceed the prober's own timeout plus probe_interval.
  milliseconds probe_staleness{1'000};
  // Heartbeat lag is ignored when the primary's newest heartbeat is older than this (writer stuck).
  // Default 2 s = 8 heartbeat intervals.
  milliseconds heartbeat_max_age{2'000};

  // --- Latency -----------------------------------------------------------------------------------
  // Time constant of the statement-latency peak EWMA (half-life tau * ln 2). Default 5 s: long
  // enough to average many statements at moderate rates, short enough that a replica recovering
  // from a noisy neighbour regains its share within ~10 s (tau * ln(slowdown)).
  milliseconds ewma_tau{5'000};
  // Time constant of the probe-RTT peak EWMA. Default 2 s: 8 probes; probes are regular, so a
  // shorter memory is enough, and a single slow probe should not weigh on a replica for long.
  milliseconds probe_ewma_tau{2'000};

  // --- Outlier ejection --------------------------------------------------------------------------
  // Window of the evidence (mean latency, error rate, sample counts) ejection acts on. Default 10 s
  // (Envoy's default analysis interval).
  milliseconds outlier_window{10'000};
  // Samples (decayed, within the window) a replica needs before its latency or error rate is judged,
  // and peers need to count in the median. Default 10.
  double outlier_min_samples = 10.0;
  // A replica becomes suspect when its mean latency (statements, or probes) is at least this multiple
  // of its peers' median and at least outlier_min_excess above it. Default 3.
  double outlier_enter_multiple = 3.0;
  // A suspect replica is cleared only when back at or below this multiple (hysteresis), and an
  // ejected one returns only when its probes are. Default 1.5.
  double outlier_exit_multiple = 1.5;
  // Absolute floor of the difference to the median: sub-millisecond noise on localhost is 3x of
  // almost nothing. Default 5 ms.
  std::chrono::microseconds outlier_min_excess{5'000};
  // A replica must stay suspect this long before it is ejected for latency. Default 2 s.
  milliseconds outlier_min_dwell{2'000};
  // Failed fraction of statements (within the window, with min samples) that ejects. Default 0.2:
  // failures here are the backend's fault (connection loss, 57P01, recovery conflicts), not SQL
  // errors, so one in five is far beyond healthy.
  double error_rate_threshold = 0.2;
  // This many failures in a row eject at once, without min samples. Default 5 (Envoy's
  // consecutive_5xx).
  std::uint32_t consecutive_failures = 5;
  // First ejection lasts this long; each repeat within ejection_memory doubles it, up to
  // max_ejection_time. Defaults 10 s and 300 s (Envoy: 30 s base, 300 s max; ours is shorter
  // because probes every 250 ms tell us more than Envoy knows).
  milliseconds base_ejection_time{10'000};
  milliseconds max_ejection_time{300'000};
  // A replica that stayed in the pool this long after its last return is forgiven: its next ejection
  // is a first one again. Default 300 s.
  milliseconds ejection_memory{300'000};
  // At most this percentage of replicas is ejected at once (at least one, if above 0); 0 turns
  // ejection off. Default 50: ejection must never turn a cluster-wide problem into an overloaded
  // primary.
  std::uint32_t max_ejected_percent = 50;
  // Two sampled costs within this fraction of each other are a tie, broken uniformly at random.
  // Without it, a replica a few microseconds faster at idle takes every read, and the other's
  // passive latency signal goes stale. Default 0.10: measurement noise, not a real difference (a
  // loaded or slow replica differs by 2x and more).
  double cost_tie_tolerance = 0.10;
  // Latencies below this count as this in the cost: they differ by noise, not by anything a client
  // notices. Without it, light traffic (one statement at a time, nothing in flight) is a plain
  // comparison of sub-millisecond latencies, and a replica 0.1 ms faster takes every read. In-flight
  // counts and lag still tell such replicas apart. Default 1 ms (a round trip within a data centre);
  // 0 turns it off.
  std::chrono::microseconds latency_noise_floor{1'000};
  // Outlier analysis runs at most this often (choose() and on_probe() run it when due). Default
  // 250 ms, one probe interval.
  milliseconds evaluation_interval{250};

  // A backend counts as unreachable after this many probes in a row failed. One probe that times out
  // on a loaded machine (the server answering, the probe late) must not stop writes or eject a
  // replica: statements that fail to connect mark a backend down at once anyway. Default 2.
  std::uint32_t probe_failures_to_down = 2;

  // --- Slow start --------------------------------------------------------------------------------
  // A replica returning from ejection, or reachable again after being down, ramps up over this
  // long. 0 turns slow start off. Default 10 s.
  milliseconds slow_start{10'000};
  // Share factor at the start of the ramp (Envoy's min_weight_percent). Default 0.1.
  double slow_start_min_weight = 0.1;
  // Ramp shape: factor = (elapsed / slow_start)^(1 / aggression). 1 is linear; larger ramps faster
  // early (Envoy's aggression). Default 1.
  double slow_start_aggression = 1.0;
};

// Throws std::invalid_argument naming the first field that is out of range.
void validate(const scoring_config& config);

}  // namespace sluice::scoring
