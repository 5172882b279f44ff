// GET /metrics: the Prometheus text exposition format 0.0.4 (HELP and TYPE for every family, names
// prefixed sluice_, counters ending in _total, base units: seconds and bytes).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "policies/admission_controller.hpp"
#include "router/admin/cluster_snapshot.hpp"
#include "router/failover/write_gate.hpp"
#include "router/shared_state.hpp"

namespace sluice::router::admin {

struct admin_counters;

// Everything /metrics shows, gathered by the caller.
struct metrics_input {
  const shared_state* shared = nullptr;
  const cluster_snapshot* cluster = nullptr;  // with backends and pools
  bool qos_enabled = false;
  std::vector<policies::tenant_stats> tenants;
  std::uint32_t qos_active = 0;
  std::uint32_t qos_max_active = 0;
  const admin_counters* admin = nullptr;
  std::chrono::system_clock::time_point started_at{};
};

std::string render_metrics(const metrics_input& input);

}  // namespace sluice::router::admin
