// Chooses the replica for a read: hard filters, then power of two choices on cost = latency (at
// least a noise floor) x (in flight + 1) x lag penalty, with outlier ejection and slow start.
// Single-threaded, one per worker. The formula, its defaults and its sources: docs/scoring.md.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "scoring/choice_explanation.hpp"
#include "scoring/common.hpp"
#include "scoring/decayed_stats.hpp"
#include "scoring/lag.hpp"
#include "scoring/lsn_history.hpp"
#include "scoring/outlier_event.hpp"
#include "scoring/peak_ewma.hpp"
#include "scoring/probe_result.hpp"
#include "scoring/random_source.hpp"
#include "scoring/scoring_config.hpp"
#include "scoring/topology.hpp"

namespace sluice::scoring {

class replica_scorer {
 public:
  // Backends are indexes 0..backend_count-1 (the config's order), primary included: roles come from
  // probes. Throws std::invalid_argument if backend_count > max_backends or the config is invalid.
  replica_scorer(std::size_t backend_count, const scoring_config& config);

  // --- Signals (an index >= backend_count is ignored) --------------------------------------------

  // A probe result for `backend`. The scorer keeps the latest probe of every backend, decides the
  // primary from them (decide_topology), records the primary's LSN history and recomputes lag.
  // Also runs outlier analysis when due, at probe.at.
  void on_probe(std::size_t backend, const probe_result& probe) noexcept;

  // A statement was sent to `backend` (reads and writes alike: all load counts).
  void on_dispatch(std::size_t backend) noexcept;
  // That statement finished after `latency`. `failed`: the backend failed it for reasons of its own
  // (connection lost, 57P01/57P02/57P03, 40001 recovery conflict, 53xxx, 58xxx, XX000), not an SQL
  // error the statement caused (42xxx, 23xxx, ...): the router classifies. A failure updates the
  // latency only upward, so a replica that fails fast never looks fast.
  void on_complete(std::size_t backend, time_point now, std::chrono::microseconds latency,
                   bool failed) noexcept;
  // Opening a connection to `backend` failed (no on_dispatch/on_complete for it). Counts as a
  // failure for ejection.
  void on_connect_failure(std::size_t backend, time_point now) noexcept;

  // Operator controls.
  void set_drained(std::size_t backend, bool drained) noexcept;
  void set_serves_reads(std::size_t backend, bool serves) noexcept;  // false: never a read target

  // --- Choice -----------------------------------------------------------------------------------

  // The replica for the next read, or nullopt when none qualifies (the caller then applies fallback
  // = "primary" or "error" and counts it). Does not allocate. With `why`, fills it completely.
  // `exclude`: backends to skip this time (e.g. those that just refused a connection).
  std::optional<std::size_t> choose(time_point now, random_source& rng,
                                    choice_explanation* why = nullptr,
                                    backend_set exclude = {}) noexcept;

  // --- Observation ------------------------------------------------------------------------------

  // The same per-backend picture choose() gives, without choosing (admin interface).
  void explain(time_point now, choice_explanation& out) const noexcept;
  // Who is primary at `now`, from the stored probes. Asked before every write (worker::primary), so
  // the answer is kept until a probe arrives or one of the fresh probes gets stale (issue 14: it cost
  // about 300 instructions per transaction); the same as decide_topology for every `now`.
  [[nodiscard]] topology_view topology(time_point now) const noexcept;
  // Outlier events since the last call, oldest first, at most out.size(); the rest stay queued. The
  // queue keeps the latest 64; events_dropped() counts what was lost.
  std::size_t take_events(std::span<outlier_event> out) noexcept;
  [[nodiscard]] std::uint64_t events_dropped() const noexcept { return events_dropped_; }
  // Runs outlier analysis at `now` if evaluation_interval has passed since the last run.
  void evaluate(time_point now) noexcept;

  [[nodiscard]] std::size_t backend_count() const noexcept { return backends_.size(); }
  [[nodiscard]] const scoring_config& config() const noexcept { return config_; }

 private:
  struct backend {
    explicit backend(const scoring_config& config);

    // Probes.
    bool ever_reachable = false;
    bool known_replica = false;  // latest reachable probe said in recovery
    std::uint32_t probe_failures = 0;  // failed probes in a row
    peak_ewma probe_rtt;         // microseconds
    decayed_stats probe_window;  // probe RTTs, for probe-latency outliers
    replica_lag lag{};
    bool lag_measured = false;
    std::optional<time_point> warmup_since;  // slow start running since then
    // Operator.
    bool drained = false;
    bool serves_reads = true;
    // Statements.
    std::uint32_t in_flight = 0;
    peak_ewma latency;               // microseconds
    decayed_stats statement_window;  // latencies and failures, for outliers
    std::uint32_t consecutive_failures = 0;
    // Outliers.
    outlier_state outlier = outlier_state::active;
    ejection_reason last_ejection = ejection_reason::none;
    std::optional<time_point> suspect_since;
    time_point ejected_until{};
    std::optional<time_point> last_return;
    unsigned recent_ejections = 0;
    std::uint64_t ejections_total = 0;
  };

  // What choose() and explain() compute per backend.
  struct assessment {
    exclusion_reason reason = exclusion_reason::no_probe;
    double latency_us = 0;
    double statement_latency_us = 0;
    double probe_rtt_us = 0;
    double lag_penalty = 1.0;
    double slow_start = 1.0;
    double cost = 0;
  };

  [[nodiscard]] assessment assess(std::size_t index, time_point now, backend_set exclude) const
      noexcept;
  // Reasons that do not depend on the outlier state or the caller (the "is it a usable replica").
  [[nodiscard]] exclusion_reason base_reason(std::size_t index, time_point now) const noexcept;
  [[nodiscard]] double latency_us(const backend& b, time_point now) const noexcept;
  [[nodiscard]] double lag_penalty(const backend& b) const noexcept;
  [[nodiscard]] double slow_start_factor(const backend& b, time_point now) const noexcept;
  void fill(std::size_t index, time_point now, const assessment& a,
            const std::optional<std::size_t>& primary, backend_explanation& out) const noexcept;
  void fill_common(time_point now, choice_explanation& out) const noexcept;

  void recompute_lag(std::size_t replica) noexcept;
  void record_failure(std::size_t index, time_point now) noexcept;
  void run_evaluation(time_point now) noexcept;
  [[nodiscard]] bool can_eject() const noexcept;
  void eject(std::size_t index, time_point now, ejection_reason reason, double observed,
             double threshold) noexcept;
  void return_to_pool(std::size_t index, time_point now) noexcept;
  void push_event(const outlier_event& event) noexcept;

  scoring_config config_;
  std::vector<backend> backends_;
  std::vector<std::optional<probe_result>> probes_;  // latest per backend, for decide_topology
  std::optional<std::size_t> primary_;               // from the latest probe's topology
  // topology()'s last answer, right for every now in [topology_from_, topology_until_]: no probe was
  // stored since, and none changes between fresh and stale in that span.
  mutable topology_view topology_cache_;
  mutable time_point topology_from_{time_point::max()};
  mutable time_point topology_until_{time_point::min()};
  lsn_history history_;                              // the primary's LSNs
  std::optional<std::size_t> history_owner_;         // whose LSNs history_ holds
  std::optional<time_point> last_evaluation_;

  static constexpr std::size_t event_capacity = 64;
  std::array<outlier_event, event_capacity> events_{};
  std::size_t events_head_ = 0;
  std::size_t events_size_ = 0;
  std::uint64_t events_dropped_ = 0;
};

}  // namespace sluice::scoring
