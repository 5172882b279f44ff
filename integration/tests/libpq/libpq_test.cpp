// End-to-end test of sluice with real libpq clients: the extended-protocol paths hardest for a
// transaction pooler (named statements shared by more clients than server connections, same names with
// different SQL, Describe, pipelines, errors mid-pipeline, binary and large values, transactions).
// Runs from the source root with the CTest fixtures up; finds the ports with `integration/sandbox.sh env`.
#include <libpq-fe.h>

#include <endian.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <latch>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

// PostgreSQL type OIDs used for parameters (pg_type.dat).
constexpr Oid int4_oid = 23;
constexpr Oid int8_oid = 20;
constexpr Oid bytea_oid = 17;
constexpr int text_format = 0;
constexpr int binary_format = 1;

constexpr std::chrono::seconds test_deadline{45};  // one test making no progress this long is a hang
constexpr int max_printed_failures = 40;           // then only counted: 24 threads can fail thousands of times

// ---------------------------------------------------------------------------------------------------
// The sandbox's ports.

struct sandbox {
  int sluice_port = 0;
  int primary_port = 0;
  int replica1_port = 0;
  int replica2_port = 0;
  std::string log_dir;
};

// Runs `sandbox.sh env` and parses its `export NAME=value` lines.
sandbox read_sandbox() {
  const char* source_dir = std::getenv("SLUICE_SOURCE_DIR");
  const std::string command =
      "bash '" + std::string(source_dir ? source_dir : ".") + "/integration/sandbox.sh' env";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) throw std::runtime_error("cannot run: " + command);
  std::map<std::string, std::string> vars;
  char line[4096];
  while (std::fgets(line, sizeof line, pipe.get())) {
    std::string_view text(line);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
    constexpr std::string_view prefix = "export ";
    if (!text.starts_with(prefix)) continue;
    text.remove_prefix(prefix.size());
    const auto equals = text.find('=');
    if (equals == std::string_view::npos) continue;
    vars[std::string(text.substr(0, equals))] = std::string(text.substr(equals + 1));
  }
  const auto port = [&](const char* name) {
    const auto found = vars.find(name);
    if (found == vars.end()) throw std::runtime_error(std::string("`") + command + "` did not print " + name);
    return std::stoi(found->second);
  };
  sandbox env;
  env.sluice_port = port("SLUICE_PORT");
  env.primary_port = port("PRIMARY_PORT");
  env.replica1_port = port("REPLICA1_PORT");
  env.replica2_port = port("REPLICA2_PORT");
  env.log_dir = vars["LOG_DIR"];
  return env;
}

sandbox env;

// ---------------------------------------------------------------------------------------------------
// Checks: a failed check prints what was expected and what came back, and fails the current test.

std::mutex print_mutex;
std::atomic<int> failures{0};  // failed checks in the whole run
std::string current_test;      // written only between tests, under watchdog_mutex

// A failure that makes the rest of a test (or of one client thread) pointless.
struct fatal : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void report_failure(const std::string& what) {
  const int number = ++failures;
  const std::lock_guard lock(print_mutex);
  if (number <= max_printed_failures) {
    std::cout << "  FAIL [" << current_test << "] " << what << std::endl;
  } else if (number == max_printed_failures + 1) {
    std::cout << "  (further failures are counted, not printed)" << std::endl;
  }
}

bool check(bool ok, const std::string& what) {
  if (!ok) report_failure(what);
  return ok;
}

void require(bool ok, const std::string& what) {
  if (!ok) throw fatal(what);
}

void note(const std::string& what) {
  const std::lock_guard lock(print_mutex);
  std::cout << "  note: " << what << std::endl;
}

// ---------------------------------------------------------------------------------------------------
// libpq helpers.

struct result_deleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using result = std::unique_ptr<PGresult, result_deleter>;

struct connection_deleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using connection = std::unique_ptr<PGconn, connection_deleter>;

connection connect() {
  const std::string conninfo = "host=127.0.0.1 port=" + std::to_string(env.sluice_port) +
                               " dbname=app user=app password=app_pw sslmode=disable gssencmode=disable"
                               " connect_timeout=5 application_name=sluice_libpq_it";
  connection conn(PQconnectdb(conninfo.c_str()));
  if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
    throw fatal("cannot connect through sluice (" + conninfo + "): " +
                (conn ? PQerrorMessage(conn.get()) : std::string("out of memory")));
  }
  return conn;
}

std::string sqlstate(const PGresult* r) {
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  return state ? state : "";
}

// One line on what a result holds, for failure messages.
std::string describe(const PGresult* r) {
  if (!r) return "no result (NULL)";
  const auto status = PQresultStatus(r);
  std::string text = PQresStatus(status);
  if (status == PGRES_FATAL_ERROR || status == PGRES_NONFATAL_ERROR) {
    const char* message = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    text += " " + sqlstate(r) + ": " + (message ? message : "(no message)");
  } else if (status == PGRES_TUPLES_OK) {
    text += " rows=" + std::to_string(PQntuples(r)) + " cols=" + std::to_string(PQnfields(r));
    if (PQntuples(r) > 0 && PQnfields(r) > 0 && PQfformat(r, 0) == text_format) {
      std::string first(PQgetvalue(r, 0, 0), std::min(PQgetlength(r, 0, 0), 60));
      text += " first='" + first + "'";
    }
  }
  return text;
}

std::string describe(const result& r) { return describe(r.get()); }

std::string value(const PGresult* r, int row, int column) {
  return std::string(PQgetvalue(r, row, column), static_cast<std::size_t>(PQgetlength(r, row, column)));
}

bool is_tuples(const result& r, int rows, int columns) {
  return r && PQresultStatus(r.get()) == PGRES_TUPLES_OK && PQntuples(r.get()) == rows &&
         PQnfields(r.get()) == columns;
}

// Checks a one-row result whose first column is `want`.
bool check_value(const result& r, const std::string& want, const std::string& what) {
  const bool ok = r && PQresultStatus(r.get()) == PGRES_TUPLES_OK && PQntuples(r.get()) == 1 &&
                  PQnfields(r.get()) >= 1 && value(r.get(), 0, 0) == want;
  return check(ok, what + ": want '" + want + "', got " + describe(r));
}

bool check_error(const result& r, const std::string& want_sqlstate, const std::string& what) {
  const bool ok = r && PQresultStatus(r.get()) == PGRES_FATAL_ERROR && sqlstate(r.get()) == want_sqlstate;
  return check(ok, what + ": want error " + want_sqlstate + ", got " + describe(r));
}

result exec(PGconn* c, const std::string& sql) { return result(PQexec(c, sql.c_str())); }

void exec_ok(PGconn* c, const std::string& sql) {
  const auto r = exec(c, sql);
  const auto status = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  require(status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK, "'" + sql + "' failed: " + describe(r));
}

result exec_params(PGconn* c, const std::string& sql, const std::vector<std::string>& params) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p.c_str());
  return result(PQexecParams(c, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                             nullptr, text_format));
}

result exec_prepared(PGconn* c, const std::string& name, const std::vector<std::string>& params) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p.c_str());
  return result(PQexecPrepared(c, name.c_str(), static_cast<int>(values.size()), values.data(), nullptr, nullptr,
                               text_format));
}

result prepare(PGconn* c, const std::string& name, const std::string& sql, int parameters = 0) {
  return result(PQprepare(c, name.c_str(), sql.c_str(), parameters, nullptr));
}

void prepare_ok(PGconn* c, const std::string& name, const std::string& sql, int parameters = 0) {
  const auto r = prepare(c, name, sql, parameters);
  require(r && PQresultStatus(r.get()) == PGRES_COMMAND_OK,
          "PQprepare('" + name + "', '" + sql + "') failed: " + describe(r));
}

int port_column(const result& r, int row, int column) {
  try {
    return std::stoi(value(r.get(), row, column));
  } catch (const std::exception&) {
    return -1;
  }
}

bool is_replica(int port) { return port == env.replica1_port || port == env.replica2_port; }

std::string ports_text() {
  return "primary " + std::to_string(env.primary_port) + ", replicas " + std::to_string(env.replica1_port) + " and " +
         std::to_string(env.replica2_port);
}

// A name no other run (and no earlier test) has used, so no pooled server connection has a statement
// with this text yet.
std::string nonce() {
  static std::atomic<int> counter{0};
  const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
  return std::to_string(getpid()) + "_" + std::to_string(now % 1000000007) + "_" + std::to_string(++counter);
}

// In pipeline mode, each query's results end with a NULL from PQgetResult.
result next_pipeline_result(PGconn* c, const std::string& what) {
  result r(PQgetResult(c));
  if (r && PQresultStatus(r.get()) != PGRES_PIPELINE_SYNC) {
    result terminator(PQgetResult(c));
    check(!terminator, what + ": expected NULL after the result, got " + describe(terminator));
  }
  return r;
}

void expect_pipeline_sync(PGconn* c, const std::string& what) {
  result r(PQgetResult(c));
  require(r && PQresultStatus(r.get()) == PGRES_PIPELINE_SYNC,
          what + ": want PGRES_PIPELINE_SYNC, got " + describe(r));
}

// ---------------------------------------------------------------------------------------------------
// 1. Named statements with more clients than server connections (the pool has 8 in all).

constexpr const char* read_sql = "SELECT abalance, inet_server_port() FROM pgbench_accounts WHERE aid = $1";
constexpr const char* write_sql =
    "UPDATE pgbench_accounts SET abalance = abalance + $2 WHERE aid = $1 RETURNING inet_server_port()";

void test_shared_statement_names() {
  constexpr int clients = 24;
  constexpr int iterations = 200;  // even: the writes come in +1/-1 pairs, so balances end unchanged
  std::atomic<long> replica1_reads{0};
  std::atomic<long> replica2_reads{0};
  std::atomic<long> done{0};
  std::latch all_prepared(clients);
  std::vector<std::thread> threads;
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&, t] {
      bool arrived = false;
      try {
        const auto conn = connect();
        PGconn* c = conn.get();
        prepare_ok(c, "s_read", read_sql, 1);
        prepare_ok(c, "s_write", write_sql, 2);
        // Same name in every client, different SQL in each: the names must not collide.
        prepare_ok(c, "s_tag", "SELECT $1::int AS echo, " + std::to_string(t) + " AS client", 1);
        arrived = true;
        all_prepared.arrive_and_wait();  // all 24 hold a session before any executes
        std::mt19937 rng(static_cast<std::mt19937::result_type>(t * 7919 + getpid()));
        std::uniform_int_distribution<int> any_aid(1, 100000);
        int aid = 0;
        const std::string who = "client " + std::to_string(t);
        for (int i = 0; i < iterations; ++i) {
          if (i % 2 == 0) aid = any_aid(rng);
          const std::string aid_text = std::to_string(aid);
          const auto read = exec_prepared(c, "s_read", {aid_text});
          if (check(is_tuples(read, 1, 2), who + " s_read(" + aid_text + ") iteration " + std::to_string(i) +
                                               ": want 1 row of 2 columns, got " + describe(read))) {
            const int port = port_column(read, 0, 1);
            check(is_replica(port), who + " s_read ran on port " + std::to_string(port) + ", want a replica (" +
                                        ports_text() + ")");
            if (port == env.replica1_port) ++replica1_reads;
            if (port == env.replica2_port) ++replica2_reads;
          }
          const std::string delta = i % 2 == 0 ? "1" : "-1";
          const auto write = exec_prepared(c, "s_write", {aid_text, delta});
          if (check(is_tuples(write, 1, 1), who + " s_write(" + aid_text + ", " + delta + ") iteration " +
                                                std::to_string(i) + ": want 1 row, got " + describe(write))) {
            const int port = port_column(write, 0, 0);
            check(port == env.primary_port, who + " s_write ran on port " + std::to_string(port) +
                                                ", want the primary (" + ports_text() + ")");
          }
          if (i % 10 == 0) {
            const auto tag = exec_prepared(c, "s_tag", {std::to_string(i)});
            check(is_tuples(tag, 1, 2) && value(tag.get(), 0, 0) == std::to_string(i) &&
                      value(tag.get(), 0, 1) == std::to_string(t),
                  who + " s_tag(" + std::to_string(i) + "): want (" + std::to_string(i) + ", " + std::to_string(t) +
                      "), got " + describe(tag) +
                      (is_tuples(tag, 1, 2) ? " client=" + value(tag.get(), 0, 1) : std::string()));
          }
          ++done;
        }
      } catch (const std::exception& e) {
        report_failure("client " + std::to_string(t) + ": " + e.what());
        if (!arrived) all_prepared.count_down();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  check(done == clients * iterations, "completed " + std::to_string(done.load()) + " of " +
                                          std::to_string(clients * iterations) + " iterations");
  check(replica1_reads > 0 && replica2_reads > 0,
        "reads should be spread over both replicas: replica1 " + std::to_string(replica1_reads.load()) +
            ", replica2 " + std::to_string(replica2_reads.load()));
}

// ---------------------------------------------------------------------------------------------------
// 2. The same statement name with different SQL in two clients at once.

void test_same_name_different_sql() {
  const auto a = connect();
  const auto b = connect();
  prepare_ok(a.get(), "s1", "SELECT 1");
  prepare_ok(b.get(), "s1", "SELECT 2");
  for (int i = 0; i < 50; ++i) {
    check_value(exec_prepared(a.get(), "s1", {}), "1", "client A s1, round " + std::to_string(i));
    check_value(exec_prepared(b.get(), "s1", {}), "2", "client B s1, round " + std::to_string(i));
  }
  // Both in flight at once, answered in either order.
  for (int i = 0; i < 50; ++i) {
    require(PQsendQueryPrepared(a.get(), "s1", 0, nullptr, nullptr, nullptr, text_format) == 1,
            std::string("PQsendQueryPrepared A: ") + PQerrorMessage(a.get()));
    require(PQsendQueryPrepared(b.get(), "s1", 0, nullptr, nullptr, nullptr, text_format) == 1,
            std::string("PQsendQueryPrepared B: ") + PQerrorMessage(b.get()));
    for (auto* c : {b.get(), a.get()}) {
      result r(PQgetResult(c));
      check_value(r, c == a.get() ? "1" : "2",
                  std::string("concurrent client ") + (c == a.get() ? "A" : "B") + " s1, round " + std::to_string(i));
      while (result more{PQgetResult(c)}) check(false, "unexpected extra result " + describe(more));
    }
  }
  // Two threads hammering at once, plus a third client that prepares s1 inside a transaction (where
  // sluice forwards the Parse to the server instead of answering it).
  const auto c3 = connect();
  exec_ok(c3.get(), "BEGIN");
  prepare_ok(c3.get(), "s1", "SELECT 3");
  check_value(exec_prepared(c3.get(), "s1", {}), "3", "client C s1 inside its transaction");
  exec_ok(c3.get(), "COMMIT");
  std::vector<std::thread> threads;
  const std::vector<std::pair<PGconn*, std::string>> clients{{a.get(), "1"}, {b.get(), "2"}, {c3.get(), "3"}};
  for (const auto& [conn, want] : clients) {
    threads.emplace_back([conn, want] {
      for (int i = 0; i < 200; ++i) {
        if (!check_value(exec_prepared(conn, "s1", {}), want, "threaded s1 = SELECT " + want + ", round " +
                                                                  std::to_string(i))) {
          break;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
}

// ---------------------------------------------------------------------------------------------------
// 3. PQdescribePrepared on a statement no server connection has yet (sluice answers PQprepare itself and
// must inject the Parse before the Describe).

void test_describe_prepared() {
  const auto conn = connect();
  PGconn* c = conn.get();
  const std::string alias = "acct_" + nonce();
  const std::string sql = "SELECT aid AS " + alias + ", abalance, $1::int8 AS tag FROM pgbench_accounts WHERE aid = $2";
  prepare_ok(c, "s_desc", sql, 0);
  exec_ok(c, "SELECT 1");  // an unrelated query in between: the Describe comes in a later batch

  for (int round = 0; round < 2; ++round) {  // round 1: the server connection may have it by now
    const std::string what = "PQdescribePrepared(s_desc) round " + std::to_string(round);
    result d(PQdescribePrepared(c, "s_desc"));
    if (!check(d && PQresultStatus(d.get()) == PGRES_COMMAND_OK, what + ": got " + describe(d))) continue;
    check(PQnparams(d.get()) == 2, what + ": nparams " + std::to_string(PQnparams(d.get())) + ", want 2");
    if (PQnparams(d.get()) == 2) {
      check(PQparamtype(d.get(), 0) == int8_oid && PQparamtype(d.get(), 1) == int4_oid,
            what + ": parameter types " + std::to_string(PQparamtype(d.get(), 0)) + ", " +
                std::to_string(PQparamtype(d.get(), 1)) + "; want int8 (20), int4 (23)");
    }
    check(PQnfields(d.get()) == 3, what + ": nfields " + std::to_string(PQnfields(d.get())) + ", want 3");
    if (PQnfields(d.get()) == 3) {
      const std::string names = std::string(PQfname(d.get(), 0)) + "," + PQfname(d.get(), 1) + "," + PQfname(d.get(), 2);
      check(names == alias + ",abalance,tag", what + ": field names '" + names + "', want '" + alias + ",abalance,tag'");
      check(PQftype(d.get(), 0) == int4_oid && PQftype(d.get(), 2) == int8_oid,
            what + ": field types " + std::to_string(PQftype(d.get(), 0)) + ", " + std::to_string(PQftype(d.get(), 2)));
    }
    const auto run = exec_prepared(c, "s_desc", {"42", "7"});
    check(is_tuples(run, 1, 3) && value(run.get(), 0, 0) == "7" && value(run.get(), 0, 2) == "42",
          "s_desc('42', '7') after " + what + ": got " + describe(run));
  }

  // Another client, another name, the same SQL (sluice shares the server-side statement).
  const auto other = connect();
  prepare_ok(other.get(), "another_name", sql, 0);
  result d(PQdescribePrepared(other.get(), "another_name"));
  check(d && PQresultStatus(d.get()) == PGRES_COMMAND_OK && PQnparams(d.get()) == 2 && PQnfields(d.get()) == 3,
        "second client's PQdescribePrepared(another_name): got " + describe(d) +
            (d ? " nparams=" + std::to_string(PQnparams(d.get())) + " nfields=" + std::to_string(PQnfields(d.get()))
               : std::string()));

  // A name this client never prepared: 26000, and the connection carries on.
  result unknown(PQdescribePrepared(c, "s_never_prepared"));
  check_error(unknown, "26000", "PQdescribePrepared of an unknown statement");
  check_value(exec(c, "SELECT 'still fine'"), "still fine", "query after the 26000");

  // SQL the server rejects. PostgreSQL fails the PQprepare itself with 42P01; sluice answers PQprepare
  // locally, so the error surfaces at the first Describe or Execute instead. Either is accepted, but
  // it must be 42P01 every time (a failed injected Parse must be forgotten, not reported as 26000).
  const std::string bad_sql = "SELECT * FROM no_such_table_" + nonce();
  const auto bad = prepare(c, "s_bad", bad_sql);
  if (bad && PQresultStatus(bad.get()) == PGRES_FATAL_ERROR) {
    check_error(bad, "42P01", "PQprepare of a statement on a missing table");
  } else {
    check(bad && PQresultStatus(bad.get()) == PGRES_COMMAND_OK, "PQprepare(s_bad): got " + describe(bad));
    note("known difference: PQprepare of invalid SQL succeeds through sluice (answered locally); "
         "PostgreSQL reports 42P01 at prepare time, sluice at first use");
    for (int i = 0; i < 3; ++i) {
      result bd(PQdescribePrepared(c, "s_bad"));
      check_error(bd, "42P01", "PQdescribePrepared(s_bad) attempt " + std::to_string(i));
      check_error(exec_prepared(c, "s_bad", {}), "42P01", "PQexecPrepared(s_bad) attempt " + std::to_string(i));
    }
  }
  check_value(exec_prepared(c, "s_desc", {"1", "2"}), "2", "s_desc after the failed statement");
}

// ---------------------------------------------------------------------------------------------------
// 4. Preparing a name again with different SQL in the same client.
//
// PostgreSQL refuses it (42P05 "prepared statement already exists") and keeps the first statement.
// KNOWN DIFFERENCE: sluice (answering PQprepare itself, and tracking names per client) replaces the
// statement silently. Either behaviour passes as long as it is consistent: an error must be 42P05 and
// leave the old statement in place; a success must make the name run the new SQL.

void check_reprepare(PGconn* c, const std::string& name, const std::string& where) {
  prepare_ok(c, name, "SELECT 'first'");
  check_value(exec_prepared(c, name, {}), "first", where + ": " + name + " before re-prepare");
  const auto again = prepare(c, name, "SELECT 'second'");
  if (again && PQresultStatus(again.get()) == PGRES_FATAL_ERROR) {
    check_error(again, "42P05", where + ": re-prepare of " + name);
    note(where + ": re-prepare with different SQL fails with 42P05, as in PostgreSQL");
    // In a transaction the error aborts it; the statement itself outlives the rollback, as in PostgreSQL.
    if (PQtransactionStatus(c) == PQTRANS_INERROR) exec_ok(c, "ROLLBACK");
    check_value(exec_prepared(c, name, {}), "first", where + ": " + name + " after the refused re-prepare");
  } else {
    check(again && PQresultStatus(again.get()) == PGRES_COMMAND_OK, where + ": re-prepare: got " + describe(again));
    note(where + ": KNOWN DIFFERENCE from PostgreSQL: re-preparing '" + name +
         "' with different SQL succeeds and replaces it (PostgreSQL: 42P05)");
    check_value(exec_prepared(c, name, {}), "second", where + ": " + name + " after re-prepare");
  }
}

void test_reprepare() {
  const auto conn = connect();
  check_reprepare(conn.get(), "s_x", "outside a transaction");
  exec_ok(conn.get(), "BEGIN");
  check_reprepare(conn.get(), "s_y", "inside a transaction");
  if (PQtransactionStatus(conn.get()) != PQTRANS_IDLE) exec_ok(conn.get(), "COMMIT");
  check_value(exec(conn.get(), "SELECT 'usable'"), "usable", "connection after the re-prepare tests");
}

// ---------------------------------------------------------------------------------------------------
// 5. Pipeline mode: many statements queued before one Sync.

// What one queued query should return.
struct expected {
  std::string label;
  std::function<bool(const result&)> ok;
};

void test_pipeline() {
  const auto conn = connect();
  PGconn* c = conn.get();
  prepare_ok(c, "p_read", "SELECT $1::int AS i, inet_server_port()", 1);
  prepare_ok(c, "p_write",
             "UPDATE pgbench_accounts SET abalance = abalance + $2 WHERE aid = $1 RETURNING aid, inet_server_port()", 2);

  for (const int write_at : {0, 20, 49}) {
    const std::string run = "pipeline with the write at " + std::to_string(write_at);
    require(PQenterPipelineMode(c) == 1, std::string("PQenterPipelineMode: ") + PQerrorMessage(c));
    std::vector<expected> plan;
    int write_port = -1;
    for (int i = 0; i < 50; ++i) {
      const std::string n = std::to_string(i);
      const char* values[2] = {n.c_str(), "0"};
      if (i == write_at) {
        const std::string aid = std::to_string(1000 + i);
        const char* write_values[2] = {aid.c_str(), "0"};
        require(PQsendQueryPrepared(c, "p_write", 2, write_values, nullptr, nullptr, text_format) == 1,
                std::string("PQsendQueryPrepared(p_write): ") + PQerrorMessage(c));
        plan.push_back({"statement " + n + " (write p_write)", [aid, &write_port](const result& r) {
                          if (!is_tuples(r, 1, 2) || value(r.get(), 0, 0) != aid) return false;
                          write_port = port_column(r, 0, 1);
                          return true;
                        }});
      } else if (i == 10) {
        // A named Parse inside the pipeline, used right after.
        require(PQsendPrepare(c, "p_inside", "SELECT $1::int * 2 AS doubled", 1, nullptr) == 1,
                std::string("PQsendPrepare: ") + PQerrorMessage(c));
        plan.push_back({"statement 10 (PQsendPrepare p_inside)",
                        [](const result& r) { return r && PQresultStatus(r.get()) == PGRES_COMMAND_OK; }});
      } else if (i > 10 && i % 5 == 1) {
        require(PQsendQueryPrepared(c, "p_inside", 1, values, nullptr, nullptr, text_format) == 1,
                std::string("PQsendQueryPrepared(p_inside): ") + PQerrorMessage(c));
        const std::string want = std::to_string(2 * i);
        plan.push_back({"statement " + n + " (p_inside)",
                        [want](const result& r) { return is_tuples(r, 1, 1) && value(r.get(), 0, 0) == want; }});
      } else if (i % 2 == 0) {
        require(PQsendQueryParams(c, "SELECT $1::int AS i, inet_server_port()", 1, nullptr, values, nullptr, nullptr,
                                  text_format) == 1,
                std::string("PQsendQueryParams: ") + PQerrorMessage(c));
        plan.push_back({"statement " + n + " (unnamed read)",
                        [n](const result& r) { return is_tuples(r, 1, 2) && value(r.get(), 0, 0) == n; }});
      } else {
        require(PQsendQueryPrepared(c, "p_read", 1, values, nullptr, nullptr, text_format) == 1,
                std::string("PQsendQueryPrepared(p_read): ") + PQerrorMessage(c));
        plan.push_back({"statement " + n + " (p_read)",
                        [n](const result& r) { return is_tuples(r, 1, 2) && value(r.get(), 0, 0) == n; }});
      }
    }
    require(PQpipelineSync(c) == 1, std::string("PQpipelineSync: ") + PQerrorMessage(c));
    int wrong = 0;
    int aborted_after_wrong = 0;  // the server skips the rest of a failed pipeline: one line for all
    for (const auto& step : plan) {
      const auto r = next_pipeline_result(c, run + ", " + step.label);
      if (step.ok(r)) continue;
      if (wrong > 0 && r && PQresultStatus(r.get()) == PGRES_PIPELINE_ABORTED) {
        ++aborted_after_wrong;
        continue;
      }
      ++wrong;
      check(false, run + ", " + step.label + ": got " + describe(r));
    }
    check(aborted_after_wrong == 0, run + ": the " + std::to_string(aborted_after_wrong) +
                                        " statements after it came back PGRES_PIPELINE_ABORTED");
    expect_pipeline_sync(c, run);
    if (write_port != -1) {
      check(write_port == env.primary_port, run + ": the write ran on port " + std::to_string(write_port) +
                                                ", want the primary (" + ports_text() + ")");
    }
    require(PQexitPipelineMode(c) == 1, std::string("PQexitPipelineMode: ") + PQerrorMessage(c));
  }

  // A pipeline of reads only runs on one replica (one Sync: one batch, one server connection).
  require(PQenterPipelineMode(c) == 1, std::string("PQenterPipelineMode: ") + PQerrorMessage(c));
  for (int i = 0; i < 50; ++i) {
    const std::string n = std::to_string(i);
    const char* values[1] = {n.c_str()};
    require(PQsendQueryPrepared(c, "p_read", 1, values, nullptr, nullptr, text_format) == 1,
            std::string("PQsendQueryPrepared: ") + PQerrorMessage(c));
  }
  require(PQpipelineSync(c) == 1, std::string("PQpipelineSync: ") + PQerrorMessage(c));
  std::set<int> ports;
  for (int i = 0; i < 50; ++i) {
    const auto r = next_pipeline_result(c, "read-only pipeline statement " + std::to_string(i));
    if (check(is_tuples(r, 1, 2) && value(r.get(), 0, 0) == std::to_string(i),
              "read-only pipeline statement " + std::to_string(i) + ": got " + describe(r))) {
      ports.insert(port_column(r, 0, 1));
    }
  }
  expect_pipeline_sync(c, "read-only pipeline");
  check(ports.size() == 1 && is_replica(*ports.begin()),
        "read-only pipeline ran on " + std::to_string(ports.size()) + " port(s), first " +
            (ports.empty() ? std::string("none") : std::to_string(*ports.begin())) + "; want one replica");
  require(PQexitPipelineMode(c) == 1, std::string("PQexitPipelineMode: ") + PQerrorMessage(c));
}

// ---------------------------------------------------------------------------------------------------
// 6. Errors in the extended protocol.

void send_prepared(PGconn* c, const std::string& name, const std::vector<std::string>& params) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p.c_str());
  require(PQsendQueryPrepared(c, name.c_str(), static_cast<int>(values.size()), values.data(), nullptr, nullptr,
                              text_format) == 1,
          "PQsendQueryPrepared(" + name + "): " + PQerrorMessage(c));
}

void test_errors() {
  const auto conn = connect();
  PGconn* c = conn.get();
  prepare_ok(c, "s_div", "SELECT 1/$1::int", 1);
  for (int i = 0; i < 5; ++i) {
    check_error(exec_prepared(c, "s_div", {"0"}), "22012", "s_div(0), round " + std::to_string(i));
    check_value(exec_prepared(c, "s_div", {"1"}), "1", "s_div(1) right after the error, round " + std::to_string(i));
  }

  // Statement 3 of 5 fails; 4 and 5 use statements no server connection has yet, so sluice injects
  // Parses that the server skips after the error. They must work after the Sync (sluice must forget
  // that it "prepared" them).
  const std::string tag = nonce();
  prepare_ok(c, "s_fresh4", "SELECT 'four' AS v, '" + tag + "' AS tag");
  prepare_ok(c, "s_fresh5", "SELECT 'five' AS v, '" + tag + "' AS tag");
  for (int round = 0; round < 3; ++round) {
    const std::string run = "pipeline with an error at statement 3, round " + std::to_string(round);
    require(PQenterPipelineMode(c) == 1, std::string("PQenterPipelineMode: ") + PQerrorMessage(c));
    send_prepared(c, "s_div", {"1"});
    send_prepared(c, "s_div", {"1"});
    send_prepared(c, "s_div", {"0"});
    send_prepared(c, "s_fresh4", {});
    send_prepared(c, "s_fresh5", {});
    require(PQpipelineSync(c) == 1, std::string("PQpipelineSync: ") + PQerrorMessage(c));
    check_value(next_pipeline_result(c, run), "1", run + ", statement 1");
    check_value(next_pipeline_result(c, run), "1", run + ", statement 2");
    check_error(next_pipeline_result(c, run), "22012", run + ", statement 3");
    for (const char* label : {"statement 4", "statement 5"}) {
      const auto r = next_pipeline_result(c, run);
      check(r && PQresultStatus(r.get()) == PGRES_PIPELINE_ABORTED,
            run + ", " + label + ": want PGRES_PIPELINE_ABORTED, got " + describe(r));
    }
    expect_pipeline_sync(c, run);
    // Recovered: the same pipeline keeps working after the Sync.
    send_prepared(c, "s_fresh4", {});
    send_prepared(c, "s_fresh5", {});
    send_prepared(c, "s_div", {"1"});
    require(PQpipelineSync(c) == 1, std::string("PQpipelineSync: ") + PQerrorMessage(c));
    check_value(next_pipeline_result(c, run), "four", run + ", after the sync: s_fresh4");
    check_value(next_pipeline_result(c, run), "five", run + ", after the sync: s_fresh5");
    check_value(next_pipeline_result(c, run), "1", run + ", after the sync: s_div(1)");
    expect_pipeline_sync(c, run);
    require(PQexitPipelineMode(c) == 1, std::string("PQexitPipelineMode: ") + PQerrorMessage(c));
  }

  // The same inside a transaction, which keeps the one server connection across Syncs: the skipped
  // injected Parses must be sent again on that very connection.
  const std::string tag2 = nonce();
  prepare_ok(c, "s_tx4", "SELECT 'tx four' AS v, '" + tag2 + "' AS tag");
  prepare_ok(c, "s_tx5", "SELECT 'tx five' AS v, '" + tag2 + "' AS tag");
  require(PQenterPipelineMode(c) == 1, std::string("PQenterPipelineMode: ") + PQerrorMessage(c));
  require(PQsendQueryParams(c, "BEGIN", 0, nullptr, nullptr, nullptr, nullptr, text_format) == 1,
          std::string("PQsendQueryParams(BEGIN): ") + PQerrorMessage(c));
  send_prepared(c, "s_div", {"1"});
  send_prepared(c, "s_div", {"0"});
  send_prepared(c, "s_tx4", {});
  send_prepared(c, "s_tx5", {});
  require(PQpipelineSync(c) == 1, std::string("PQpipelineSync: ") + PQerrorMessage(c));
  const std::string run = "transaction pipeline with an error";
  const auto begin = next_pipeline_result(c, run);
  check(begin && PQresultStatus(begin.get()) == PGRES_COMMAND_OK, run + ", BEGIN: got " + describe(begin));
  check_value(next_pipeline_result(c, run), "1", run + ", s_div(1)");
  check_error(next_pipeline_result(c, run), "22012", run + ", s_div(0)");
  for (const char* label : {"s_tx4", "s_tx5"}) {
    const auto r = next_pipeline_result(c, run);
    check(r && PQresultStatus(r.get()) == PGRES_PIPELINE_ABORTED,
          run + ", " + label + ": want PGRES_PIPELINE_ABORTED, got " + describe(r));
  }
  expect_pipeline_sync(c, run);
  check(PQtransactionStatus(c) == PQTRANS_INERROR, run + ": want the transaction in error after the Sync");
  require(PQsendQueryParams(c, "ROLLBACK", 0, nullptr, nullptr, nullptr, nullptr, text_format) == 1,
          std::string("PQsendQueryParams(ROLLBACK): ") + PQerrorMessage(c));
  send_prepared(c, "s_tx4", {});
  send_prepared(c, "s_tx5", {});
  require(PQpipelineSync(c) == 1, std::string("PQpipelineSync: ") + PQerrorMessage(c));
  const auto rollback = next_pipeline_result(c, run);
  check(rollback && PQresultStatus(rollback.get()) == PGRES_COMMAND_OK, run + ", ROLLBACK: got " + describe(rollback));
  check_value(next_pipeline_result(c, run), "tx four", run + ", s_tx4 after ROLLBACK on the same server connection");
  check_value(next_pipeline_result(c, run), "tx five", run + ", s_tx5 after ROLLBACK on the same server connection");
  expect_pipeline_sync(c, run);
  require(PQexitPipelineMode(c) == 1, std::string("PQexitPipelineMode: ") + PQerrorMessage(c));
  check_value(exec(c, "SELECT 'after'"), "after", "simple query after the pipelines");
}

// ---------------------------------------------------------------------------------------------------
// 7. Binary parameters and results, and values far larger than sluice's 16 KiB buffers. Run last: a
// proxy that stops reading a large message may leave its worker unusable for later tests. Each case
// has a connection of its own and a deadline, so one hang does not hide the others.

constexpr std::chrono::seconds large_value_deadline{6};

// Sends with `send` in non-blocking mode (a 1 MiB Bind must not block in send() if the proxy stops
// reading) and waits for the first result until the deadline; the rest are drained. nullptr on timeout.
result send_and_wait(PGconn* c, const std::function<int(PGconn*)>& send, const std::string& what) {
  require(PQsetnonblocking(c, 1) == 0, what + ": PQsetnonblocking failed");
  require(send(c) == 1, what + ": sending failed: " + PQerrorMessage(c));
  const auto deadline = std::chrono::steady_clock::now() + large_value_deadline;
  for (;;) {
    const int flushed = PQflush(c);
    require(flushed >= 0, what + ": PQflush failed: " + PQerrorMessage(c));
    require(PQconsumeInput(c) == 1, what + ": PQconsumeInput failed: " + PQerrorMessage(c));
    if (flushed == 0 && !PQisBusy(c)) break;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      check(false, what + ": no answer within " + std::to_string(large_value_deadline.count()) + " s (" +
                       (flushed == 1 ? "libpq could not even send the whole request: the proxy stopped reading it"
                                     : "request sent, nothing came back") + ")");
      return nullptr;
    }
    pollfd p{PQsocket(c), static_cast<short>(POLLIN | (flushed == 1 ? POLLOUT : 0)), 0};
    poll(&p, 1, static_cast<int>(std::min<long>(left.count(), 100)));
  }
  result first(PQgetResult(c));
  while (result more{PQgetResult(c)}) check(false, what + ": unexpected extra result " + describe(more));
  require(PQsetnonblocking(c, 0) == 0, what + ": PQsetnonblocking failed");
  return first;
}

void test_binary_and_large() {
  std::mt19937_64 rng(static_cast<std::uint64_t>(getpid()));
  std::string blob(1 << 20, '\0');
  for (auto& byte : blob) byte = static_cast<char>(rng() & 0xff);
  const std::int64_t number = -1234567890123456789LL;
  const std::uint64_t wire_number = htobe64(static_cast<std::uint64_t>(number));

  const char* values[2] = {reinterpret_cast<const char*>(&wire_number), blob.data()};
  const int lengths[2] = {sizeof wire_number, static_cast<int>(blob.size())};
  const int formats[2] = {binary_format, binary_format};
  const Oid types[2] = {int8_oid, bytea_oid};
  const auto check_round_trip = [&](const result& r, const std::string& what) {
    if (!r) return;  // timed out, reported
    if (!check(is_tuples(r, 1, 3), what + ": want 1 row of 3 columns, got " + describe(r))) return;
    check(PQfformat(r.get(), 0) == binary_format && PQgetlength(r.get(), 0, 0) == 8,
          what + ": int8 should come back binary, 8 bytes; got length " + std::to_string(PQgetlength(r.get(), 0, 0)));
    std::uint64_t got = 0;
    if (PQgetlength(r.get(), 0, 0) == 8) std::memcpy(&got, PQgetvalue(r.get(), 0, 0), 8);
    check(static_cast<std::int64_t>(be64toh(got)) == number,
          what + ": int8 came back as " + std::to_string(static_cast<std::int64_t>(be64toh(got))));
    const bool same_blob = PQgetlength(r.get(), 0, 1) == static_cast<int>(blob.size()) &&
                           std::memcmp(PQgetvalue(r.get(), 0, 1), blob.data(), blob.size()) == 0;
    check(same_blob, what + ": 1 MiB bytea came back different (length " +
                         std::to_string(PQgetlength(r.get(), 0, 1)) + ")");
    std::uint32_t server_length = 0;
    if (PQgetlength(r.get(), 0, 2) == 4) std::memcpy(&server_length, PQgetvalue(r.get(), 0, 2), 4);
    check(be32toh(server_length) == blob.size(),
          what + ": the server saw a bytea of " + std::to_string(be32toh(server_length)) + " bytes");
  };
  const std::string sql = "SELECT $1, $2, length($2)";

  // Each case on its own client; a case that fails to connect (a proxy worker left unusable by an
  // earlier case) is reported and the next one tried.
  const auto each = [](const std::string& what, const std::function<void(PGconn*)>& body) {
    try {
      const auto conn = connect();
      body(conn.get());
    } catch (const std::exception& e) {
      report_failure(what + ": " + e.what());
    }
  };

  each("20 MB text result", [](PGconn* c) {
    // One 20 MB DataRow from the server to the client.
    const auto big = send_and_wait(c, [](PGconn* k) { return PQsendQuery(k, "SELECT repeat('x', 20000000)"); },
                                   "SELECT repeat('x', 20000000)");
    if (big && check(is_tuples(big, 1, 1), "SELECT repeat('x', 20000000): got " + describe(big))) {
      const auto* data = PQgetvalue(big.get(), 0, 0);
      const auto length = PQgetlength(big.get(), 0, 0);
      check(length == 20000000 && std::all_of(data, data + length, [](char ch) { return ch == 'x'; }),
            "20 MB value came back with length " + std::to_string(length) + " or wrong bytes");
    }
    check_value(exec(c, "SELECT 'after'"), "after", "query after the 20 MB result");
  });

  each("prepared binary round trip", [&](PGconn* c) {
    // PQprepare, then Bind (1 MiB, binary) + Describe + Execute + Sync: the Bind opens the batch.
    const result prepared(PQprepare(c, "s_bin", sql.c_str(), 2, types));
    require(prepared && PQresultStatus(prepared.get()) == PGRES_COMMAND_OK, "PQprepare(s_bin): " + describe(prepared));
    for (int i = 0; i < 3; ++i) {
      const std::string what = "prepared binary round trip " + std::to_string(i) + " (1 MiB bytea in the Bind)";
      const auto r = send_and_wait(
          c, [&](PGconn* k) { return PQsendQueryPrepared(k, "s_bin", 2, values, lengths, formats, binary_format); },
          what);
      if (!r) throw fatal(what + ": giving up on this client");
      check_round_trip(r, what);
    }
  });

  each("unnamed binary round trip", [&](PGconn* c) {
    // PQexecParams: Parse (unnamed) + Bind (1 MiB) + Describe + Execute + Sync in one batch.
    const std::string what = "PQexecParams binary round trip (Parse + 1 MiB Bind)";
    const auto r = send_and_wait(
        c, [&](PGconn* k) { return PQsendQueryParams(k, sql.c_str(), 2, types, values, lengths, formats, binary_format); },
        what);
    if (!r) throw fatal(what + ": giving up on this client");
    check_round_trip(r, what);
  });

  each("8 MB text parameter", [](PGconn* c) {
    // One 8 MB Bind from the client to the server, checked by the server.
    std::string pattern;
    pattern.reserve(8'000'000);
    while (pattern.size() < 8'000'000) pattern += "0123456789";
    const char* text[1] = {pattern.c_str()};
    const std::string what = "PQexecParams with an 8 MB text parameter";
    const auto r = send_and_wait(
        c,
        [&](PGconn* k) {
          return PQsendQueryParams(k, "SELECT $1::text = repeat('0123456789', 800000)", 1, nullptr, text, nullptr,
                                   nullptr, text_format);
        },
        what);
    if (!r) throw fatal(what + ": giving up on this client");
    check_value(r, "t", what + " compared by the server");
  });
}

// ---------------------------------------------------------------------------------------------------
// 8. A transaction through the extended protocol stays on the primary.

void test_transaction() {
  const auto conn = connect();
  PGconn* c = conn.get();
  prepare_ok(c, "s_read", read_sql, 1);
  prepare_ok(c, "s_write", write_sql, 2);
  const std::string aid = "77";
  for (int round = 0; round < 3; ++round) {
    const std::string what = "transaction round " + std::to_string(round);
    const std::string delta = round % 2 == 0 ? "7" : "-7";
    std::set<int> ports;
    const auto begin = exec_params(c, "BEGIN", {});
    require(begin && PQresultStatus(begin.get()) == PGRES_COMMAND_OK, what + ": BEGIN: " + describe(begin));
    const auto before = exec_prepared(c, "s_read", {aid});
    require(is_tuples(before, 1, 2), what + ": first s_read: " + describe(before));
    ports.insert(port_column(before, 0, 1));
    const auto write = exec_prepared(c, "s_write", {aid, delta});
    if (check(is_tuples(write, 1, 1), what + ": s_write: " + describe(write))) ports.insert(port_column(write, 0, 0));
    const auto after = exec_prepared(c, "s_read", {aid});
    if (check(is_tuples(after, 1, 2), what + ": second s_read: " + describe(after))) {
      ports.insert(port_column(after, 0, 1));
      const long want = std::stol(value(before.get(), 0, 0)) + std::stol(delta);
      check(value(after.get(), 0, 0) == std::to_string(want),
            what + ": the read after the write sees " + value(after.get(), 0, 0) + ", want " + std::to_string(want));
    }
    const auto commit = exec_params(c, "COMMIT", {});
    check(commit && PQresultStatus(commit.get()) == PGRES_COMMAND_OK, what + ": COMMIT: " + describe(commit));
    std::string seen;
    for (const int port : ports) seen += std::to_string(port) + " ";
    check(ports.size() == 1 && *ports.begin() == env.primary_port,
          what + ": ran on ports " + seen + "; want the primary only (" + ports_text() + ")");
  }
  // A rolled-back transaction leaves the connection usable and idle.
  exec_ok(c, "BEGIN");
  check_value(exec_prepared(c, "s_write", {aid, "1000"}), std::to_string(env.primary_port), "s_write before ROLLBACK");
  exec_ok(c, "ROLLBACK");
  check(PQtransactionStatus(c) == PQTRANS_IDLE, "idle after ROLLBACK");
  // The +7/-7 rounds ended at +7: put the balance back.
  check_value(exec_prepared(c, "s_write", {aid, "-7"}), std::to_string(env.primary_port), "s_write restoring the balance");
}

// ---------------------------------------------------------------------------------------------------
// Runner: one line per test, a watchdog for hangs, and `N passed, M failed` at the end.

// Never destroyed: the detached watchdog thread still waits on them when main returns, and destroying
// a condition variable with a waiter blocks (glibc), which would hang the process at exit.
std::mutex& watchdog_mutex = *new std::mutex;
std::condition_variable& watchdog_wake = *new std::condition_variable;
std::chrono::steady_clock::time_point watchdog_deadline;  // guarded by watchdog_mutex, as are the next three
int tests_passed = 0;
int tests_failed = 0;

void start_watchdog() {
  watchdog_deadline = std::chrono::steady_clock::now() + std::chrono::hours(1);
  std::thread([] {
    std::unique_lock lock(watchdog_mutex);
    for (;;) {
      if (watchdog_wake.wait_until(lock, watchdog_deadline) == std::cv_status::timeout &&
          std::chrono::steady_clock::now() >= watchdog_deadline) {
        std::cout << "  FAIL [" << current_test << "] no progress in " << test_deadline.count()
                  << " s: sluice (or the test) hangs; see " << env.log_dir << "/sluice.log" << std::endl;
        std::cout << tests_passed << " passed, " << tests_failed + 1 << " failed" << std::endl;
        std::_Exit(1);
      }
    }
  }).detach();
}

std::string only;  // from the command line: run only the tests whose name contains it

void run(const std::string& name, void (*test)()) {
  if (name.find(only) == std::string::npos) return;
  {
    const std::lock_guard lock(watchdog_mutex);
    current_test = name;
    watchdog_deadline = std::chrono::steady_clock::now() + test_deadline;
  }
  watchdog_wake.notify_all();
  const int failures_before = failures;
  const auto started = std::chrono::steady_clock::now();
  try {
    test();
  } catch (const std::exception& e) {
    report_failure(std::string("aborted: ") + e.what());
  }
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
  const bool ok = failures == failures_before;
  {
    const std::lock_guard lock(watchdog_mutex);
    (ok ? tests_passed : tests_failed) += 1;
    watchdog_deadline = std::chrono::steady_clock::now() + std::chrono::hours(1);
  }
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%.2f", took.count());
  const std::lock_guard lock(print_mutex);
  std::cout << (ok ? "ok - " : "not ok - ") << name << " (" << seconds << " s)" << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) only = argv[1];
  try {
    env = read_sandbox();
  } catch (const std::exception& e) {
    std::cout << "cannot find the sandbox: " << e.what() << "\n0 passed, 1 failed" << std::endl;
    return 1;
  }
  std::cout << "sluice on port " << env.sluice_port << "; " << ports_text() << std::endl;
  start_watchdog();
  run("24 clients share statement names over 8 server connections", test_shared_statement_names);
  run("same statement name, different SQL, in concurrent clients", test_same_name_different_sql);
  run("PQdescribePrepared on a fresh server connection", test_describe_prepared);
  run("re-prepare of a name with different SQL", test_reprepare);
  run("pipeline of 50 statements with one write", test_pipeline);
  run("errors: runtime error in a prepared statement and mid-pipeline", test_errors);
  run("extended-protocol transaction stays on the primary", test_transaction);
  run("binary parameters and results, 1 MiB bytea, 20 MB text", test_binary_and_large);
  std::cout << tests_passed << " passed, " << tests_failed << " failed" << std::endl;
  if (tests_failed > 0) std::cout << "sluice log: " << env.log_dir << "/sluice.log" << std::endl;
  return tests_failed == 0 ? 0 : 1;
}
