// Reload: the new file loaded and planned (config::plan_reload), then applied in an order that keeps
// every thread's view valid: addresses of new or moved backends first, then the new settings published
// (one atomic store), then the workers' pools (posted to each worker), then the probes.
#include "router/reloader.hpp"

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "backends/pg/prober.hpp"
#include "router/admin/admin_actions.hpp"
#include "router/config/reload_plan.hpp"
#include "router/failover/pg_admin.hpp"
#include "router/open_file_limit.hpp"
#include "router/worker.hpp"

namespace sluice::router {

void fit_clients_to_open_files(config::config& cfg, bool warn) {
  std::string problem;
  const auto open_files = raise_open_file_limit(problem);
  if (!problem.empty()) spdlog::warn("cannot raise the open-file limit: {}", problem);
  const auto budget = client_budget(open_files, cfg, cfg.workers);
  auto& limit = cfg.limits.max_client_connections;
  if (budget.clients >= limit) return;
  const auto configured = limit;
  const auto lowered = static_cast<std::uint32_t>(std::max<std::uint64_t>(budget.clients, 1));
  limit = lowered;
  if (!warn) return;
  spdlog::warn(
      "limits.max_client_connections lowered from {} to {}: the open-file limit is {} and {} are kept for "
      "server connections ({}: backends x pool sizes), probes, workers and the admin API; raise the hard limit "
      "(LimitNOFILE= in the systemd unit, ulimit -Hn) for more",
      configured, lowered, open_files, budget.reserved, budget.servers);
}

std::string reload_report::summary() const {
  if (!ok) return "reload refused, nothing changed: " + error;
  std::string out = applied.empty() ? std::string("nothing to apply") : "applied: ";
  // Appended piece by piece: GCC 12 at -O3 sees `"; " + std::string` as an overlapping memcpy
  // (-Wrestrict false positive, GCC PR 105651) and the Release build fails.
  for (std::size_t i = 0; i < applied.size(); ++i) {
    if (i != 0) out += "; ";
    out += applied[i];
  }
  if (!needs_restart.empty()) {
    out += "; needs a restart (kept as before): ";
    for (std::size_t i = 0; i < needs_restart.size(); ++i) {
      if (i != 0) out += "; ";
      out += needs_restart[i];
    }
  }
  return out;
}

std::string reload_report::to_json() const {
  if (!ok) return R"({"error":)" + admin::json_string(error) + "}";
  const auto list = [](const std::vector<std::string>& lines) {
    std::string out = "[";
    for (std::size_t i = 0; i < lines.size(); ++i) {
      if (i != 0) out += ",";
      out += admin::json_string(lines[i]);
    }
    out += "]";
    return out;
  };
  return R"({"reloaded":true,"applied":)" + list(applied) + R"(,"needs_restart":)" + list(needs_restart) + "}";
}

reloader::reloader(shared_state& shared, std::vector<worker*> workers) : shared_(shared), workers_(std::move(workers)) {}

reload_report reloader::reload() {
  reload_report report;
  std::lock_guard lock(shared_.reload_mutex);
  const auto& before = shared_.settings();
  try {
    auto loaded = config::load_config_file(before.cfg.source_path);
    // As at start: workers resolved, the client limit fitted (with the threads that run).
    const auto wanted_workers = config::resolve_workers(loaded.workers);
    loaded.workers = before.cfg.workers;
    // Quiet: the start-up said it; a reload that changes the fitted value lists it among what it applied.
    fit_clients_to_open_files(loaded, false);
    loaded.workers = wanted_workers;
    auto plan = config::plan_reload(before.cfg, loaded, shared_.backend_slots);
    const auto& merged = plan.merged;

    // What can fail comes before anything visible changes: the new addresses are resolved, and those of
    // added backends set (their slots are unused until the new settings are published); building the
    // snapshot (SCRAM verifiers) may still fail inside publish(), before it publishes.
    std::vector<std::pair<std::size_t, backend_addresses::endpoint>> moved_to;
    for (const auto index : plan.backends_moved) moved_to.emplace_back(index, shared_.addresses.resolve_now(merged.backends[index]));
    for (const auto index : plan.backends_added) {
      shared_.addresses.assign(index, merged.backends[index], shared_.addresses.resolve_now(merged.backends[index]));
    }
    const auto& next = shared_.publish(std::move(plan.merged));
    const auto& cfg = next.cfg;
    for (const auto& [index, address] : moved_to) shared_.addresses.assign(index, cfg.backends[index], address);

    spdlog::set_level(spdlog::level::from_str(cfg.logging.level));
    shared_.tenants.reconfigure(cfg.qos);
    if (cfg.qos.enabled) {
      plan.applied.push_back("tenant policies: " + std::to_string(cfg.qos.policy.tenants.size()) + " tenants, " +
                             std::to_string(cfg.qos.policy.rules.size()) + " rules, max_active " +
                             std::to_string(cfg.qos.policy.max_active));
    }
    if (plan.pools_changed) {
      for (auto* w : workers_) {
        boost::asio::post(w->io(), [w, &next, removed = plan.backends_removed, moved = plan.backends_moved] {
          w->on_reload(next, removed, moved);
        });
      }
    }
    if (probes_ != nullptr) {
      for (const auto index : plan.backends_removed) probes_->remove_target(index);
      for (const auto index : plan.backends_added) probes_->set_target(index, failover::admin_target(cfg, index));
      for (const auto index : plan.backends_moved) probes_->set_target(index, failover::admin_target(cfg, index));
    }
    report.ok = true;
    report.applied = std::move(plan.applied);
    report.needs_restart = std::move(plan.needs_restart);
  } catch (const std::exception& error) {
    report.ok = false;
    report.error = error.what();
  }
  return report;
}

}  // namespace sluice::router
