// The two renderings of each refusal_code. PostgreSQL: the SQLSTATEs of Appendix A of its manual, as
// a server in the same situation would send. MySQL/MariaDB: server error numbers from the MariaDB
// error reference (mariadb.com/kb/en/mariadb-error-code-reference), where a direct server has one.
#include "router/engine/refusal.hpp"

namespace sluice::router::engine {

std::string_view pg_sqlstate(refusal_code code) noexcept {
  switch (code) {
    case refusal_code::query_canceled:
      return "57014";  // query_canceled
    case refusal_code::shutting_down:
      return "57P01";  // admin_shutdown
    case refusal_code::tenant_concurrency:
    case refusal_code::pool_timeout:
    case refusal_code::too_many_clients:
      return "53300";  // too_many_connections
    case refusal_code::tenant_rate:
      return "53400";  // configuration_limit_exceeded
    case refusal_code::writes_held:
    case refusal_code::no_primary:
    case refusal_code::no_replica:
      return "57P03";  // cannot_connect_now
    case refusal_code::backend_unavailable:
    case refusal_code::replica_check_lost:
      return "08006";  // connection_failure
    case refusal_code::login_failed:
      return "28P01";  // invalid_password
    case refusal_code::protocol_violation:
    case refusal_code::startup_timeout:
      return "08P01";  // protocol_violation
  }
  return "XX000";
}

std::string_view pg_sqlstate(const refusal& why) noexcept {
  if (!why.server_sqlstate.empty()) return why.server_sqlstate;
  return pg_sqlstate(why.code);
}

mysql_error mysql_error_for(refusal_code code) noexcept {
  switch (code) {
    case refusal_code::query_canceled:
      return {1317, "70100"};  // ER_QUERY_INTERRUPTED
    case refusal_code::shutting_down:
      return {1053, "08S01"};  // ER_SERVER_SHUTDOWN
    case refusal_code::tenant_concurrency:
    case refusal_code::tenant_rate:
      return {1226, "42000"};  // ER_USER_LIMIT_REACHED: "has exceeded the resource"
    case refusal_code::writes_held:
    case refusal_code::no_primary:
      // ER_OPTION_PREVENTS_STATEMENT, what a write meets on a read-only server during a failover:
      // drivers and frameworks already treat it as "retry on the new primary".
      return {1290, "HY000"};
    case refusal_code::no_replica:
      return {1105, "HY000"};  // ER_UNKNOWN_ERROR: no server error says "no replica qualifies"
    case refusal_code::backend_unavailable:
      return {2003, "HY000"};  // CR_CONN_HOST_ERROR, what the client would report connecting directly
    case refusal_code::replica_check_lost:
      return {2013, "HY000"};  // CR_SERVER_LOST, sent as an ERR: the client's connection stays
    case refusal_code::pool_timeout:
    case refusal_code::too_many_clients:
      return {1040, "08004"};  // ER_CON_COUNT_ERROR
    case refusal_code::login_failed:
      return {1045, "28000"};  // ER_ACCESS_DENIED_ERROR
    case refusal_code::protocol_violation:
      return {1047, "08S01"};  // ER_UNKNOWN_COM_ERROR
    case refusal_code::startup_timeout:
      return {1159, "08S01"};  // ER_NET_READ_INTERRUPTED
  }
  return {1105, "HY000"};
}

std::string_view to_string(refusal_code code) noexcept {
  switch (code) {
    case refusal_code::query_canceled: return "query_canceled";
    case refusal_code::shutting_down: return "shutting_down";
    case refusal_code::tenant_concurrency: return "tenant_concurrency";
    case refusal_code::tenant_rate: return "tenant_rate";
    case refusal_code::writes_held: return "writes_held";
    case refusal_code::no_primary: return "no_primary";
    case refusal_code::no_replica: return "no_replica";
    case refusal_code::backend_unavailable: return "backend_unavailable";
    case refusal_code::pool_timeout: return "pool_timeout";
    case refusal_code::replica_check_lost: return "replica_check_lost";
    case refusal_code::too_many_clients: return "too_many_clients";
    case refusal_code::login_failed: return "login_failed";
    case refusal_code::protocol_violation: return "protocol_violation";
    case refusal_code::startup_timeout: return "startup_timeout";
  }
  return "unknown";
}

}  // namespace sluice::router::engine
