// The admin API's picture of the whole proxy: each worker is asked on its own thread (a lambda posted
// to its io_context; nothing of a worker is read from another thread), and the answers are merged.
// Control path: allocates, blocks the caller up to a timeout, throws on timeout.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "router/latency_window.hpp"
#include "router/worker_snapshot.hpp"
#include "router/client_summary.hpp"
#include "router/worker.hpp"
#include "scoring/choice_explanation.hpp"
#include "scoring/topology.hpp"

namespace sluice::router::admin {

// A worker did not answer in time (stuck, or stopping). The HTTP layer answers 503.
class gather_timeout : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What to ask the workers for (clients cost a string copy each; the rest is cheap).
struct gather_options {
  bool backends = true;
  bool pools = false;
  bool clients = false;
};

// One worker's answer.
struct worker_report {
  unsigned index = 0;
  worker_stats stats;
  std::vector<backend_figures> backends;
  std::vector<pool_figures> pools;
  std::vector<client_summary> clients;
  scoring::topology_view topology;
  write_target writes;  // where writes go now, or why not
};

// One backend, merged over the workers. Probe figures are the same on every worker (each sees every
// probe) and come from worker 0. Scores differ per worker (each scores its own traffic): latency EWMA
// and cost are the mean over workers, in flight, dispatches and ejections the sum, latency
// percentiles come from the merged histograms, and the outlier state is the worst any worker holds.
struct backend_view {
  std::size_t index = 0;
  bool removed = false;             // a reload removed this backend: kept for its index, not shown
  std::string role = "unknown";     // from the latest probe: "primary", "replica"; "unknown" before one
  bool reachable = false;
  bool probed = false;
  bool is_primary = false;          // the write target now (writes.backend)
  bool drained = false;             // shared_state::control
  bool fenced = false;
  bool marked_down = false;         // some worker skips it after a refused connection
  std::string exclusion = "no_probe";  // worker 0's reason it is not a read candidate ("candidate")
  std::chrono::microseconds probe_rtt{0};
  std::optional<std::chrono::milliseconds> probe_age;
  std::string probe_error;
  scoring::replica_lag lag;
  bool lag_measured = false;
  std::uint64_t current_lsn = 0;
  double latency_ewma_us = 0;       // the cost's latency (max of probe RTT and statement EWMA)
  double statement_latency_ewma_us = 0;
  double probe_rtt_ewma_us = 0;
  latency_counts recent_latency;    // merged over workers
  std::uint64_t latency_count = 0;
  std::uint64_t latency_sum_us = 0;
  std::uint32_t in_flight = 0;
  double cost = 0;
  std::uint64_t dispatched = 0;
  double read_share = 0;            // dispatched / dispatches to all backends probed as replicas
  std::uint64_t ejections = 0;
  scoring::outlier_state outlier = scoring::outlier_state::active;
  scoring::ejection_reason last_ejection = scoring::ejection_reason::none;
  unsigned ejected_on_workers = 0;
  double slow_start_factor = 1.0;
  std::uint32_t consecutive_failures = 0;
};

struct cluster_snapshot {
  std::vector<worker_report> workers;   // by worker index
  std::vector<backend_view> backends;   // by backend index (empty unless asked)
  worker_stats totals;                  // counters summed over workers
  scoring::topology_view topology;      // worker 0's
  write_target writes;                  // worker 0's
};

// Asks every worker and merges. Throws gather_timeout when one does not answer within `timeout`.
cluster_snapshot gather(const shared_state& shared, const std::vector<worker*>& workers, const gather_options& what,
                        std::chrono::milliseconds timeout);

// Runs `explain_read` and `primary()` on worker 0: what a read and a write would get now.
struct choice_preview {
  std::unique_ptr<scoring::choice_explanation> read;  // the scorer's full explanation
  std::optional<std::size_t> read_backend;            // nullopt: no replica qualifies
  write_target writes;
};
choice_preview preview_choice(const std::vector<worker*>& workers, std::chrono::milliseconds timeout);

}  // namespace sluice::router::admin
