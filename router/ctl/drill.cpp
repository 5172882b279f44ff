// `sluicectl drill`: a canary workload through the proxy (numbered autocommit inserts and max(id)
// reads in a table of its own) while the admin API performs a switchover, and optionally one back;
// then every acknowledged insert is looked up on the new primary. Lost acknowledged writes fail the
// drill. See docs/operations.md ("Drills").
#include "router/ctl/drill.hpp"

#include <libpq-fe.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

namespace sluice::ctl {

namespace {

namespace json = boost::json;
using steady_clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int exit_passed = 0;
constexpr int exit_failed = 1;
constexpr int exit_usage = 2;
constexpr int switchover_timeout_ms = 600'000;
constexpr const char* connection_lost = "08006";  // what a broken connection counts as

const char* const drill_usage =
    "usage: sluicectl drill [--switchover-to NAME] [--and-back] [--duration 30s] [--dsn DSN]\n"
    "                       [--write-rate N] [--read-rate N] [--json]\n"
    "A canary workload through the proxy while the admin API performs a switchover:\n"
    "  a writer inserts numbered rows (autocommit) into a table sluice_drill_<pid>, a reader reads\n"
    "  max(id) (served by replicas); after a third of --duration the primary is switched over to\n"
    "  NAME (default: the most advanced replica); with --and-back, after another third it is switched\n"
    "  back (the old primary is rejoined first with the config's failover.rejoin_command).\n"
    "  At the end every acknowledged insert is looked up on the new primary; the table is dropped.\n"
    "  --dsn DSN       libpq connection string for the proxy (default: env SLUICE_DRILL_DSN, else\n"
    "                  libpq's PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE)\n"
    "  --write-rate N  inserts per second (default 200); --read-rate N reads per second (default 200)\n"
    "Exit status: 0 passed, 1 failed (acknowledged writes lost, or a switchover failed), 2 usage or\n"
    "setup error (no proxy, no admin API, cannot switch back without failover.rejoin_command).\n";

struct drill_options {
  std::string target;
  bool and_back = false;
  milliseconds duration{30'000};
  std::string dsn;
  double write_rate = 200;
  double read_rate = 200;
};

std::optional<milliseconds> parse_duration(const std::string& text) {
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || !(value > 0)) return std::nullopt;
  const std::string unit(end);
  double ms = 0;
  if (unit.empty() || unit == "s") ms = value * 1000;
  else if (unit == "ms") ms = value;
  else if (unit == "m" || unit == "min") ms = value * 60'000;
  else return std::nullopt;
  return milliseconds(static_cast<std::int64_t>(ms));
}

double seconds_between(steady_clock::time_point from, steady_clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// One libpq connection through the proxy that reconnects after a failure.
class client {
 public:
  explicit client(std::string dsn) : dsn_(std::move(dsn)) {}
  ~client() { close(); }
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  bool connect(std::string& error) {
    close();
    const char* keywords[] = {"connect_timeout", "application_name", "dbname", nullptr};
    const char* values[] = {"5", "sluice-drill", dsn_.c_str(), nullptr};
    conn_ = PQconnectdbParams(keywords, values, 1);
    if (conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK) {
      PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
      return true;
    }
    error = conn_ != nullptr ? PQerrorMessage(conn_) : "out of memory";
    while (!error.empty() && (error.back() == '\n' || error.back() == ' ')) error.pop_back();
    close();
    return false;
  }
  bool connected() const { return conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK; }
  void close() {
    if (conn_ != nullptr) PQfinish(conn_);
    conn_ = nullptr;
  }

  struct outcome {
    bool ok = false;
    std::string sqlstate;  // on failure: the server's, or 08006 for a lost connection
    std::string message;
    std::vector<std::vector<std::string>> rows;
  };

  outcome run(const std::string& sql, const std::vector<std::string>& params = {}) {
    outcome out;
    if (!connected()) {
      out.sqlstate = connection_lost;
      out.message = "not connected";
      return out;
    }
    std::vector<const char*> values;
    for (const auto& p : params) values.push_back(p.c_str());
    PGresult* result = PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                                    values.empty() ? nullptr : values.data(), nullptr, nullptr, 0);
    const auto status = result != nullptr ? PQresultStatus(result) : PGRES_FATAL_ERROR;
    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
      out.ok = true;
      for (int r = 0; r < PQntuples(result); ++r) {
        std::vector<std::string> row;
        for (int c = 0; c < PQnfields(result); ++c) row.emplace_back(PQgetvalue(result, r, c));
        out.rows.push_back(std::move(row));
      }
    } else {
      const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
      out.sqlstate = state != nullptr ? state : connection_lost;
      out.message = result != nullptr ? PQresultErrorMessage(result) : PQerrorMessage(conn_);
      if (out.message.empty()) out.message = PQerrorMessage(conn_);
      while (!out.message.empty() && (out.message.back() == '\n' || out.message.back() == ' ')) out.message.pop_back();
      if (PQstatus(conn_) != CONNECTION_OK) close();
    }
    if (result != nullptr) PQclear(result);
    return out;
  }

 private:
  std::string dsn_;
  PGconn* conn_ = nullptr;
};

struct error_event {
  double at = 0;  // seconds since the drill started
  std::string sqlstate;
  std::string message;
};

// What the writer saw.
struct writer_log {
  std::vector<std::pair<std::int64_t, double>> acked;  // id, ack time (s since start)
  std::vector<error_event> errors;
  std::int64_t attempted = 0;
  double slowest = 0;      // seconds, slowest acknowledged insert
  double slowest_at = 0;
};

// What the reader saw: per read, when it started, the newest id acknowledged by then, the max it
// read, and which server port answered.
struct read_sample {
  double at = 0;
  std::int64_t acked_before = 0;
  std::int64_t seen = 0;
  std::string server;
};

struct reader_log {
  std::vector<read_sample> reads;
  std::vector<error_event> errors;
};

struct switch_result {
  std::string to;
  int status = 0;
  double requested_at = 0;  // s since start
  double answered_at = 0;
  json::value report;       // the orchestrator's report (or the error)
  std::string error;
  bool ok = false;
};

std::string text_of(const json::value* value) {
  if (value == nullptr || value->is_null()) return "";
  if (value->is_string()) return std::string(value->as_string());
  return json::serialize(*value);
}

const json::value* field(const json::value& value, std::string_view key) {
  if (!value.is_object()) return nullptr;
  const auto& object = value.as_object();
  const auto found = object.find(key);
  return found == object.end() ? nullptr : &found->value();
}

std::int64_t number_of(const json::value* value) {
  if (value == nullptr) return 0;
  if (value->is_int64()) return value->as_int64();
  if (value->is_uint64()) return static_cast<std::int64_t>(value->as_uint64());
  if (value->is_double()) return static_cast<std::int64_t>(value->as_double());
  return 0;
}

switch_result switch_to(const admin_endpoint& admin, const std::string& target, steady_clock::time_point t0) {
  switch_result result;
  result.to = target;
  result.requested_at = seconds_between(t0, steady_clock::now());
  const auto reply = admin_request(admin, "POST", "/switchover", json::serialize(json::object{{"to", target}}),
                                   switchover_timeout_ms);
  result.answered_at = seconds_between(t0, steady_clock::now());
  result.status = reply.status;
  if (reply.status == 0) {
    result.error = reply.error;
    return result;
  }
  boost::system::error_code ec;
  result.report = json::parse(reply.body, ec);
  if (ec) result.report = json::string(reply.body);
  result.ok = reply.status == 200 && field(result.report, "ok") != nullptr && field(result.report, "ok")->is_bool() &&
              field(result.report, "ok")->as_bool();
  if (!result.ok) {
    result.error = text_of(field(result.report, "error"));
    if (result.error.empty()) result.error = "HTTP " + std::to_string(reply.status) + ": " + reply.body;
  }
  return result;
}

json::object errors_by_state(const std::vector<error_event>& errors) {
  std::map<std::string, std::pair<std::int64_t, std::string>> counts;
  for (const auto& e : errors) {
    auto& entry = counts[e.sqlstate];
    ++entry.first;
    if (entry.second.empty()) entry.second = e.message;
  }
  json::object out;
  for (const auto& [state, entry] : counts) out[state] = json::object{{"count", entry.first}, {"example", entry.second}};
  return out;
}

}  // namespace

int run_drill(const admin_endpoint& admin, const std::vector<std::string>& args, bool json_output) {
  drill_options options;
  if (const char* dsn = std::getenv("SLUICE_DRILL_DSN")) options.dsn = dsn;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string word = args[i];
    std::optional<std::string> inline_value;
    if (word.rfind("--", 0) == 0 && word.find('=') != std::string::npos) {
      inline_value = word.substr(word.find('=') + 1);
      word = word.substr(0, word.find('='));
    }
    const auto value = [&]() -> std::optional<std::string> {
      if (inline_value) return inline_value;
      if (i + 1 >= args.size()) return std::nullopt;
      return args[++i];
    };
    if (word == "--help" || word == "-h") {
      std::fputs(drill_usage, stdout);
      return exit_passed;
    }
    if (word == "--and-back") {
      options.and_back = true;
      continue;
    }
    const auto v = value();
    if (!v) {
      std::fprintf(stderr, "sluicectl drill: %s needs a value\n%s", word.c_str(), drill_usage);
      return exit_usage;
    }
    if (word == "--switchover-to") {
      options.target = *v;
    } else if (word == "--duration") {
      const auto d = parse_duration(*v);
      if (!d || *d < milliseconds(3000)) {
        std::fprintf(stderr, "sluicectl drill: --duration needs at least 3s (30s, 500ms, 2m): '%s'\n", v->c_str());
        return exit_usage;
      }
      options.duration = *d;
    } else if (word == "--dsn") {
      options.dsn = *v;
    } else if (word == "--write-rate" || word == "--read-rate") {
      const double rate = std::strtod(v->c_str(), nullptr);
      if (!(rate > 0)) {
        std::fprintf(stderr, "sluicectl drill: %s needs a positive number\n", word.c_str());
        return exit_usage;
      }
      (word == "--write-rate" ? options.write_rate : options.read_rate) = rate;
    } else {
      std::fprintf(stderr, "sluicectl drill: unknown argument '%s'\n%s", word.c_str(), drill_usage);
      return exit_usage;
    }
  }

  // Where things stand: the primary, the replicas, whether a switch back is possible.
  const auto status_reply = admin_request(admin, "GET", "/failover");
  if (status_reply.status != 200) {
    std::fprintf(stderr, "sluicectl drill: cannot read GET /failover: %s\n",
                 status_reply.status == 0 ? status_reply.error.c_str() : status_reply.body.c_str());
    return exit_usage;
  }
  boost::system::error_code ec;
  const auto status = json::parse(status_reply.body, ec);
  if (ec || !status.is_object()) {
    std::fprintf(stderr, "sluicectl drill: GET /failover did not answer JSON\n");
    return exit_usage;
  }
  const auto original_primary = text_of(field(status, "primary"));
  if (original_primary.empty()) {
    std::fprintf(stderr, "sluicectl drill: there is no single primary now; a drill needs a healthy cluster\n");
    return exit_usage;
  }
  if (options.target.empty()) {
    if (const auto* list = field(status, "backends"); list != nullptr && list->is_array()) {
      std::string best_lsn;
      for (const auto& b : list->as_array()) {
        const auto* reachable = field(b, "reachable");
        const auto* recovery = field(b, "in_recovery");
        const auto* fenced = field(b, "fenced");
        if (reachable && reachable->is_bool() && reachable->as_bool() && recovery && recovery->is_bool() &&
            recovery->as_bool() && !(fenced && fenced->is_bool() && fenced->as_bool())) {
          // The first reachable replica (the admin API lists backends in config order).
          if (options.target.empty()) options.target = text_of(field(b, "name"));
        }
      }
    }
    if (options.target.empty()) {
      std::fprintf(stderr, "sluicectl drill: no reachable replica to switch over to\n");
      return exit_usage;
    }
  }
  if (options.target == original_primary) {
    std::fprintf(stderr, "sluicectl drill: '%s' is already the primary\n", options.target.c_str());
    return exit_usage;
  }
  if (options.and_back && text_of(field(status, "rejoin_command")).empty()) {
    std::fprintf(stderr,
                 "sluicectl drill: cannot switch back: after the switchover '%s' is an old primary, fenced until\n"
                 "it is rejoined as a replica, and the config sets no failover.rejoin_command to do that.\n"
                 "Set one (docs/operations.md), or drill without --and-back and rejoin it by hand.\n",
                 original_primary.c_str());
    return exit_usage;
  }

  // The drill table, through the proxy.
  const std::string table = "sluice_drill_" + std::to_string(::getpid());
  client setup(options.dsn);
  std::string error;
  if (!setup.connect(error)) {
    std::fprintf(stderr, "sluicectl drill: cannot connect to the proxy: %s\n", error.c_str());
    return exit_usage;
  }
  const auto created = setup.run("CREATE TABLE " + table +
                                 " (id bigint PRIMARY KEY, written_at timestamptz NOT NULL DEFAULT clock_timestamp())");
  if (!created.ok) {
    std::fprintf(stderr, "sluicectl drill: CREATE TABLE %s failed: %s\n", table.c_str(), created.message.c_str());
    return exit_usage;
  }
  // Reads go to replicas: wait until they have the table (not counted as drill errors).
  for (int i = 0; i < 250 && !setup.run("SELECT max(id) FROM " + table).ok; ++i) {
    if (!setup.connected()) setup.connect(error);
    std::this_thread::sleep_for(milliseconds(20));
  }

  const auto t0 = steady_clock::now();
  const auto since_start = [t0] { return seconds_between(t0, steady_clock::now()); };
  std::atomic<bool> stop{false};
  std::atomic<std::int64_t> last_acked{0};
  writer_log writes;
  reader_log reads;

  std::thread writer([&] {
    client conn(options.dsn);
    std::string connect_error;
    const auto pause = std::chrono::duration<double>(1.0 / options.write_rate);
    auto next = steady_clock::now();
    std::int64_t id = 0;
    while (!stop.load()) {
      next += std::chrono::duration_cast<steady_clock::duration>(pause);
      if (!conn.connected() && !conn.connect(connect_error)) {
        writes.errors.push_back({since_start(), connection_lost, connect_error});
        std::this_thread::sleep_for(milliseconds(50));
        next = steady_clock::now();
        continue;
      }
      ++id;
      ++writes.attempted;
      const auto started = steady_clock::now();
      const auto result = conn.run("INSERT INTO " + table + " (id) VALUES ($1)", {std::to_string(id)});
      const auto took = seconds_between(started, steady_clock::now());
      if (result.ok) {
        writes.acked.emplace_back(id, since_start());
        last_acked.store(id);
        if (took > writes.slowest) {
          writes.slowest = took;
          writes.slowest_at = seconds_between(t0, started);
        }
      } else {
        writes.errors.push_back({seconds_between(t0, started), result.sqlstate, result.message});
      }
      std::this_thread::sleep_until(std::max(next, steady_clock::now()));
      if (steady_clock::now() > next + milliseconds(1000)) next = steady_clock::now();
    }
  });
  std::thread reader([&] {
    client conn(options.dsn);
    std::string connect_error;
    const auto pause = std::chrono::duration<double>(1.0 / options.read_rate);
    auto next = steady_clock::now();
    while (!stop.load()) {
      next += std::chrono::duration_cast<steady_clock::duration>(pause);
      if (!conn.connected() && !conn.connect(connect_error)) {
        reads.errors.push_back({since_start(), connection_lost, connect_error});
        std::this_thread::sleep_for(milliseconds(50));
        next = steady_clock::now();
        continue;
      }
      const auto acked = last_acked.load();
      const auto at = since_start();
      const auto result = conn.run("SELECT COALESCE(max(id), 0), inet_server_port() FROM " + table);
      if (result.ok && !result.rows.empty()) {
        reads.reads.push_back({at, acked, std::strtoll(result.rows[0][0].c_str(), nullptr, 10), result.rows[0][1]});
      } else {
        reads.errors.push_back({at, result.sqlstate.empty() ? "?????" : result.sqlstate, result.message});
      }
      std::this_thread::sleep_until(std::max(next, steady_clock::now()));
      if (steady_clock::now() > next + milliseconds(1000)) next = steady_clock::now();
    }
  });

  // The switchovers, at a third (and two thirds) of the duration.
  std::vector<switch_result> switches;
  const auto third = options.duration / 3;
  std::this_thread::sleep_until(t0 + third);
  switches.push_back(switch_to(admin, options.target, t0));
  if (options.and_back && switches.back().ok) {
    std::this_thread::sleep_until(std::max(steady_clock::now(), t0 + 2 * third));
    switches.push_back(switch_to(admin, original_primary, t0));
  }
  std::this_thread::sleep_until(std::max(steady_clock::now() + milliseconds(1000), t0 + options.duration));
  stop.store(true);
  writer.join();
  reader.join();
  const auto ended = since_start();

  // Every acknowledged write must be on the primary now (the hint routes the read there).
  std::unordered_set<std::int64_t> found_ids;
  std::string verify_error;
  std::string verified_on;
  for (int attempt = 0; attempt < 50; ++attempt) {
    if (!setup.connected() && !setup.connect(error)) {
      verify_error = error;
    } else {
      const auto rows = setup.run("/* sluice: primary */ SELECT id, inet_server_port() FROM " + table);
      if (rows.ok) {
        found_ids.clear();
        for (const auto& row : rows.rows) {
          found_ids.insert(std::strtoll(row[0].c_str(), nullptr, 10));
          verified_on = row[1];
        }
        verify_error.clear();
        break;
      }
      verify_error = rows.sqlstate + " " + rows.message;
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
  std::int64_t found = 0;
  std::vector<std::int64_t> lost_ids;
  for (const auto& [id, at] : writes.acked) {
    if (found_ids.count(id) != 0) {
      ++found;
    } else if (lost_ids.size() < 20) {
      lost_ids.push_back(id);
    }
  }
  const auto acked = static_cast<std::int64_t>(writes.acked.size());
  const bool verified = verify_error.empty();
  const auto lost = verified ? acked - found : acked;
  const auto dropped = setup.run("DROP TABLE IF EXISTS " + table);

  // Staleness of each read: how many acknowledged rows it missed, and for how long the oldest missed
  // one had been acknowledged.
  std::vector<double> ack_time(static_cast<std::size_t>(writes.attempted) + 2, -1);
  for (const auto& [id, at] : writes.acked) ack_time[static_cast<std::size_t>(id)] = at;
  std::int64_t stale_reads = 0;
  std::int64_t max_rows_behind = 0;
  double max_stale_ms = 0;
  std::map<std::string, std::int64_t> read_servers;
  for (const auto& r : reads.reads) {
    ++read_servers[r.server];
    const auto behind = r.acked_before - r.seen;
    if (behind <= 0) continue;
    ++stale_reads;
    max_rows_behind = std::max(max_rows_behind, behind);
    // The first id it did not see that had been acknowledged before the read started.
    for (auto id = r.seen + 1; id <= r.acked_before; ++id) {
      const auto at = ack_time[static_cast<std::size_t>(id)];
      if (at >= 0) {
        max_stale_ms = std::max(max_stale_ms, (r.at - at) * 1000);
        break;
      }
    }
  }

  bool switches_ok = true;
  json::array switch_reports;
  for (const auto& s : switches) {
    switches_ok = switches_ok && s.ok;
    switch_reports.push_back(json::object{{"to", s.to},
                                          {"ok", s.ok},
                                          {"http_status", s.status},
                                          {"error", s.error},
                                          {"requested_at_s", s.requested_at},
                                          {"answered_at_s", s.answered_at},
                                          {"report", s.report}});
  }
  const bool passed = verified && lost == 0 && switches_ok;

  json::object report{
      {"passed", passed},
      {"table", table},
      {"duration_s", ended},
      {"original_primary", original_primary},
      {"target", options.target},
      {"and_back", options.and_back},
      {"switchovers", switch_reports},
      {"writes",
       json::object{{"attempted", writes.attempted},
                    {"acknowledged", acked},
                    {"found_on_primary", found},
                    {"lost", lost},
                    {"lost_examples", json::value_from(lost_ids)},
                    {"verified", verified},
                    {"verify_error", verify_error},
                    {"verified_on_port", verified_on},
                    {"errors", static_cast<std::int64_t>(writes.errors.size())},
                    {"errors_by_sqlstate", errors_by_state(writes.errors)},
                    {"slowest_ack_ms", writes.slowest * 1000},
                    {"slowest_ack_at_s", writes.slowest_at}}},
      {"reads",
       json::object{{"served", static_cast<std::int64_t>(reads.reads.size())},
                    {"errors", static_cast<std::int64_t>(reads.errors.size())},
                    {"errors_by_sqlstate", errors_by_state(reads.errors)},
                    {"stale", stale_reads},
                    {"max_rows_behind", max_rows_behind},
                    {"max_stale_ms", max_stale_ms},
                    {"by_server_port", json::value_from(read_servers)}}},
      {"drop_table", dropped.ok ? std::string("ok") : dropped.message}};

  if (json_output) {
    std::printf("%s\n", json::serialize(report).c_str());
  } else {
    std::printf("drill: %s, %.1f s, table %s\n", passed ? "PASSED" : "FAILED", ended, table.c_str());
    for (const auto& s : switches) {
      std::printf("\nswitchover to '%s' at %.2f s: %s (answered after %.2f s)\n", s.to.c_str(), s.requested_at,
                  s.ok ? "done" : ("FAILED: " + s.error).c_str(), s.answered_at - s.requested_at);
      if (!s.report.is_object()) continue;
      const auto& r = s.report;
      std::printf("  %s -> %s\n", text_of(field(r, "old_primary")).c_str(), text_of(field(r, "new_primary")).c_str());
      std::printf("  time to detect (request to writes held): %lld ms\n",
                  static_cast<long long>(number_of(field(r, "detect_ms"))));
      std::printf("  writes held: %lld ms, %lld units waited (%lld timed out); %lld in flight at the hold, "
                  "%lld sessions terminated on the old primary\n",
                  static_cast<long long>(number_of(field(r, "writes_held_ms"))),
                  static_cast<long long>(number_of(field(r, "held_writes"))),
                  static_cast<long long>(number_of(field(r, "held_timed_out"))),
                  static_cast<long long>(number_of(field(r, "in_flight_at_hold"))),
                  static_cast<long long>(number_of(field(r, "terminated_backends"))));
      std::printf("  replica lag: %lld bytes when it began, %lld bytes at promotion (old primary at %s)\n",
                  static_cast<long long>(number_of(field(r, "lag_bytes_at_start"))),
                  static_cast<long long>(number_of(field(r, "lag_bytes_at_promotion"))),
                  text_of(field(r, "old_primary_lsn")).c_str());
      if (const auto* steps = field(r, "steps"); steps != nullptr && steps->is_array()) {
        std::printf("  steps:");
        for (const auto& step : steps->as_array()) {
          std::printf(" %s %lldms%s", text_of(field(step, "name")).c_str(),
                      static_cast<long long>(number_of(field(step, "ms"))),
                      field(step, "ok") && field(step, "ok")->is_bool() && !field(step, "ok")->as_bool() ? " (FAILED)" : "");
        }
        std::printf("\n");
      }
      if (const auto* warnings = field(r, "warnings"); warnings != nullptr && warnings->is_array()) {
        for (const auto& w : warnings->as_array()) std::printf("  warning: %s\n", text_of(&w).c_str());
      }
    }
    std::printf("\nwrites: %lld attempted, %lld acknowledged, %lld found on the primary, LOST %lld%s\n",
                static_cast<long long>(writes.attempted), static_cast<long long>(acked), static_cast<long long>(found),
                static_cast<long long>(lost), verified ? "" : (" (could not verify: " + verify_error + ")").c_str());
    std::printf("  slowest acknowledged insert: %.0f ms (at %.2f s)\n", writes.slowest * 1000, writes.slowest_at);
    std::printf("  client errors: %zu\n", writes.errors.size());
    for (const auto& [state, entry] : errors_by_state(writes.errors)) {
      std::printf("    %s x%lld: %s\n", std::string(state).c_str(),
                  static_cast<long long>(number_of(field(entry, "count"))), text_of(field(entry, "example")).c_str());
    }
    std::printf("reads: %zu served, %zu errors; %lld stale (at most %lld rows, %.0f ms behind)\n", reads.reads.size(),
                reads.errors.size(), static_cast<long long>(stale_reads), static_cast<long long>(max_rows_behind),
                max_stale_ms);
    for (const auto& [state, entry] : errors_by_state(reads.errors)) {
      std::printf("    %s x%lld: %s\n", std::string(state).c_str(),
                  static_cast<long long>(number_of(field(entry, "count"))), text_of(field(entry, "example")).c_str());
    }
    std::printf("  served by port:");
    for (const auto& [server, count] : read_servers) std::printf(" %s x%lld", server.c_str(), static_cast<long long>(count));
    std::printf("\n");
    if (!dropped.ok) std::printf("warning: DROP TABLE %s failed: %s\n", table.c_str(), dropped.message.c_str());
  }
  return passed ? exit_passed : exit_failed;
}

}  // namespace sluice::ctl
