// Cost of classify() on the statements pgbench, sysbench and typical applications send (PostgreSQL
// first, then the MySQL dialect): nanoseconds per call by the clock, or, under callgrind, instructions
// per call (deterministic; issue 14).
//
//   classify_bench                         every statement, timed by the clock
//   valgrind --tool=callgrind --collect-atstart=no classify_bench --callgrind N 1000
//                                          statement N only, 1000 calls, collected between toggles:
//                                          "Collected : X" / 1000 is its instructions per call
//   classify_bench --list                  the statements, numbered
// integration/bench/instructions.py --classifier runs the callgrind form for every statement.
#include "router/classify/classifier.hpp"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wshadow"
#include <valgrind/callgrind.h>
#pragma GCC diagnostic pop

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace {

using namespace sluice::router::classify;

struct sample {
  const char* name;
  std::string_view sql;
  sql_dialect dialect = sql_dialect::postgresql;
};

constexpr sql_dialect mysql = sql_dialect::mysql;

// pgbench's built-in scripts (select-only, tpcb-like), as sent with -M extended ($n) and -M simple
// (literals), then longer statements of the kind ORMs send.
constexpr sample samples[] = {
    {"pgbench -S (extended)", "SELECT abalance FROM pgbench_accounts WHERE aid = $1;"},
    {"pgbench -S (simple)", "SELECT abalance FROM pgbench_accounts WHERE aid = 3412873;"},
    {"select 1", "select 1"},
    {"tpcb BEGIN", "BEGIN;"},
    {"tpcb UPDATE", "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;"},
    {"tpcb INSERT",
     "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP);"},
    {"tpcb END", "END;"},
    {"long SELECT with joins",
     "SELECT o.id, o.created_at, c.name, c.email, sum(l.quantity * l.unit_price) AS total, count(*) AS lines "
     "FROM orders o JOIN customers c ON c.id = o.customer_id LEFT JOIN order_lines l ON l.order_id = o.id "
     "WHERE o.created_at >= $1 AND o.status IN ('paid', 'shipped') AND c.region = $2 "
     "GROUP BY o.id, o.created_at, c.name, c.email HAVING sum(l.quantity) > 0 "
     "ORDER BY o.created_at DESC LIMIT 50"},
    {"hint and comments",
     "/* sluice: replica */ -- dashboard query\n"
     "SELECT u.id, u.name /* the display name */, u.last_seen FROM users u "
     "WHERE u.team_id = $1 AND u.active -- only active ones\n ORDER BY u.last_seen DESC"},
    {"SELECT ... FOR UPDATE", "SELECT id, balance FROM accounts WHERE id = $1 FOR UPDATE"},
    {"SET", "SET application_name = 'web'"},
    // The MySQL dialect (after the PostgreSQL samples, whose numbers stay): sysbench oltp_read_write with
    // --db-ps-mode=disable, a driver's connect-time SET, mysqldump's executable comments.
    {"mysql sysbench point select", "SELECT c FROM sbtest1 WHERE id=5034", mysql},
    {"mysql sysbench range", "SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN 61 AND 160 ORDER BY c", mysql},
    {"mysql sysbench UPDATE", "UPDATE sbtest1 SET k=k+1 WHERE id=51", mysql},
    {"mysql BEGIN", "BEGIN", mysql},
    {"mysql SET NAMES", "SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci", mysql},
    {"mysql mysqldump line", "/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;", mysql},
    {"mysql long SELECT with joins",
     "SELECT o.id, o.created_at, c.name, c.email, sum(l.quantity * l.unit_price) AS total, count(*) AS lines "
     "FROM orders o JOIN customers c ON c.id = o.customer_id LEFT JOIN order_lines l ON l.order_id = o.id "
     "WHERE o.created_at >= ? AND o.status IN ('paid', 'shipped') AND c.region = ? "
     "GROUP BY o.id, o.created_at, c.name, c.email HAVING sum(l.quantity) > 0 "
     "ORDER BY o.created_at DESC LIMIT 50",
     mysql},
};
constexpr std::size_t sample_count = sizeof(samples) / sizeof(samples[0]);

const std::string write_functions[] = {"audit_write"};

// Keeps the optimiser from dropping the calls.
volatile unsigned sink = 0;

[[gnu::noinline]] void run(std::string_view sql, std::size_t iterations, const options& opts) {
  for (std::size_t i = 0; i < iterations; ++i) {
    const classification c = classify(sql, opts);
    sink = sink + static_cast<unsigned>(c.target) + static_cast<unsigned>(c.calls_functions);
  }
}

}  // namespace

int main(int argc, char** argv) {
  options pg_opts{write_functions};
  options mysql_opts{write_functions};
  mysql_opts.dialect = sql_dialect::mysql;
  const auto options_of = [&](const sample& s) -> const options& {
    return s.dialect == sql_dialect::mysql ? mysql_opts : pg_opts;
  };
  if (argc >= 2 && std::strcmp(argv[1], "--list") == 0) {
    for (std::size_t i = 0; i < sample_count; ++i) {
      std::printf("%zu\t%zu\t%s\n", i, samples[i].sql.size(), samples[i].name);
    }
    return 0;
  }
  if (argc >= 4 && std::strcmp(argv[1], "--callgrind") == 0) {
    const auto index = static_cast<std::size_t>(std::strtoul(argv[2], nullptr, 10));
    const auto iterations = static_cast<std::size_t>(std::strtoul(argv[3], nullptr, 10));
    if (index >= sample_count) {
      std::fprintf(stderr, "no statement %zu\n", index);
      return 2;
    }
    const options& opts = options_of(samples[index]);
    run(samples[index].sql, 1, opts);  // warm: first-call costs (lazy binding) are not counted
    CALLGRIND_TOGGLE_COLLECT;
    run(samples[index].sql, iterations, opts);
    CALLGRIND_TOGGLE_COLLECT;
    return 0;
  }
  const std::size_t iterations = argc >= 2 ? std::strtoul(argv[1], nullptr, 10) : 200000;
  std::printf("%-26s %6s %10s %10s\n", "statement", "bytes", "ns/call", "ns/byte");
  for (const sample& s : samples) {
    const options& opts = options_of(s);
    run(s.sql, iterations / 10, opts);
    const auto start = std::chrono::steady_clock::now();
    run(s.sql, iterations, opts);
    const std::chrono::duration<double, std::nano> took = std::chrono::steady_clock::now() - start;
    const double per_call = took.count() / static_cast<double>(iterations);
    std::printf("%-26s %6zu %10.1f %10.2f\n", s.name, s.sql.size(), per_call,
                per_call / static_cast<double>(s.sql.size()));
  }
  return 0;
}
