// Blocking libpq administration connections for switchover and failover (never on a worker thread):
// connect and query with deadlines on libpq's non-blocking API, as the prober does, and the
// credentials every control-plane connection uses ([health] user/password/database).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backends/pg/prober.hpp"
#include "router/config/config.hpp"

namespace sluice::router::failover {

// The control-plane credentials for backend `index`: health.user (default: the first user's server
// user), health.password (default: that user's server password), health.database. The probes use
// the same.
backends::pg::probe_target admin_target(const config::config& cfg, std::size_t index);

// One query's outcome: rows of text values (nullopt for NULL), or an error with its SQLSTATE.
struct pg_result {
  bool ok = false;
  std::string error;     // the server's message, or "timed out", "connection lost"...
  std::string sqlstate;  // the server's SQLSTATE when it sent one
  std::vector<std::vector<std::optional<std::string>>> rows;

  // The first row's first value, or "" (NULL, no rows, error).
  std::string value() const;
};

class pg_admin {
 public:
  pg_admin() = default;
  ~pg_admin();
  pg_admin(pg_admin&& other) noexcept;
  pg_admin& operator=(pg_admin&& other) noexcept;
  pg_admin(const pg_admin&) = delete;
  pg_admin& operator=(const pg_admin&) = delete;

  // Connects within `timeout`; false with error() set otherwise.
  bool connect(const backends::pg::probe_target& target, std::chrono::milliseconds timeout,
               std::string_view application_name = "sluice-failover");
  bool connected() const noexcept;
  void close() noexcept;
  const std::string& error() const noexcept { return error_; }

  // Runs `sql` (parameters as text, $1...) within `timeout`; a timed-out query is cancelled. A
  // failure's message is also kept in error().
  pg_result query(std::string_view sql, const std::vector<std::string>& params = {},
                  std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));

 private:
  pg_result run(std::string_view sql, const std::vector<std::string>& params, std::chrono::milliseconds timeout);

  void* conn_ = nullptr;  // PGconn*
  std::string error_;
};

// LSN text ("16/B374D848") to its 64-bit value, and back; nullopt for anything else.
std::optional<std::uint64_t> parse_lsn(std::string_view text);
std::string format_lsn(std::uint64_t lsn);

// A libpq conninfo string (key=value pairs, values optionally single-quoted) with host and port
// replaced (added when absent); other keys (user, passfile, application_name...) kept as they were.
std::string rewrite_conninfo(std::string_view conninfo, std::string_view host, std::uint16_t port);
// `text` as a SQL string literal ('...' with quotes doubled).
std::string sql_literal(std::string_view text);

}  // namespace sluice::router::failover
