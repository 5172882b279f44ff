// Switchover, failover, rejoin and the failure monitor (see orchestrator.hpp).
//
// Switchover, in order (each step timed for the report):
//   1. hold_writes: close the write gate; new units bound for the primary wait at the gate.
//   2. drain: wait up to drain_timeout for the units already running on the primary to finish.
//   3. fence_old_primary: mark it fenced (workers never send it another write), make it refuse writes
//      (ALTER SYSTEM SET default_transaction_read_only = on, reload, wait until the setting is live)
//      and terminate the remaining sessions of sluice's server users on it, waiting for each to exit,
//      so that nothing can commit there after step 4.
//   4. read_old_lsn: one tiny commit flushes its WAL (commits acknowledged with synchronous_commit =
//      off may not be flushed yet), then its pg_current_wal_flush_lsn(): everything ever committed
//      there is before it.
//   5. catch_up: wait up to catchup_timeout until the target has replayed up to that position.
//   6. repoint_replicas: point the other replicas at the target (primary_conninfo, reload), creating
//      their replication slot on it. Done before the promotion, so they cascade from the target and
//      cannot receive anything from the old primary that the target lacks; when the target is
//      promoted they follow its new timeline (recovery_target_timeline = 'latest', the default).
//   7. promote: pg_promote() on the target, polled until it leaves recovery; workers write to it at
//      once (promoted_primary).
//   8. open_gate: the held units go to the new primary.
// A failure before 7 is undone: old primary writable again, unfenced, gate open.
// Failover is the same without 2-5 (the primary is gone): the most advanced reachable replica (by
// received WAL, asked directly) is promoted, and the old primary stays fenced when it comes back.
#include "router/failover/orchestrator.hpp"

#include <spdlog/spdlog.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "router/failover/pg_admin.hpp"
#include "scoring/wal_position.hpp"

namespace sluice::router::failover {

namespace {

using steady_clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds connect_timeout{3000};
constexpr milliseconds query_timeout{5000};
constexpr milliseconds promote_timeout{60'000};   // the promoted server leaves recovery within this
constexpr milliseconds setting_live_timeout{2000}; // a reloaded setting reaches every backend
constexpr milliseconds agree_for{1000};
constexpr milliseconds terminate_timeout{5000};
constexpr milliseconds split_check_interval{5000}; // re-check a split brain at most this often    // terminated sessions are gone within this            // probes agree this long: promoted_primary is cleared

milliseconds since(steady_clock::time_point t0) {
  return std::chrono::duration_cast<milliseconds>(steady_clock::now() - t0);
}

std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
          out += escaped;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string json_strings(const std::vector<std::string>& values) {
  std::string out = "[";
  for (std::size_t i = 0; i < values.size(); ++i) {
    // Appended piece by piece: `"," + std::string&&` trips GCC 12's -Wrestrict false positive at -O3.
    if (i != 0) out += ',';
    out += json_string(values[i]);
  }
  return out + "]";
}

// A text[] literal of sluice's server user names, for `usename = ANY($1::text[])`.
std::string server_users_array(const config::config& cfg) {
  std::string out = "{";
  bool first = true;
  for (const auto& user : cfg.users) {
    const auto& name = user.server_user.empty() ? user.name : user.server_user;
    if (!first) out += ',';
    first = false;
    out += '"';
    for (const char c : name) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

// Adds a step to the report and logs it.
void add_step(operation_report& report, std::string name, steady_clock::time_point t0, bool ok, std::string detail) {
  const auto took = since(t0);
  if (ok) {
    spdlog::info("{}: {} ({} ms){}{}", report.kind, name, took.count(), detail.empty() ? "" : ": ", detail);
  } else {
    spdlog::error("{}: {} failed ({} ms): {}", report.kind, name, took.count(), detail);
  }
  report.steps.push_back({std::move(name), took, ok, std::move(detail)});
}

operation_report refused(std::string kind, int status, std::string error) {
  operation_report report;
  report.kind = std::move(kind);
  report.status = status;
  report.error = std::move(error);
  report.started_unix_ms = unix_ms_now();
  return report;
}

// ALTER SYSTEM SET/RESET default_transaction_read_only, reload, and wait until this session sees
// the new value (the postmaster signals every backend at once, so the others have it too).
bool set_read_only(pg_admin& conn, bool on, std::string& error) {
  const auto alter = conn.query(on ? "ALTER SYSTEM SET default_transaction_read_only = on"
                                   : "ALTER SYSTEM RESET default_transaction_read_only");
  if (!alter.ok) {
    error = alter.error;
    return false;
  }
  const auto reload = conn.query("SELECT pg_reload_conf()");
  if (!reload.ok) {
    error = reload.error;
    return false;
  }
  const auto deadline = steady_clock::now() + setting_live_timeout;
  for (;;) {
    const auto value = conn.query("SELECT current_setting('default_transaction_read_only')");
    if (!value.ok) {
      error = value.error;
      return false;
    }
    if ((value.value() == "on") == on) return true;
    if (steady_clock::now() >= deadline) {
      error = "the reloaded setting did not take effect within 2 s";
      return false;
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
}

// Terminates the sessions of sluice's server users on an old primary (not this one, not the probes',
// not walsenders), then waits until they are gone: a session inside COMMIT finishes it first, so
// only after this is the WAL position final. Returns how many, or nullopt (error in conn.error()).
std::optional<std::uint32_t> terminate_sessions(pg_admin& conn, const config::config& cfg) {
  const auto signalled = conn.query(
      "SELECT COALESCE(array_agg(pid) FILTER (WHERE pg_terminate_backend(pid)), '{}')::text FROM pg_stat_activity "
      "WHERE pid <> pg_backend_pid() AND backend_type = 'client backend' AND usename = ANY($1::text[]) "
      "AND application_name IS DISTINCT FROM 'sluice-probe'",
      {server_users_array(cfg)});
  if (!signalled.ok) return std::nullopt;
  const auto pids = signalled.value();
  const auto count = static_cast<std::uint32_t>(pids.size() > 2 ? std::count(pids.begin(), pids.end(), ',') + 1 : 0);
  const auto deadline = steady_clock::now() + terminate_timeout;
  while (count != 0) {
    const auto left = conn.query("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int[])", {pids});
    if (!left.ok) return std::nullopt;
    if (left.value() == "0") break;
    if (steady_clock::now() >= deadline) break;  // reported by the caller's LSN wait if it mattered
    std::this_thread::sleep_for(milliseconds(2));
  }
  return count;
}

// pg_promote() without its own wait (which polls every 100 ms), then polls pg_is_in_recovery()
// every 2 ms. Returns "" once the server has left recovery, else why not.
std::string promote(pg_admin& conn) {
  const auto signalled = conn.query("SELECT pg_promote(false)");
  if (!signalled.ok) return signalled.error;
  if (signalled.value() != "t") return "pg_promote returned false";
  const auto deadline = steady_clock::now() + promote_timeout;
  for (;;) {
    const auto state = conn.query("SELECT pg_is_in_recovery()");
    if (state.ok && state.value() == "f") return {};
    if (!state.ok && !conn.connected()) return state.error;
    if (steady_clock::now() >= deadline) return "still in recovery 60 s after pg_promote";
    std::this_thread::sleep_for(milliseconds(2));
  }
}

// Makes the old primary flush all its WAL now: with synchronous_commit = off, commits acknowledged
// to clients may sit unflushed (so unsent to replicas) for up to 3 x wal_writer_delay. A commit that
// wrote WAL, with synchronous_commit = local, flushes everything before it; a temporary table
// dropped at commit is the smallest such write any user may make (PostgreSQL flushes a commit only
// when its transaction wrote WAL: an xid alone is not enough). It overrides
// default_transaction_read_only for itself only (BEGIN READ WRITE) and leaves nothing behind.
std::string flush_wal(pg_admin& conn) {
  for (const char* sql : {"SET synchronous_commit = local", "BEGIN READ WRITE",
                          "CREATE TEMPORARY TABLE sluice_flush () ON COMMIT DROP", "COMMIT"}) {
    const auto done = conn.query(sql);
    if (!done.ok) {
      conn.query("ROLLBACK");
      return done.error;
    }
  }
  return {};
}

// The other replicas follow the new primary: for each backend but `skip` (the old primary) and
// `target`, create its replication slot on the target, rewrite primary_conninfo to the target's host
// and port (ALTER SYSTEM and a reload). Problems become warnings; report.repointed lists the successes.
void repoint_replicas(const config::config& cfg, operation_report& report, std::size_t target,
                      std::optional<std::size_t> skip, pg_admin& target_conn, milliseconds timeout) {
  for (std::size_t i = 0; i < cfg.backends.size(); ++i) {
    if ((skip && i == *skip) || i == target || cfg.backends[i].removed) continue;
    const auto& name = cfg.backends[i].name;
    pg_admin replica;
    if (!replica.connect(admin_target(cfg, i), timeout)) {
      report.warnings.push_back("could not repoint '" + name + "': " + replica.error());
      continue;
    }
    const auto settings = replica.query(
        "SELECT pg_is_in_recovery(), current_setting('primary_conninfo'), current_setting('primary_slot_name')");
    if (!settings.ok || settings.rows.empty() || settings.rows[0].size() != 3) {
      report.warnings.push_back("could not read primary_conninfo of '" + name + "': " + settings.error);
      continue;
    }
    if (settings.value() != "t") {
      report.warnings.push_back("'" + name + "' is not a replica; left alone");
      continue;
    }
    const auto slot = settings.rows[0][2].value_or("");
    if (!slot.empty()) {
      const auto created = target_conn.query(
          "SELECT pg_create_physical_replication_slot($1, true) "
          "WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)", {slot});
      if (!created.ok) report.warnings.push_back("could not create slot '" + slot + "' for '" + name + "': " + created.error);
    }
    const auto conninfo = rewrite_conninfo(settings.rows[0][1].value_or(""), cfg.backends[target].host,
                                           cfg.backends[target].port);
    const auto alter = replica.query("ALTER SYSTEM SET primary_conninfo = " + sql_literal(conninfo));
    const auto reload = alter.ok ? replica.query("SELECT pg_reload_conf()") : alter;
    if (!reload.ok) {
      report.warnings.push_back("could not repoint '" + name + "': " + reload.error);
      continue;
    }
    report.repointed.push_back(name);
  }
}

}  // namespace

struct orchestrator::run_context {
  steady_clock::time_point started = steady_clock::now();
  std::optional<steady_clock::time_point> outage_started;  // failover: the primary's first failed probe
};

std::string operation_report::to_json() const {
  std::ostringstream out;
  out << "{\"kind\":" << json_string(kind) << ",\"ok\":" << (ok ? "true" : "false") << ",\"status\":" << status
      << ",\"error\":" << json_string(error) << ",\"trigger\":" << json_string(trigger)
      << ",\"old_primary\":" << json_string(old_primary) << ",\"new_primary\":" << json_string(new_primary)
      << ",\"started_unix_ms\":" << started_unix_ms << ",\"total_ms\":" << total.count()
      << ",\"detect_ms\":" << detect.count() << ",\"writes_held_ms\":" << writes_held_for.count()
      << ",\"held_writes\":" << held_writes << ",\"held_timed_out\":" << held_timed_out
      << ",\"in_flight_at_hold\":" << in_flight_at_hold << ",\"in_flight_after_drain\":" << in_flight_after_drain
      << ",\"terminated_backends\":" << terminated_backends << ",\"old_primary_lsn\":" << json_string(old_primary_lsn)
      << ",\"target_lsn_at_start\":" << json_string(target_lsn_at_start)
      << ",\"target_lsn_at_promotion\":" << json_string(target_lsn_at_promotion)
      << ",\"lag_bytes_at_start\":" << lag_bytes_at_start << ",\"lag_bytes_at_promotion\":" << lag_bytes_at_promotion
      << ",\"repointed\":" << json_strings(repointed) << ",\"warnings\":" << json_strings(warnings) << ",\"steps\":[";
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const auto& step = steps[i];
    out << (i ? "," : "") << "{\"name\":" << json_string(step.name) << ",\"ms\":" << step.took.count()
        << ",\"ok\":" << (step.ok ? "true" : "false") << ",\"detail\":" << json_string(step.detail) << "}";
  }
  out << "]}";
  return out.str();
}

orchestrator::orchestrator(shared_state& shared) : shared_(shared), views_(shared.backend_slots) {}

bool orchestrator::in_use(std::size_t backend) const {
  const auto& backends = shared_.cfg().backends;
  return backend < backends.size() && !backends[backend].removed;
}

orchestrator::~orchestrator() { stop(); }

void orchestrator::start() {
  std::lock_guard lock(mutex_);
  if (monitor_.joinable()) return;
  stopping_ = false;
  monitor_ = std::thread([this] { monitor_loop(); });
}

void orchestrator::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (monitor_.joinable()) monitor_.join();
}

std::optional<std::size_t> orchestrator::find_backend(std::string_view name) const {
  const auto& backends = shared_.cfg().backends;
  for (std::size_t i = 0; i < backends.size(); ++i) {
    if (backends[i].name == name && !backends[i].removed) return i;
  }
  return std::nullopt;
}

bool orchestrator::busy() const {
  std::lock_guard lock(mutex_);
  return !running_.empty();
}

operation_report orchestrator::last_report() const {
  std::lock_guard lock(mutex_);
  return last_;
}

std::optional<std::size_t> orchestrator::current_primary() const {
  std::lock_guard lock(mutex_);
  return current_primary_locked();
}

std::optional<std::size_t> orchestrator::current_primary_locked() const {
  const auto fenced = [this](std::size_t i) { return shared_.control[i].fenced.load(std::memory_order_relaxed); };
  const int promoted = shared_.promoted_primary.load(std::memory_order_acquire);
  if (promoted >= 0 && !fenced(static_cast<std::size_t>(promoted))) return static_cast<std::size_t>(promoted);
  std::optional<std::size_t> found;
  std::size_t count = 0;
  for (std::size_t i = 0; i < views_.size(); ++i) {
    if (!in_use(i)) continue;  // a slot no backend uses (unused, or removed by a reload)
    if (!fenced(i) && views_[i].seen_as_primary) {
      found = i;
      ++count;
    }
  }
  if (count == 1) return found;
  if (count > 1) return std::nullopt;  // split brain: an operator decides
  const auto configured = shared_.primary_index;
  const auto& view = views_[configured];
  if (fenced(configured) || (view.reachable && view.in_recovery)) return std::nullopt;
  return configured;  // no probe has shown a primary yet (or it was down from the start)
}

void orchestrator::finish(operation_report& report, steady_clock::time_point started) {
  report.total = since(started);
  if (report.ok) {
    spdlog::info("{} done in {} ms: {} -> {}; writes held {} ms ({} waited)", report.kind, report.total.count(),
                 report.old_primary, report.new_primary, report.writes_held_for.count(), report.held_writes);
  } else {
    spdlog::error("{} failed after {} ms: {}", report.kind, report.total.count(), report.error);
  }
  std::lock_guard lock(mutex_);
  running_.clear();
  last_ = report;
}

operation_report orchestrator::switchover(std::string_view target) {
  std::unique_lock operation(operation_mutex_, std::try_to_lock);
  if (!operation.owns_lock()) return refused("switchover", 409, "another switchover, failover or rejoin is running");
  const auto index = find_backend(target);
  if (!index) return refused("switchover", 404, "no backend named '" + std::string(target) + "'");
  {
    std::lock_guard lock(mutex_);
    running_ = "switchover";
  }
  run_context run;
  auto report = run_switchover(*index, run);
  finish(report, run.started);
  return report;
}

operation_report orchestrator::failover(std::string_view target, bool force) {
  std::unique_lock operation(operation_mutex_, std::try_to_lock);
  if (!operation.owns_lock()) return refused("failover", 409, "another switchover, failover or rejoin is running");
  std::optional<std::size_t> index;
  if (!target.empty()) {
    index = find_backend(target);
    if (!index) return refused("failover", 404, "no backend named '" + std::string(target) + "'");
  }
  run_context run;
  {
    std::lock_guard lock(mutex_);
    running_ = "failover";
    if (outage_started_ != steady_clock::time_point{}) run.outage_started = outage_started_;
  }
  auto report = run_failover(index, force, "api", run);
  finish(report, run.started);
  return report;
}

operation_report orchestrator::rejoin(std::string_view name) {
  std::unique_lock operation(operation_mutex_, std::try_to_lock);
  if (!operation.owns_lock()) return refused("rejoin", 409, "another switchover, failover or rejoin is running");
  const auto index = find_backend(name);
  if (!index) return refused("rejoin", 404, "no backend named '" + std::string(name) + "'");
  if (shared_.cfg().failover.rejoin_command.empty()) {
    return refused("rejoin", 400, "failover.rejoin_command is not set: rejoin the old primary by hand (docs/operations.md)");
  }
  if (current_primary() == index) return refused("rejoin", 409, "'" + std::string(name) + "' is the current primary");
  {
    std::lock_guard lock(mutex_);
    running_ = "rejoin";
  }
  run_context run;
  operation_report report;
  report.kind = "rejoin";
  report.trigger = "api";
  report.started_unix_ms = unix_ms_now();
  report.old_primary = std::string(name);
  if (const auto primary = current_primary()) report.new_primary = shared_.cfg().backends[*primary].name;  // followed
  report.ok = run_rejoin(*index, run, report);
  if (!report.ok) report.status = 500;
  finish(report, run.started);
  return report;
}

bool orchestrator::run_rejoin(std::size_t backend, run_context&, operation_report& report) {
  const auto& cfg = shared_.cfg();
  const auto& node = cfg.backends[backend];
  std::string command = cfg.failover.rejoin_command;
  const auto primary = current_primary();
  const auto replace = [&command](std::string_view key, const std::string& value) {
    for (auto at = command.find(key); at != std::string::npos; at = command.find(key, at + value.size())) {
      command.replace(at, key.size(), value);
    }
  };
  replace("{name}", node.name);
  replace("{host}", node.host);
  replace("{port}", std::to_string(node.port));
  replace("{primary_name}", primary ? cfg.backends[*primary].name : "");
  replace("{primary_host}", primary ? cfg.backends[*primary].host : "");
  replace("{primary_port}", primary ? std::to_string(cfg.backends[*primary].port) : "");

  auto t0 = steady_clock::now();
  std::string output;
  int status = -1;
  if (FILE* pipe = ::popen((command + " 2>&1").c_str(), "r")) {
    char buffer[512];
    while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) {
      if (output.size() < 4000) output += buffer;
    }
    status = ::pclose(pipe);
  }
  while (!output.empty() && output.back() == '\n') output.pop_back();
  const bool ran = status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  const auto tail = output.size() > 600 ? output.substr(output.size() - 600) : output;
  add_step(report, "rejoin_command", t0, ran, "'" + command + "' " + (ran ? "succeeded" : "failed") +
                                                  (tail.empty() ? "" : ": " + tail));
  if (!ran) {
    report.error = "rejoin_command failed for '" + node.name + "'" + (tail.empty() ? "" : ": " + tail);
    return false;
  }
  // The probes must see it as a replica before it may take writes again.
  t0 = steady_clock::now();
  const auto deadline = t0 + cfg.failover.catchup_timeout + std::chrono::seconds(10);
  bool replica = false;
  while (steady_clock::now() < deadline) {
    {
      std::lock_guard lock(mutex_);
      const auto& view = views_[backend];
      replica = view.reachable && view.in_recovery;
    }
    if (replica) break;
    std::this_thread::sleep_for(milliseconds(20));
  }
  add_step(report, "wait_replica", t0, replica,
           replica ? "'" + node.name + "' probes as a replica; fence lifted"
                   : "'" + node.name + "' did not probe as a replica in time");
  if (!replica) {
    report.error = "'" + node.name + "' did not come back as a replica after rejoin_command";
    return false;
  }
  shared_.control[backend].fenced.store(false, std::memory_order_relaxed);
  return true;
}

operation_report orchestrator::run_switchover(std::size_t target, run_context& run) {
  const auto& cfg = shared_.cfg();
  auto& gate = shared_.writes;
  operation_report report;
  report.kind = "switchover";
  report.trigger = "api";
  report.started_unix_ms = unix_ms_now();
  report.new_primary = cfg.backends[target].name;
  const auto fail = [&report](int status, std::string error) {
    report.ok = false;
    report.status = status;
    report.error = std::move(error);
    return report;
  };

  const auto old_index = current_primary();
  if (!old_index) return fail(409, "there is no single primary now (down, or split brain): use failover");
  const auto old = *old_index;
  report.old_primary = cfg.backends[old].name;
  if (old == target) return fail(400, "'" + report.new_primary + "' is already the primary");

  if (shared_.control[target].fenced.load(std::memory_order_relaxed)) {
    if (cfg.failover.rejoin_command.empty()) {
      return fail(409, "'" + report.new_primary + "' is fenced (an old primary): rejoin it as a replica first "
                       "(docs/operations.md), or set failover.rejoin_command");
    }
    if (!run_rejoin(target, run, report)) return fail(500, report.error);
    run.started = steady_clock::now();  // time to detect counts from here, not from the rejoin's start
  }

  // Connections first: nothing is held or changed if either server cannot be reached.
  auto t0 = steady_clock::now();
  pg_admin old_conn;
  pg_admin target_conn;
  if (!old_conn.connect(admin_target(cfg, old), connect_timeout)) {
    add_step(report, "connect", t0, false, "old primary: " + old_conn.error());
    return fail(500, "cannot connect to the primary '" + report.old_primary + "': " + old_conn.error());
  }
  if (!target_conn.connect(admin_target(cfg, target), connect_timeout)) {
    add_step(report, "connect", t0, false, "target: " + target_conn.error());
    return fail(500, "cannot connect to '" + report.new_primary + "': " + target_conn.error());
  }
  const auto target_state = target_conn.query("SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text");
  const auto old_state = old_conn.query("SELECT pg_is_in_recovery(), pg_current_wal_insert_lsn()::text");
  if (!target_state.ok || !old_state.ok) {
    return fail(500, "cannot read the servers' state: " + (target_state.ok ? old_state.error : target_state.error));
  }
  if (target_state.value() != "t") return fail(409, "'" + report.new_primary + "' is not a replica (not in recovery)");
  if (old_state.value() != "f") return fail(409, "'" + report.old_primary + "' is in recovery: not a primary");
  const auto old_lsn_start = parse_lsn(old_state.rows[0][1].value_or("")).value_or(0);
  const auto target_lsn_start = parse_lsn(target_state.rows[0][1].value_or("")).value_or(0);
  report.target_lsn_at_start = format_lsn(target_lsn_start);
  report.lag_bytes_at_start = old_lsn_start > target_lsn_start ? old_lsn_start - target_lsn_start : 0;
  add_step(report, "connect", t0, true,
           "target replay " + report.target_lsn_at_start + ", " + std::to_string(report.lag_bytes_at_start) + " bytes behind");

  // 1. Hold new writes.
  t0 = steady_clock::now();
  const auto timed_out_before = gate.totals().timed_out;
  gate.hold();
  report.detect = since(run.started);
  report.in_flight_at_hold = gate.in_flight();
  add_step(report, "hold_writes", t0, true, std::to_string(report.in_flight_at_hold) + " units in flight");

  bool fenced = false;
  bool read_only = false;
  const auto undo = [&](int status, std::string error) {
    const auto u0 = steady_clock::now();
    std::string problems;
    if (read_only) {
      if (!old_conn.connected()) old_conn.connect(admin_target(cfg, old), connect_timeout);
      std::string undo_error;
      if (!set_read_only(old_conn, false, undo_error)) problems = "could not make it writable again: " + undo_error;
    }
    if (fenced) shared_.control[old].fenced.store(false, std::memory_order_relaxed);
    gate.open();
    report.writes_held_for = gate.hold_duration();
    report.held_writes = gate.held_this_time();
    report.held_timed_out = gate.totals().timed_out - timed_out_before;
    if (!problems.empty()) report.warnings.push_back("'" + report.old_primary + "' " + problems);
    add_step(report, "undo", u0, problems.empty(),
             problems.empty() ? "'" + report.old_primary + "' is the primary again; writes open" : problems);
    return fail(status, std::move(error));
  };

  // 2. Let the units in flight finish.
  t0 = steady_clock::now();
  const bool idle = gate.wait_idle(cfg.failover.drain_timeout);
  report.in_flight_after_drain = gate.in_flight();
  add_step(report, "drain", t0, true,
           idle ? "no unit in flight"
                : std::to_string(report.in_flight_after_drain) + " units still in flight after drain_timeout: terminated next");

  // 3. Fence the old primary and make it refuse writes.
  t0 = steady_clock::now();
  shared_.control[old].fenced.store(true, std::memory_order_release);
  fenced = true;
  std::string error;
  if (!set_read_only(old_conn, true, error)) {
    add_step(report, "fence_old_primary", t0, false, error);
    return undo(500, "cannot make '" + report.old_primary + "' read-only (the [health] user needs ALTER SYSTEM and "
                     "pg_reload_conf: docs/operations.md): " + error);
  }
  read_only = true;
  const auto terminated = terminate_sessions(old_conn, cfg);
  if (!terminated) {
    add_step(report, "fence_old_primary", t0, false, old_conn.error());
    return undo(500, "cannot terminate sessions on '" + report.old_primary + "': " + old_conn.error());
  }
  report.terminated_backends = *terminated;
  add_step(report, "fence_old_primary", t0, true,
           "read-only, " + std::to_string(report.terminated_backends) + " sessions terminated");

  // 4. Its last position, flushed (and so sent to the replicas).
  t0 = steady_clock::now();
  // After the flush, the flush position covers every commit (they all came before that one, their
  // sessions are gone); records after it are not data (page pruning...) and need not be waited for.
  const auto flush_error = flush_wal(old_conn);
  if (!flush_error.empty()) {
    report.warnings.push_back("could not force a WAL flush on the old primary (catch-up may wait for its WAL writer): " +
                              flush_error);
  }
  const auto last = old_conn.query(flush_error.empty() ? "SELECT pg_current_wal_flush_lsn()::text"
                                                       : "SELECT pg_current_wal_insert_lsn()::text");
  const auto old_lsn = parse_lsn(last.value());
  if (!old_lsn) {
    add_step(report, "read_old_lsn", t0, false, last.error);
    return undo(500, "cannot read the WAL position of '" + report.old_primary + "': " + last.error);
  }
  report.old_primary_lsn = format_lsn(*old_lsn);
  add_step(report, "read_old_lsn", t0, true, report.old_primary_lsn);

  // 5. The target replays everything.
  t0 = steady_clock::now();
  const auto wanted = scoring::end_of_last_record(*old_lsn);
  const auto deadline = t0 + cfg.failover.catchup_timeout;
  std::uint64_t replayed = 0;
  for (;;) {
    const auto position = target_conn.query("SELECT pg_last_wal_replay_lsn()::text");
    replayed = parse_lsn(position.value()).value_or(replayed);
    if (replayed >= wanted) break;
    if (steady_clock::now() >= deadline || (!position.ok && !target_conn.connected())) {
      const auto detail = "replayed " + format_lsn(replayed) + " of " + report.old_primary_lsn +
                          (position.ok ? "" : " (" + position.error + ")");
      add_step(report, "catch_up", t0, false, detail);
      return undo(500, "'" + report.new_primary + "' did not catch up within catchup_timeout: " + detail);
    }
    std::this_thread::sleep_for(milliseconds(2));
  }
  report.target_lsn_at_promotion = format_lsn(replayed);
  report.lag_bytes_at_promotion = wanted > replayed ? wanted - replayed : 0;
  add_step(report, "catch_up", t0, true, "replayed " + report.target_lsn_at_promotion);

  // 6. The other replicas follow the target (cascading until it is promoted).
  t0 = steady_clock::now();
  repoint_replicas(cfg, report, target, old, target_conn, connect_timeout);
  add_step(report, "repoint_replicas", t0, true,
           std::to_string(report.repointed.size()) + " replicas now follow '" + report.new_primary + "'");

  // 7. Promote.
  t0 = steady_clock::now();
  if (const auto promote_error = promote(target_conn); !promote_error.empty()) {
    pg_admin check;
    const bool still_replica = check.connect(admin_target(cfg, target), connect_timeout) &&
                               check.query("SELECT pg_is_in_recovery()").value() == "t";
    const auto& detail = promote_error;
    add_step(report, "promote", t0, false, detail);
    if (still_replica) return undo(500, "promoting '" + report.new_primary + "' failed: " + detail);
    report.warnings.push_back("pg_promote reported '" + detail + "' but the target left recovery");
  }
  shared_.control[target].fenced.store(false, std::memory_order_relaxed);
  shared_.promoted_primary.store(static_cast<int>(target), std::memory_order_release);
  add_step(report, "promote", t0, true, "'" + report.new_primary + "' is the primary");

  // A target that inherited default_transaction_read_only (an old primary rejoined from a copy of a
  // fenced one) must take writes.
  if (target_conn.query("SELECT current_setting('default_transaction_read_only')").value() == "on") {
    t0 = steady_clock::now();
    const bool reset = set_read_only(target_conn, false, error);
    add_step(report, "reset_read_only", t0, reset, reset ? "default_transaction_read_only reset" : error);
    if (!reset) report.warnings.push_back("the new primary still has default_transaction_read_only = on: " + error);
  }

  // 8. Send the held writes to it.
  t0 = steady_clock::now();
  gate.open();
  report.writes_held_for = gate.hold_duration();
  report.held_writes = gate.held_this_time();
  report.held_timed_out = gate.totals().timed_out - timed_out_before;
  add_step(report, "open_gate", t0, true,
           std::to_string(report.held_writes) + " held units released after " + std::to_string(report.writes_held_for.count()) + " ms");
  report.ok = true;
  report.status = 200;
  return report;
}

operation_report orchestrator::run_failover(std::optional<std::size_t> target, bool force, std::string trigger,
                                            run_context& run) {
  const auto& cfg = shared_.cfg();
  auto& gate = shared_.writes;
  operation_report report;
  report.kind = "failover";
  report.trigger = std::move(trigger);
  report.started_unix_ms = unix_ms_now();
  const auto fail = [&report](int status, std::string error) {
    report.ok = false;
    report.status = status;
    report.error = std::move(error);
    return report;
  };

  std::optional<std::size_t> old;
  bool old_reachable = false;
  std::uint64_t old_lsn = 0;
  std::vector<std::size_t> candidates;
  {
    std::lock_guard lock(mutex_);
    old = current_primary_locked();
    if (old) {
      old_reachable = views_[*old].reachable;
      old_lsn = views_[*old].lsn;
    }
    for (std::size_t i = 0; i < views_.size(); ++i) {
      if (!in_use(i)) continue;  // a slot no backend uses (unused, or removed by a reload)
      if (old && i == *old) continue;
      if (target && i != *target) continue;
      if (shared_.control[i].fenced.load(std::memory_order_relaxed)) continue;
      if (views_[i].reachable && views_[i].in_recovery) candidates.push_back(i);
    }
  }
  if (old) report.old_primary = cfg.backends[*old].name;
  if (old && target && *old == *target) return fail(400, "'" + report.old_primary + "' is already the primary");
  if (old && old_reachable && !force) {
    return fail(409, "the primary '" + report.old_primary + "' answers its probes: use switchover (or force)");
  }
  if (target && candidates.empty()) {
    return fail(409, "'" + cfg.backends[*target].name + "' is not a reachable, unfenced replica");
  }

  auto t0 = steady_clock::now();
  const auto timed_out_before = gate.totals().timed_out;
  gate.hold();
  report.detect = run.outage_started ? std::chrono::duration_cast<milliseconds>(t0 - *run.outage_started) : since(run.started);
  report.in_flight_at_hold = gate.in_flight();
  add_step(report, "hold_writes", t0, true, std::to_string(report.in_flight_at_hold) + " units in flight");
  const auto give_up = [&](int status, std::string error) {
    gate.open();
    {
      std::lock_guard lock(mutex_);
      monitor_held_gate_ = false;
    }
    report.writes_held_for = gate.hold_duration();
    report.held_writes = gate.held_this_time();
    report.held_timed_out = gate.totals().timed_out - timed_out_before;
    return fail(status, std::move(error));
  };

  // The most advanced replica by WAL received (it replays all of it before the promotion ends).
  t0 = steady_clock::now();
  std::optional<std::size_t> chosen;
  std::uint64_t best = 0;
  pg_admin chosen_conn;
  std::string notes;
  for (const auto i : candidates) {
    const auto c0 = steady_clock::now();
    pg_admin conn;
    if (!conn.connect(admin_target(cfg, i), connect_timeout)) {
      notes += cfg.backends[i].name + ": " + conn.error() + "; ";
      continue;
    }
    const auto state = conn.query(
        "SELECT pg_is_in_recovery(), COALESCE(pg_last_wal_receive_lsn(), '0/0')::text, pg_last_wal_replay_lsn()::text");
    if (!state.ok || state.value() != "t") {
      notes += cfg.backends[i].name + ": " + (state.ok ? "not in recovery" : state.error) + "; ";
      continue;
    }
    const auto received = parse_lsn(state.rows[0][1].value_or("")).value_or(0);
    const auto replayed = parse_lsn(state.rows[0][2].value_or("")).value_or(0);
    const auto position = std::max(received, replayed);
    notes += cfg.backends[i].name + " at " + format_lsn(position) + " (" + std::to_string(since(c0).count()) + " ms); ";
    if (!chosen || position > best) {
      chosen = i;
      best = position;
      chosen_conn = std::move(conn);
    }
  }
  if (!chosen) {
    add_step(report, "choose_target", t0, false, notes.empty() ? "no reachable replica" : notes);
    return give_up(503, "no reachable replica to promote" + (notes.empty() ? std::string() : ": " + notes));
  }
  const auto to = *chosen;
  report.new_primary = cfg.backends[to].name;
  report.target_lsn_at_start = format_lsn(best);
  report.target_lsn_at_promotion = format_lsn(best);
  if (old) {
    report.old_primary_lsn = format_lsn(old_lsn);
    report.lag_bytes_at_start = old_lsn > best ? old_lsn - best : 0;
    report.lag_bytes_at_promotion = report.lag_bytes_at_start;
  }
  add_step(report, "choose_target", t0, true, "'" + report.new_primary + "' (" + notes + ")");

  // Fence the old primary: when it comes back it must not take writes. If it still answers (forced
  // failover), also make it refuse them.
  if (old) {
    t0 = steady_clock::now();
    shared_.control[*old].fenced.store(true, std::memory_order_release);
    std::string detail = "fenced";
    pg_admin old_conn;
    if (old_conn.connect(admin_target(cfg, *old), milliseconds(1000))) {
      std::string error;
      if (set_read_only(old_conn, true, error)) {
        report.terminated_backends = terminate_sessions(old_conn, cfg).value_or(0);
        detail += ", read-only, " + std::to_string(report.terminated_backends) + " sessions terminated";
      } else {
        report.warnings.push_back("the old primary answers but could not be made read-only: " + error);
      }
    } else {
      detail += " (unreachable)";
    }
    add_step(report, "fence_old_primary", t0, true, detail);
  }

  // Others follow the target before it is promoted (see the top of this file).
  t0 = steady_clock::now();
  repoint_replicas(cfg, report, to, old, chosen_conn, milliseconds(1000));
  add_step(report, "repoint_replicas", t0, true,
           std::to_string(report.repointed.size()) + " replicas now follow '" + report.new_primary + "'");

  t0 = steady_clock::now();
  if (const auto promote_error = promote(chosen_conn); !promote_error.empty()) {
    pg_admin check;
    const bool still_replica = check.connect(admin_target(cfg, to), connect_timeout) &&
                               check.query("SELECT pg_is_in_recovery()").value() == "t";
    const auto& detail = promote_error;
    add_step(report, "promote", t0, false, detail);
    if (still_replica) {
      if (old) shared_.control[*old].fenced.store(false, std::memory_order_relaxed);
      return give_up(500, "promoting '" + report.new_primary + "' failed: " + detail);
    }
    report.warnings.push_back("pg_promote reported '" + detail + "' but the target left recovery");
  }
  shared_.control[to].fenced.store(false, std::memory_order_relaxed);
  shared_.promoted_primary.store(static_cast<int>(to), std::memory_order_release);
  add_step(report, "promote", t0, true, "'" + report.new_primary + "' is the primary");

  if (chosen_conn.query("SELECT current_setting('default_transaction_read_only')").value() == "on") {
    t0 = steady_clock::now();
    std::string error;
    const bool reset = set_read_only(chosen_conn, false, error);
    add_step(report, "reset_read_only", t0, reset, reset ? "default_transaction_read_only reset" : error);
  }

  t0 = steady_clock::now();
  gate.open();
  {
    std::lock_guard lock(mutex_);
    monitor_held_gate_ = false;
    outage_started_ = {};
  }
  report.writes_held_for = gate.hold_duration();
  report.held_writes = gate.held_this_time();
  report.held_timed_out = gate.totals().timed_out - timed_out_before;
  add_step(report, "open_gate", t0, true,
           std::to_string(report.held_writes) + " held units released after " + std::to_string(report.writes_held_for.count()) + " ms");
  report.ok = true;
  report.status = 200;
  return report;
}

void orchestrator::on_probe(std::size_t backend, const backends::pg::probe_sample& sample) {
  const auto& cfg = shared_.cfg();
  const auto& probe = sample.probe;
  const auto now = steady_clock::now();
  std::lock_guard lock(mutex_);
  auto& view = views_[backend];
  if (probe.reachable) {
    view.reachable = true;
    view.in_recovery = probe.in_recovery;
    view.lsn = probe.current_lsn;
    view.receive_lsn = probe.receive_lsn;
    view.unreachable_since = {};
    if (!probe.in_recovery) {
      if (!view.seen_as_primary) view.primary_since = now;
      view.seen_as_primary = true;
    } else {
      view.seen_as_primary = false;
      // An old primary that came back as a replica (rejoined) may be promoted again one day.
      if (shared_.control[backend].fenced.load(std::memory_order_relaxed) && running_.empty()) {
        shared_.control[backend].fenced.store(false, std::memory_order_relaxed);
        spdlog::info("backend '{}' is a replica again: its fence is lifted", cfg.backends[backend].name);
      }
    }
    // Once the probes (and so every worker's topology) agree that the promoted backend is the
    // primary, workers follow the probes again, as they must if an outside tool moves the role later.
    if (shared_.promoted_primary.load(std::memory_order_acquire) == static_cast<int>(backend) && !probe.in_recovery &&
        now - view.primary_since >= agree_for) {
      shared_.promoted_primary.store(-1, std::memory_order_release);
    }
  } else if (view.reachable || !view.probed) {
    view.reachable = false;
    view.unreachable_since = now;
  }
  view.probed = true;

  if (!running_.empty()) return;
  const auto primary = current_primary_locked();
  if (!primary) {
    // Two or more unfenced claimants: one may be an old primary that a switchover left read-only
    // before sluice restarted (fences live in memory). The monitor thread checks, at most every 5 s.
    std::size_t claimants = 0;
    for (std::size_t i = 0; i < views_.size(); ++i) {
      if (!in_use(i)) continue;  // a slot no backend uses (unused, or removed by a reload)
      if (views_[i].reachable && views_[i].seen_as_primary && !shared_.control[i].fenced.load(std::memory_order_relaxed)) {
        ++claimants;
      }
    }
    if (claimants > 1 && !split_check_requested_ && now >= next_split_check_) {
      split_check_requested_ = true;
      wake_.notify_all();
    }
    return;
  }
  const auto& current = views_[*primary];
  if (!current.probed) return;
  if (current.reachable) {
    if (outage_started_ != steady_clock::time_point{}) {
      spdlog::info("the primary '{}' answers again", cfg.backends[*primary].name);
    }
    outage_started_ = {};
    if (monitor_held_gate_) {
      shared_.writes.open();
      monitor_held_gate_ = false;
    }
    return;
  }
  if (outage_started_ == steady_clock::time_point{}) {
    outage_started_ = current.unreachable_since;
    next_auto_attempt_ = {};
    spdlog::warn("the primary '{}' stopped answering its probes{}", cfg.backends[*primary].name,
                 cfg.failover.auto_failover ? "; holding writes" : "");
    // Writes wait for the failover rather than fail (bounded by hold_timeout); only while a
    // failover can come, and not again after one failed in this outage.
    if (cfg.failover.auto_failover && !shared_.writes.held()) {
      shared_.writes.hold();
      monitor_held_gate_ = true;
    }
  }
  if (cfg.failover.auto_failover && !auto_requested_ && now - outage_started_ >= cfg.failover.failover_timeout &&
      now >= next_auto_attempt_) {
    auto_requested_ = true;
    wake_.notify_all();
  }
}

void orchestrator::monitor_loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || auto_requested_ || split_check_requested_; });
    if (stopping_) return;
    if (split_check_requested_ && !auto_requested_) {
      lock.unlock();
      resolve_read_only_claimants();
      lock.lock();
      split_check_requested_ = false;
      next_split_check_ = steady_clock::now() + split_check_interval;
      continue;
    }
    run_context run;
    run.outage_started = outage_started_;
    lock.unlock();
    operation_report report;
    {
      std::unique_lock operation(operation_mutex_, std::try_to_lock);
      if (operation.owns_lock()) {
        {
          std::lock_guard inner(mutex_);
          running_ = "failover";
        }
        spdlog::warn("failover: the primary has not answered for failover_timeout ({} ms): failing over",
                     shared_.cfg().failover.failover_timeout.count());
        report = run_failover(std::nullopt, false, "auto", run);
        finish(report, run.started);
      } else {
        report = refused("failover", 409, "another operation is running");
      }
    }
    lock.lock();
    auto_requested_ = false;
    if (!report.ok) next_auto_attempt_ = steady_clock::now() + shared_.cfg().failover.failover_timeout;
  }
}

// Split brain where all claimants but one refuse writes (default_transaction_read_only = on, what a
// switchover's fence leaves behind): the read-only ones cannot take writes anyway, so they are
// fenced and writes resume on the writable one. Anything else stays an operator's decision.
void orchestrator::resolve_read_only_claimants() {
  std::unique_lock operation(operation_mutex_, std::try_to_lock);
  if (!operation.owns_lock()) return;
  const auto& cfg = shared_.cfg();
  std::vector<std::size_t> claimants;
  {
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < views_.size(); ++i) {
      if (!in_use(i)) continue;  // a slot no backend uses (unused, or removed by a reload)
      if (views_[i].reachable && views_[i].seen_as_primary && !shared_.control[i].fenced.load(std::memory_order_relaxed)) {
        claimants.push_back(i);
      }
    }
  }
  if (claimants.size() < 2) return;
  std::vector<std::size_t> read_only;
  for (const auto i : claimants) {
    pg_admin conn;
    if (!conn.connect(admin_target(cfg, i), milliseconds(1000))) return;  // unsure: leave it to an operator
    const auto state = conn.query("SELECT pg_is_in_recovery(), current_setting('default_transaction_read_only')",
                                  {}, milliseconds(1000));
    if (!state.ok || state.rows.empty() || state.rows[0].size() != 2) return;
    if (state.rows[0][0] == "f" && state.rows[0][1] == "on") read_only.push_back(i);
  }
  if (read_only.size() + 1 != claimants.size()) return;
  for (const auto i : read_only) {
    shared_.control[i].fenced.store(true, std::memory_order_release);
    spdlog::warn("backend '{}' reports being a primary but refuses writes (default_transaction_read_only = on: an old "
                 "primary fenced by a switchover?): fenced; rejoin it as a replica (docs/operations.md)",
                 cfg.backends[i].name);
  }
}

std::string orchestrator::status_json() const {
  const auto& cfg = shared_.cfg();
  const auto& gate = shared_.writes;
  const auto totals = gate.totals();
  std::ostringstream out;
  std::lock_guard lock(mutex_);
  const auto primary = current_primary_locked();
  const int promoted = shared_.promoted_primary.load(std::memory_order_acquire);
  out << "{\"auto_failover\":" << (cfg.failover.auto_failover ? "true" : "false")
      << ",\"failover_timeout_ms\":" << cfg.failover.failover_timeout.count()
      << ",\"hold_timeout_ms\":" << cfg.failover.hold_timeout.count() << ",\"max_held\":" << cfg.failover.max_held
      << ",\"drain_timeout_ms\":" << cfg.failover.drain_timeout.count()
      << ",\"catchup_timeout_ms\":" << cfg.failover.catchup_timeout.count()
      << ",\"rejoin_command\":" << json_string(cfg.failover.rejoin_command) << ",\"running\":" << json_string(running_)
      << ",\"primary\":" << (primary ? json_string(cfg.backends[*primary].name) : "null")
      << ",\"promoted_primary\":" << (promoted >= 0 ? json_string(cfg.backends[static_cast<std::size_t>(promoted)].name) : "null")
      << ",\"gate\":{\"held\":" << (gate.held() ? "true" : "false") << ",\"in_flight\":" << gate.in_flight()
      << ",\"waiting\":" << gate.waiting() << ",\"hold_ms\":" << gate.hold_duration().count()
      << ",\"holds\":" << totals.holds << ",\"held_total\":" << totals.held << ",\"released\":" << totals.released
      << ",\"timed_out\":" << totals.timed_out << ",\"queue_full\":" << totals.queue_full << "},\"backends\":[";
  bool first = true;
  for (std::size_t i = 0; i < views_.size(); ++i) {
    if (!in_use(i)) continue;  // a slot no backend uses (unused, or removed by a reload)
    const auto& view = views_[i];
    out << (first ? "" : ",") << "{\"name\":" << json_string(cfg.backends[i].name)
        << ",\"reachable\":" << (view.reachable ? "true" : "false")
        << ",\"in_recovery\":" << (view.in_recovery ? "true" : "false")
        << ",\"fenced\":" << (shared_.control[i].fenced.load(std::memory_order_relaxed) ? "true" : "false")
        << ",\"lsn\":" << json_string(format_lsn(view.lsn)) << "}";
    first = false;
  }
  out << "],\"last\":" << (last_.kind.empty() ? std::string("null") : last_.to_json()) << "}";
  return out.str();
}

}  // namespace sluice::router::failover
