// What one worker reports to the admin API when asked (on its own thread): copies of its per-backend
// scoring and probe picture, its pools and its clients. The admin server merges the workers' copies.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "backends/pool/server_pool.hpp"
#include "router/latency_window.hpp"
#include "scoring/choice_explanation.hpp"
#include "scoring/probe_result.hpp"

namespace sluice::router {

struct backend_figures {
  scoring::backend_explanation scored;  // the scorer's picture (replica_scorer::explain)
  bool probed = false;                  // a probe result has arrived
  scoring::probe_result probe;          // the latest one
  std::string probe_error;              // why it was unreachable (empty when reachable)
  bool marked_down = false;             // skipped after a refused connection (retry_interval)
  std::uint64_t dispatched = 0;         // batches this worker sent there
  latency_counts recent_latency;        // statement latencies, recent window (see latency_window)
  std::uint64_t latency_count = 0;      // all-time statement count and latency sum
  std::uint64_t latency_sum_us = 0;
};

struct pool_figures {
  std::size_t backend = 0;
  std::string database;
  std::string user;  // the client-side user name the pool is for
  std::size_t max_size = 0;
  bool retired = false;  // a reload removed its user or backend: connections close as they come back
  backends::pool::pool_stats stats;
};

}  // namespace sluice::router
