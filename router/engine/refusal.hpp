// sluice's own errors as protocol-neutral codes: the engine says what went wrong, each front end renders
// it (an ErrorResponse with a SQLSTATE for PostgreSQL, an ERR packet with an error number and SQLSTATE
// for MySQL). docs/errors.md lists every code with both renderings.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::router::engine {

enum class refusal_code : std::uint8_t {
  query_canceled,       // the client cancelled a unit while it waited (QoS queue, write gate, stall)
  shutting_down,        // sluice is stopping: the client is told to go
  tenant_concurrency,   // tenant QoS: a concurrency limit (max_concurrency, max_active share, max_queue)
  tenant_rate,          // tenant QoS: a rate limit (max_qps, max_db_time_per_s)
  writes_held,          // a write held by a switchover or failover timed out, or too many were held
  no_primary,           // no backend reports being the primary, or more than one does (split brain)
  no_replica,           // a read found no qualifying replica and routing.fallback = "error"
  backend_unavailable,  // a backend could not be reached or refused sluice a connection
  pool_timeout,         // no server connection became free within pool.query_wait_timeout
  replica_check_lost,   // read_your_writes: the replica failed while its replay position was checked
  too_many_clients,     // limits.max_client_connections, or no file descriptor left
  login_failed,         // wrong password or unknown user (indistinguishable on purpose)
  protocol_violation,   // malformed, oversized or unexpected client input
  startup_timeout,      // startup and authentication did not finish within limits.startup_timeout
};
inline constexpr refusal_code last_refusal_code = refusal_code::startup_timeout;  // for tables over all codes

// One refusal: what and a message for a person ("sluice: ..."). `server_sqlstate` is the backend's own
// SQLSTATE when a PostgreSQL backend refused (it reaches a PostgreSQL client as it was).
struct refusal {
  refusal_code code = refusal_code::backend_unavailable;
  std::string message;
  std::string server_sqlstate;
};

// The SQLSTATE a PostgreSQL client is sent (server_sqlstate wins where it is set).
std::string_view pg_sqlstate(refusal_code code) noexcept;
std::string_view pg_sqlstate(const refusal& why) noexcept;

// The error number and SQLSTATE of the ERR packet a MySQL client is sent.
struct mysql_error {
  std::uint16_t number = 0;
  std::string_view sqlstate;
};
mysql_error mysql_error_for(refusal_code code) noexcept;

std::string_view to_string(refusal_code code) noexcept;  // "query_canceled", ... (logs, docs, tests)

}  // namespace sluice::router::engine
