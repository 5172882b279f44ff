// The reload plan: the config in force and a newly loaded one compared key by key (see reload_plan.hpp;
// docs/configuration.md, "What reload applies", lists the same keys).
#include "router/config/reload_plan.hpp"

#include <algorithm>
#include <map>
#include <string_view>

namespace sluice::router::config {

namespace {

std::string show(bool value) { return value ? "true" : "false"; }
std::string show(std::uint16_t value) { return std::to_string(value); }
std::string show(std::uint32_t value) { return std::to_string(value); }
std::string show(std::uint64_t value) { return std::to_string(value); }
std::string show(milliseconds value) { return std::to_string(value.count()) + " ms"; }
std::string show(const std::string& value) { return "\"" + value + "\""; }
std::string show(const std::vector<std::string>& values) {
  std::string out = "[";
  for (const auto& value : values) out += (out.size() > 1 ? ", " : "") + value;
  return out + "]";
}
std::string show(pool_mode value) { return value == pool_mode::transaction ? "transaction" : "session"; }
std::string show(balancer value) { return value == balancer::score ? "score" : "round_robin"; }
std::string show(read_fallback value) { return value == read_fallback::primary ? "primary" : "error"; }
std::string show(consistency_mode value) {
  return value == consistency_mode::eventual ? "eventual" : "read_your_writes";
}
std::string show(consistency_scope value) {
  switch (value) {
    case consistency_scope::session:
      return "session";
    case consistency_scope::user:
      return "user";
    case consistency_scope::global:
      return "global";
  }
  return "?";
}
template <class T>
std::string show(const std::optional<T>& value) {
  return value ? show(*value) : "(unset)";
}

// One key compared: a line "key old -> new" on `out` when it changed (secrets: "changed" only).
class differ {
 public:
  explicit differ(std::vector<std::string>& out) : out_(out) {}
  template <class T>
  bool operator()(std::string_view key, const T& before, const T& after) {
    if (before == after) return false;
    out_.push_back(std::string(key) + " " + show(before) + " -> " + show(after));
    return true;
  }
  template <class T>
  bool secret(std::string_view key, const T& before, const T& after) {
    if (before == after) return false;
    out_.push_back(std::string(key) + " changed");
    return true;
  }

 private:
  std::vector<std::string>& out_;
};

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

}  // namespace

std::size_t backend_capacity(std::size_t configured_at_start) {
  constexpr std::size_t scorer_limit = 64;  // scoring::max_backends (scoring/common.hpp)
  return std::min(scorer_limit, std::max<std::size_t>(16, 2 * configured_at_start));
}

reload_plan plan_reload(const config& current, const config& loaded, std::size_t capacity) {
  reload_plan plan;
  plan.merged = loaded;
  auto& merged = plan.merged;
  differ applied(plan.applied);
  differ restart(plan.needs_restart);

  // --- Restart only: the listeners, the thread count, the admin API, health probes, failover, and the
  // scorer's lag limits are set up once at start. The merged config keeps what runs.
  restart("listen_host", current.listen_host, loaded.listen_host);
  restart("listen_port", current.listen_port, loaded.listen_port);
  // [mysql] as a whole (its listener, backends and users) is set up at start for now.
  restart.secret("mysql", current.mysql, loaded.mysql);
  merged.mysql = current.mysql;
  restart("workers", current.workers, loaded.workers);
  merged.listen_host = current.listen_host;
  merged.listen_port = current.listen_port;
  merged.workers = current.workers;
  restart("admin.enabled", current.admin.enabled, loaded.admin.enabled);
  restart("admin.listen_host", current.admin.listen_host, loaded.admin.listen_host);
  restart("admin.listen_port", current.admin.listen_port, loaded.admin.listen_port);
  restart.secret("admin.token", current.admin.token, loaded.admin.token);
  restart("admin.token_env", current.admin.token_env, loaded.admin.token_env);
  merged.admin = current.admin;
  restart("health.probe_interval", current.health.probe_interval, loaded.health.probe_interval);
  restart("health.probe_timeout", current.health.probe_timeout, loaded.health.probe_timeout);
  restart("health.dns_ttl", current.health.dns_ttl, loaded.health.dns_ttl);
  restart("health.heartbeat", current.health.heartbeat, loaded.health.heartbeat);
  restart("health.user", current.health.user, loaded.health.user);
  restart.secret("health.password", current.health.password, loaded.health.password);
  restart("health.database", current.health.database, loaded.health.database);
  merged.health = current.health;
  restart("failover.auto_failover", current.failover.auto_failover, loaded.failover.auto_failover);
  restart("failover.failover_timeout", current.failover.failover_timeout, loaded.failover.failover_timeout);
  restart("failover.hold_timeout", current.failover.hold_timeout, loaded.failover.hold_timeout);
  restart("failover.max_held", current.failover.max_held, loaded.failover.max_held);
  restart("failover.drain_timeout", current.failover.drain_timeout, loaded.failover.drain_timeout);
  restart("failover.catchup_timeout", current.failover.catchup_timeout, loaded.failover.catchup_timeout);
  restart("failover.rejoin_command", current.failover.rejoin_command, loaded.failover.rejoin_command);
  merged.failover = current.failover;
  restart("routing.max_lag_bytes", current.routing.max_lag_bytes, loaded.routing.max_lag_bytes);
  restart("routing.max_lag", current.routing.max_lag, loaded.routing.max_lag);
  merged.routing.max_lag_bytes = current.routing.max_lag_bytes;
  merged.routing.max_lag = current.routing.max_lag;

  // --- Applied: read where they are used, from the published config (a new statement, login,
  // connection or accept sees the new value).
  applied("shutdown_timeout", current.shutdown_timeout, loaded.shutdown_timeout);
  bool pools = false;
  pools |= applied("pool.mode", current.pool.mode, loaded.pool.mode);
  pools |= applied("pool.size", current.pool.size, loaded.pool.size);
  pools |= applied("pool.idle_timeout", current.pool.idle_timeout, loaded.pool.idle_timeout);
  pools |= applied("pool.server_lifetime", current.pool.server_lifetime, loaded.pool.server_lifetime);
  pools |= applied("pool.connect_timeout", current.pool.connect_timeout, loaded.pool.connect_timeout);
  pools |= applied("pool.query_wait_timeout", current.pool.query_wait_timeout, loaded.pool.query_wait_timeout);
  applied("pool.retry_interval", current.pool.retry_interval, loaded.pool.retry_interval);
  pools |= applied("pool.server_check_delay", current.pool.server_check_delay, loaded.pool.server_check_delay);
  applied("pool.max_prepared_statements", current.pool.max_prepared_statements, loaded.pool.max_prepared_statements);
  applied("limits.max_message_size", current.limits.max_message_size, loaded.limits.max_message_size);
  applied("limits.startup_timeout", current.limits.startup_timeout, loaded.limits.startup_timeout);
  applied("limits.max_client_connections", current.limits.max_client_connections,
          loaded.limits.max_client_connections);
  applied("logging.level", current.logging.level, loaded.logging.level);
  applied("logging.connections", current.logging.connections, loaded.logging.connections);
  applied("routing.write_functions", current.routing.write_functions, loaded.routing.write_functions);
  applied("routing.volatile_functions_on_primary", current.routing.volatile_functions_on_primary,
          loaded.routing.volatile_functions_on_primary);
  applied("routing.read_write_split", current.routing.read_write_split, loaded.routing.read_write_split);
  applied("routing.balance", current.routing.balance, loaded.routing.balance);
  applied("routing.fallback", current.routing.fallback, loaded.routing.fallback);
  applied("routing.consistency", current.routing.consistency, loaded.routing.consistency);
  applied("routing.consistency_scope", current.routing.scope, loaded.routing.scope);
  applied("routing.causal_wait", current.routing.causal_wait, loaded.routing.causal_wait);

  // --- Users, by name: new logins see the new entry; sessions logged in keep the one they started with.
  std::map<std::string_view, const user_config*> before;
  for (const auto& user : current.users) before.emplace(user.name, &user);
  for (const auto& user : loaded.users) {
    auto found = before.find(user.name);
    if (found == before.end()) {
      plan.users_added.push_back(user.name);
      continue;
    }
    const auto& old = *found->second;
    before.erase(found);
    if (old == user) continue;
    plan.users_changed.push_back(user.name);
    if (old.pool_size != user.pool_size || old.mode != user.mode || old.server_user != user.server_user ||
        old.server_password != user.server_password || old.password != user.password) {
      pools = true;
    }
  }
  for (const auto& [name, user] : before) plan.users_removed.emplace_back(name);
  if (!plan.users_removed.empty()) pools = true;
  if (!plan.users_added.empty() || !plan.users_changed.empty() || !plan.users_removed.empty()) {
    std::string line = "users:";
    const auto part = [&line](const char* what, const std::vector<std::string>& names) {
      if (names.empty()) return;
      line += (line.back() == ':' ? " " : "; ") + std::to_string(names.size()) + " " + what + " (" + join_names(names) + ")";
    };
    part("added", plan.users_added);
    part("changed", plan.users_changed);
    part("removed", plan.users_removed);
    plan.applied.push_back(std::move(line));
  }

  // --- Backends, by name, onto slots: an existing name keeps its index (its host and port may change);
  // a new name takes a new slot; a name no longer listed is marked removed (its slot is never reused).
  merged.backends = current.backends;
  std::optional<std::size_t> primary_slot;
  for (std::size_t i = 0; i < merged.backends.size(); ++i) {
    if (!merged.backends[i].removed && merged.backends[i].role == backend_role::primary) primary_slot = i;
  }
  std::vector<bool> listed(merged.backends.size(), false);
  std::vector<std::string> added_names, removed_names, moved_names;
  for (const auto& backend : loaded.backends) {
    std::optional<std::size_t> slot;
    for (std::size_t i = 0; i < current.backends.size(); ++i) {
      if (!current.backends[i].removed && current.backends[i].name == backend.name) slot = i;
    }
    if (!slot) {
      if (merged.backends.size() >= capacity) {
        throw config_error(loaded.source_path + ": backend '" + backend.name + "': a reload can add backends up to " +
                           std::to_string(capacity) +
                           " slots in all (removed ones included, min(64, max(16, 2 x the backends at start))); "
                           "restart sluice to add more");
      }
      auto added = backend;
      added.removed = false;
      if (added.role == backend_role::primary && primary_slot) {
        // The configured primary is only the guess before the first probes; it is set at start.
        restart("backends." + backend.name + ".role", std::string("replica"), std::string("primary"));
        added.role = backend_role::replica;
      }
      plan.backends_added.push_back(merged.backends.size());
      added_names.push_back(backend.name);
      merged.backends.push_back(std::move(added));
      listed.push_back(true);
      continue;
    }
    listed[*slot] = true;
    auto& kept = merged.backends[*slot];
    if (kept.role != backend.role) {
      restart("backends." + backend.name + ".role", std::string(kept.role == backend_role::primary ? "primary" : "replica"),
              std::string(backend.role == backend_role::primary ? "primary" : "replica"));
    }
    if (kept.host != backend.host || kept.port != backend.port) {
      plan.applied.push_back("backends." + backend.name + " " + kept.host + ":" + std::to_string(kept.port) + " -> " +
                             backend.host + ":" + std::to_string(backend.port));
      kept.host = backend.host;
      kept.port = backend.port;
      plan.backends_moved.push_back(*slot);
      moved_names.push_back(backend.name);
    }
  }
  for (std::size_t i = 0; i < current.backends.size(); ++i) {
    if (current.backends[i].removed || listed[i]) continue;
    if (primary_slot == i) {
      throw config_error(loaded.source_path + ": backend '" + current.backends[i].name +
                         "': the backend configured as primary cannot be removed by a reload (restart sluice, "
                         "after a switchover if it still takes writes)");
    }
    merged.backends[i].removed = true;
    plan.backends_removed.push_back(i);
    removed_names.push_back(current.backends[i].name);
  }
  if (!added_names.empty() || !removed_names.empty()) {
    std::string line = "backends:";
    if (!added_names.empty()) line += " " + std::to_string(added_names.size()) + " added (" + join_names(added_names) + ")";
    if (!removed_names.empty()) {
      line += std::string(added_names.empty() ? " " : "; ") + std::to_string(removed_names.size()) + " removed (" +
              join_names(removed_names) + ")";
    }
    plan.applied.push_back(std::move(line));
  }
  plan.pools_changed = pools || !plan.backends_moved.empty() || !plan.backends_removed.empty();
  return plan;
}

}  // namespace sluice::router::config
