// Renders GET /metrics (see metrics.hpp). One family at a time: HELP, TYPE, then its samples, as the
// text format requires (https://prometheus.io/docs/instrumenting/exposition_formats/).
#include "router/admin/metrics.hpp"

#include <cmath>
#include <fmt/format.h>
#include <initializer_list>
#include <map>
#include <string_view>
#include <tuple>

#include "router/admin/admin_server.hpp"
#include "router/process_memory.hpp"

namespace sluice::router::admin {

namespace {

struct label {
  std::string_view name;
  std::string_view value;
};

class exposition {
 public:
  // Starts a family: `type` is "counter", "gauge" or "summary".
  void family(std::string_view name, std::string_view type, std::string_view help) {
    name_ = name;
    fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  void sample(std::initializer_list<label> labels, double value, std::string_view suffix = {}) {
    write_name(labels, suffix);
    if (std::isnan(value)) {
      out_ += "NaN";
    } else if (std::isinf(value)) {
      out_ += value > 0 ? "+Inf" : "-Inf";
    } else {
      fmt::format_to(std::back_inserter(out_), "{}", value);
    }
    out_ += '\n';
  }
  void sample(std::initializer_list<label> labels, std::uint64_t value, std::string_view suffix = {}) {
    write_name(labels, suffix);
    fmt::format_to(std::back_inserter(out_), "{}\n", value);
  }
  std::string take() { return std::move(out_); }

 private:
  void write_name(std::initializer_list<label> labels, std::string_view suffix) {
    out_ += name_;
    out_ += suffix;
    if (labels.size() == 0) {
      out_ += ' ';
      return;
    }
    out_ += '{';
    bool first = true;
    for (const auto& l : labels) {
      if (!first) out_ += ',';
      first = false;
      out_ += l.name;
      out_ += "=\"";
      for (const char c : l.value) {  // label values escape backslash, quote and newline
        if (c == '\\') {
          out_ += "\\\\";
        } else if (c == '"') {
          out_ += "\\\"";
        } else if (c == '\n') {
          out_ += "\\n";
        } else {
          out_ += c;
        }
      }
      out_ += '"';
    }
    out_ += "} ";
  }

  std::string out_;
  std::string_view name_;
};

using policies::nanoseconds;

double seconds_from_us(double us) { return us / 1e6; }
double seconds(std::chrono::nanoseconds value) { return std::chrono::duration<double>(value).count(); }
std::uint64_t flag(bool value) { return value ? 1 : 0; }

const char* topology_name(scoring::topology_state state) { return scoring::to_string(state); }

}  // namespace

std::string render_metrics(const metrics_input& input) {
  const auto& shared = *input.shared;
  const auto& cluster = *input.cluster;
  const auto& backends = shared.cfg().backends;
  exposition m;

  // --- Process ----------------------------------------------------------------------------------
  m.family("sluice_build_info", "gauge", "Always 1; the version is a label.");
  m.sample({{"version", SLUICE_VERSION}}, std::uint64_t{1});
  m.family("sluice_start_time_seconds", "gauge", "When sluice started, seconds since the Unix epoch.");
  m.sample({}, std::chrono::duration<double>(input.started_at.time_since_epoch()).count());
  m.family("sluice_workers", "gauge", "Worker threads.");
  m.sample({}, static_cast<std::uint64_t>(cluster.workers.size()));
  m.family("sluice_clients_connected", "gauge", "Client connections open now.");
  m.sample({}, static_cast<std::uint64_t>(shared.clients.load(std::memory_order_relaxed)));
  m.family("sluice_max_client_connections", "gauge",
           "limits.max_client_connections in force (lowered at start to fit the open-file limit).");
  m.sample({}, static_cast<std::uint64_t>(shared.cfg().limits.max_client_connections));
  if (const auto resident = resident_memory_bytes()) {
    m.family("sluice_resident_memory_bytes", "gauge", "Resident memory size in bytes (/proc/self/statm).");
    m.sample({}, *resident);
  }

  // --- Per-worker counters (worker_stats) ---------------------------------------------------------
  struct counter_def {
    const char* name;
    const char* help;
    std::uint64_t worker_stats::*field;
  };
  static constexpr counter_def worker_counters[] = {
      {"sluice_clients_accepted_total", "Client connections accepted.", &worker_stats::clients_accepted},
      {"sluice_clients_refused_total", "Client connections refused over limits.max_client_connections (53300).",
       &worker_stats::clients_refused},
      {"sluice_replica_fallbacks_total", "Reads sent to the primary because no replica could take them.",
       &worker_stats::replica_fallbacks},
      {"sluice_reads_refused_total", "Reads refused (57P03) because no replica qualified and routing.fallback = error.",
       &worker_stats::fallback_errors},
      {"sluice_writes_refused_total", "Writes refused (57P03): no primary, or split brain.",
       &worker_stats::writes_refused},
      {"sluice_sessions_pinned_total", "Client sessions pinned to one primary connection.",
       &worker_stats::sessions_pinned},
      {"sluice_settings_replayed_total", "SET batches sent before lending a server connection.",
       &worker_stats::settings_replayed},
      {"sluice_statements_prepared_total", "Parse messages sluice injected to prepare statements lazily.",
       &worker_stats::statements_prepared},
      {"sluice_cancels_forwarded_total", "Cancel requests forwarded to a backend.", &worker_stats::cancels_forwarded},
      {"sluice_causal_checks_total", "read_your_writes: replica replay positions checked directly.",
       &worker_stats::causal_checks},
      {"sluice_causal_primary_reads_total", "read_your_writes: reads sent to the primary to see a commit.",
       &worker_stats::causal_primary_reads},
      {"sluice_client_login_failures_total", "Client logins that failed authentication.",
       &worker_stats::login_failures},
      {"sluice_client_startup_timeouts_total",
       "Clients that did not finish startup and authentication within limits.startup_timeout.",
       &worker_stats::startup_timeouts},
      {"sluice_accept_errors_total", "accept() failures (EMFILE, ENFILE, ...).", &worker_stats::accept_errors},
  };
  m.family("sluice_routed_total", "counter", "Units of work (transactions or statements) routed, by target.");
  for (const auto& report : cluster.workers) {
    const auto worker_label = std::to_string(report.index);
    m.sample({{"worker", worker_label}, {"target", "primary"}}, report.stats.routed_primary);
    m.sample({{"worker", worker_label}, {"target", "replica"}}, report.stats.routed_replica);
  }
  for (const auto& def : worker_counters) {
    m.family(def.name, "counter", def.help);
    for (const auto& report : cluster.workers) {
      m.sample({{"worker", std::to_string(report.index)}}, report.stats.*def.field);
    }
  }

  // --- Topology and the write gate --------------------------------------------------------------
  m.family("sluice_topology_state", "gauge", "1 for the current topology state (from the probes), 0 for the others.");
  for (const auto state : {scoring::topology_state::unknown, scoring::topology_state::single_primary,
                           scoring::topology_state::no_primary, scoring::topology_state::split_brain}) {
    m.sample({{"state", topology_name(state)}}, flag(cluster.topology.state == state));
  }
  const auto& gate = shared.writes;
  const auto totals = gate.totals();
  m.family("sluice_write_gate_held", "gauge", "1 while switchover or failover holds new writes.");
  m.sample({}, flag(gate.held()));
  m.family("sluice_write_gate_waiting", "gauge", "Units of work waiting at the write gate now.");
  m.sample({}, static_cast<std::uint64_t>(gate.waiting()));
  m.family("sluice_write_gate_in_flight", "gauge", "Units of work running on the primary now.");
  m.sample({}, static_cast<std::uint64_t>(gate.in_flight()));
  m.family("sluice_write_gate_holds_total", "counter", "Times the write gate was closed.");
  m.sample({}, totals.holds);
  m.family("sluice_write_gate_held_units_total", "counter", "Units of work that waited at the write gate, by outcome.");
  m.sample({{"outcome", "released"}}, totals.released);
  m.sample({{"outcome", "timed_out"}}, totals.timed_out);
  m.sample({{"outcome", "queue_full"}}, totals.queue_full);

  // --- Backends ---------------------------------------------------------------------------------
  const auto for_backends = [&](auto&& fn) {
    for (const auto& view : cluster.backends) {
      if (!view.removed) fn(backends[view.index].name, view);
    }
  };
  m.family("sluice_backend_info", "gauge", "Always 1; the configured address and role are labels.");
  for (const auto& view : cluster.backends) {
    if (view.removed) continue;
    const auto& b = backends[view.index];
    m.sample({{"backend", b.name},
              {"host", b.host},
              {"port", std::to_string(b.port)},
              {"configured_role", b.role == config::backend_role::primary ? "primary" : "replica"}},
             std::uint64_t{1});
  }
  m.family("sluice_backend_up", "gauge", "1 when the latest health probe reached the backend.");
  for_backends([&](const std::string& name, const backend_view& v) { m.sample({{"backend", name}}, flag(v.reachable)); });
  m.family("sluice_backend_in_recovery", "gauge", "1 when the latest probe says the backend is a replica (in recovery).");
  for_backends([&](const std::string& name, const backend_view& v) {
    m.sample({{"backend", name}}, flag(v.role == "replica"));
  });
  m.family("sluice_backend_primary", "gauge", "1 for the backend that takes writes now.");
  for_backends([&](const std::string& name, const backend_view& v) { m.sample({{"backend", name}}, flag(v.is_primary)); });
  m.family("sluice_backend_drained", "gauge", "1 when an operator drained the backend (no new reads).");
  for_backends([&](const std::string& name, const backend_view& v) { m.sample({{"backend", name}}, flag(v.drained)); });
  m.family("sluice_backend_fenced", "gauge", "1 for an old primary fenced by switchover or failover.");
  for_backends([&](const std::string& name, const backend_view& v) { m.sample({{"backend", name}}, flag(v.fenced)); });
  m.family("sluice_backend_read_candidate", "gauge", "1 when the scorer would consider the backend for a read now.");
  for_backends([&](const std::string& name, const backend_view& v) {
    m.sample({{"backend", name}}, flag(v.exclusion == "candidate" && !v.drained && !v.marked_down));
  });
  m.family("sluice_backend_lag_bytes", "gauge", "Replication lag: WAL bytes the replica has not replayed.");
  for_backends([&](const std::string& name, const backend_view& v) {
    if (v.lag_measured) m.sample({{"backend", name}}, v.lag.bytes);
  });
  m.family("sluice_backend_lag_seconds", "gauge", "Replication lag in time (how old the replica's data is), when known.");
  for_backends([&](const std::string& name, const backend_view& v) {
    if (v.lag_measured && v.lag.time_known) m.sample({{"backend", name}}, seconds(v.lag.time));
  });
  m.family("sluice_backend_probe_rtt_seconds", "gauge", "Round trip of the latest health probe.");
  for_backends([&](const std::string& name, const backend_view& v) {
    if (v.probed) m.sample({{"backend", name}}, seconds(v.probe_rtt));
  });
  m.family("sluice_backend_probe_age_seconds", "gauge", "Age of the latest health probe result.");
  for_backends([&](const std::string& name, const backend_view& v) {
    if (v.probe_age) m.sample({{"backend", name}}, seconds(*v.probe_age));
  });
  m.family("sluice_backend_latency_ewma_seconds", "gauge",
           "Latency the scorer uses (peak EWMA of statements, at least the probe round trip), mean over workers.");
  for_backends([&](const std::string& name, const backend_view& v) {
    m.sample({{"backend", name}}, seconds_from_us(v.latency_ewma_us));
  });
  m.family("sluice_backend_statement_latency_seconds", "summary",
           "Statement (batch) latency: quantiles over the last 30 to 60 s, sum and count since start.");
  for_backends([&](const std::string& name, const backend_view& v) {
    m.sample({{"backend", name}, {"quantile", "0.5"}}, seconds_from_us(v.recent_latency.quantile_us(0.5)));
    m.sample({{"backend", name}, {"quantile", "0.99"}}, seconds_from_us(v.recent_latency.quantile_us(0.99)));
    m.sample({{"backend", name}}, seconds_from_us(static_cast<double>(v.latency_sum_us)), "_sum");
    m.sample({{"backend", name}}, v.latency_count, "_count");
  });
  m.family("sluice_backend_in_flight", "gauge", "Statements (batches) sent and not yet answered, all workers.");
  for_backends([&](const std::string& name, const backend_view& v) {
    m.sample({{"backend", name}}, static_cast<std::uint64_t>(v.in_flight));
  });
  m.family("sluice_backend_score", "gauge",
           "The scorer's cost, latency x (in flight + 1) x lag penalty, in microseconds; lower wins. Mean over workers.");
  for_backends([&](const std::string& name, const backend_view& v) { m.sample({{"backend", name}}, v.cost); });
  m.family("sluice_backend_dispatched_total", "counter", "Statements (batches) sent to the backend.");
  for_backends([&](const std::string& name, const backend_view& v) { m.sample({{"backend", name}}, v.dispatched); });
  m.family("sluice_backend_read_share", "gauge", "The backend's share of the batches sent to replicas since start (0..1).");
  for_backends([&](const std::string& name, const backend_view& v) { m.sample({{"backend", name}}, v.read_share); });
  m.family("sluice_backend_ejections_total", "counter", "Outlier ejections, summed over the workers' scorers.");
  for_backends([&](const std::string& name, const backend_view& v) { m.sample({{"backend", name}}, v.ejections); });
  m.family("sluice_backend_ejected_workers", "gauge", "Workers whose scorer holds the backend ejected now.");
  for_backends([&](const std::string& name, const backend_view& v) {
    m.sample({{"backend", name}}, static_cast<std::uint64_t>(v.ejected_on_workers));
  });

  // --- Pools, summed over workers ---------------------------------------------------------------
  struct pool_sum {
    std::size_t max_size = 0;
    backends::pool::pool_stats stats;
  };
  std::map<std::tuple<std::size_t, std::string, std::string>, pool_sum> pools;
  for (const auto& report : cluster.workers) {
    for (const auto& pool : report.pools) {
      auto& sum = pools[{pool.backend, pool.database, pool.user}];
      sum.max_size = std::max(sum.max_size, pool.max_size);  // proxy-wide: the same on every worker
      sum.stats.total += pool.stats.total;
      sum.stats.idle += pool.stats.idle;
      sum.stats.waiting += pool.stats.waiting;
      sum.stats.connects += pool.stats.connects;
      sum.stats.connect_failures += pool.stats.connect_failures;
      sum.stats.timeouts += pool.stats.timeouts;
    }
  }
  const auto for_pools = [&](auto&& fn) {
    for (const auto& [key, sum] : pools) {
      fn(backends[std::get<0>(key)].name, std::get<1>(key), std::get<2>(key), sum);
    }
  };
  m.family("sluice_pool_connections", "gauge", "Server connections of a pool, by state (idle, in_use).");
  for_pools([&](const std::string& b, const std::string& db, const std::string& user, const pool_sum& sum) {
    m.sample({{"backend", b}, {"database", db}, {"user", user}, {"state", "idle"}},
             static_cast<std::uint64_t>(sum.stats.idle));
    m.sample({{"backend", b}, {"database", db}, {"user", user}, {"state", "in_use"}},
             static_cast<std::uint64_t>(sum.stats.total - std::min(sum.stats.total, sum.stats.idle)));
  });
  m.family("sluice_pool_max_connections", "gauge", "Pool size limit: server connections for the whole proxy.");
  for_pools([&](const std::string& b, const std::string& db, const std::string& user, const pool_sum& sum) {
    m.sample({{"backend", b}, {"database", db}, {"user", user}}, static_cast<std::uint64_t>(sum.max_size));
  });
  m.family("sluice_pool_waiting_clients", "gauge", "Clients queued for a server connection.");
  for_pools([&](const std::string& b, const std::string& db, const std::string& user, const pool_sum& sum) {
    m.sample({{"backend", b}, {"database", db}, {"user", user}}, static_cast<std::uint64_t>(sum.stats.waiting));
  });
  m.family("sluice_pool_connects_total", "counter", "Successful server logins.");
  for_pools([&](const std::string& b, const std::string& db, const std::string& user, const pool_sum& sum) {
    m.sample({{"backend", b}, {"database", db}, {"user", user}}, sum.stats.connects);
  });
  m.family("sluice_pool_connect_failures_total", "counter", "Failed server connections or logins.");
  for_pools([&](const std::string& b, const std::string& db, const std::string& user, const pool_sum& sum) {
    m.sample({{"backend", b}, {"database", db}, {"user", user}}, sum.stats.connect_failures);
  });
  m.family("sluice_pool_wait_timeouts_total", "counter", "Clients that gave up waiting for a server connection (53300).");
  for_pools([&](const std::string& b, const std::string& db, const std::string& user, const pool_sum& sum) {
    m.sample({{"backend", b}, {"database", db}, {"user", user}}, sum.stats.timeouts);
  });

  // --- Tenant QoS -------------------------------------------------------------------------------
  m.family("sluice_qos_enabled", "gauge", "1 when tenant QoS policies are configured.");
  m.sample({}, flag(input.qos_enabled));
  m.family("sluice_qos_active", "gauge", "Units of work admitted and running, all tenants.");
  m.sample({}, static_cast<std::uint64_t>(input.qos_active));
  m.family("sluice_qos_max_active", "gauge", "Proxy-wide capacity before the fair queue orders tenants (0: none).");
  m.sample({}, static_cast<std::uint64_t>(input.qos_max_active));
  const auto for_tenants = [&](auto&& fn) {
    for (const auto& t : input.tenants) fn(t);
  };
  m.family("sluice_tenant_admitted_total", "counter", "Units of work admitted, at once or after waiting.");
  for_tenants([&](const policies::tenant_stats& t) { m.sample({{"tenant", t.name}}, t.admitted); });
  m.family("sluice_tenant_delayed_total", "counter", "Units of work admitted after waiting in the tenant's queue.");
  for_tenants([&](const policies::tenant_stats& t) { m.sample({{"tenant", t.name}}, t.delayed); });
  m.family("sluice_tenant_refused_total", "counter", "Units of work refused, by reason (queue_full, timeout).");
  for_tenants([&](const policies::tenant_stats& t) {
    m.sample({{"tenant", t.name}, {"reason", "queue_full"}}, t.refused_queue_full);
    m.sample({{"tenant", t.name}, {"reason", "timeout"}}, t.refused_timeout);
  });
  m.family("sluice_tenant_abandoned_total", "counter", "Units whose client left while queued.");
  for_tenants([&](const policies::tenant_stats& t) { m.sample({{"tenant", t.name}}, t.abandoned); });
  m.family("sluice_tenant_in_flight", "gauge", "Units of work admitted and not yet finished.");
  for_tenants([&](const policies::tenant_stats& t) {
    m.sample({{"tenant", t.name}}, static_cast<std::uint64_t>(t.in_flight));
  });
  m.family("sluice_tenant_queued", "gauge", "Units of work waiting in the tenant's queue.");
  for_tenants([&](const policies::tenant_stats& t) {
    m.sample({{"tenant", t.name}}, static_cast<std::uint64_t>(t.queued));
  });
  m.family("sluice_tenant_db_time_seconds_total", "counter", "Database time used by the tenant's finished units.");
  for_tenants([&](const policies::tenant_stats& t) { m.sample({{"tenant", t.name}}, seconds(t.db_time_total)); });
  // Percentiles as plain gauges (a quantile label is only for summaries, which need a sum the
  // admission controller does not keep).
  struct percentile_def {
    const char* name;
    const char* help;
    nanoseconds policies::tenant_stats::*field;
  };
  static constexpr percentile_def percentiles[] = {
      {"sluice_tenant_queue_wait_p50_seconds", "Median time admitted units waited in the queue, since start.",
       &policies::tenant_stats::queue_wait_p50},
      {"sluice_tenant_queue_wait_p99_seconds", "99th percentile of the time admitted units waited, since start.",
       &policies::tenant_stats::queue_wait_p99},
      {"sluice_tenant_latency_p50_seconds", "Median admission-to-finish time of units of work, since start.",
       &policies::tenant_stats::latency_p50},
      {"sluice_tenant_latency_p99_seconds", "99th percentile admission-to-finish time of units of work, since start.",
       &policies::tenant_stats::latency_p99},
  };
  for (const auto& def : percentiles) {
    m.family(def.name, "gauge", def.help);
    for_tenants([&](const policies::tenant_stats& t) { m.sample({{"tenant", t.name}}, seconds(t.*def.field)); });
  }

  // --- The admin API itself ---------------------------------------------------------------------
  m.family("sluice_admin_requests_total", "counter", "Admin API requests, by result (ok, unauthorized, client_error, server_error).");
  const auto& admin = *input.admin;
  const auto errors = admin.unauthorized + admin.client_errors + admin.server_errors;
  m.sample({{"result", "ok"}}, admin.requests - std::min(admin.requests, errors));
  m.sample({{"result", "unauthorized"}}, admin.unauthorized);
  m.sample({{"result", "client_error"}}, admin.client_errors);
  m.sample({{"result", "server_error"}}, admin.server_errors);
  return m.take();
}

}  // namespace sluice::router::admin
