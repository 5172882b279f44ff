// MySQL's part of the protocol-neutral pool (backends/pool/server_pool.hpp): its server connection,
// connect target and failure, and what a pool learns at its first login (server version, negotiated
// capabilities and character set, which the front end's greeting to clients is made from).
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "backends/mysql/server_connection.hpp"
#include "backends/pool/server_pool.hpp"

namespace sluice::backends::mysql {

// MySQL's ER_CON_COUNT_ERROR ("Too many connections"), SQLSTATE 08004: what a client is told when no
// server connection became free within the pool's wait_timeout.
inline constexpr std::uint16_t er_con_count_error = 1040;
inline constexpr const char* sqlstate_pool_timeout = "08004";

struct pool_protocol {
  using connection = server_connection;
  using connect_target = mysql::connect_target;
  using connect_failure = mysql::connect_failure;

  struct learnt {
    std::string server_version;                     // as the backend's HandshakeV10 said it
    wire::capabilities server_capabilities = 0;     // the backend's offer
    wire::capabilities capabilities = 0;            // negotiated with this pool's connect_target
    std::uint8_t character_set = 0;                 // the login's
    // Set once: every connection of a pool logs in to the same server as the same user and database.
    void learn(const server_connection& first) {
      server_version = first.server_version();
      server_capabilities = first.session().server_capabilities;
      capabilities = first.capabilities();
      character_set = first.character_set();
    }
    bool empty() const noexcept { return server_version.empty(); }
  };

  // Back to the idle list: one huge result set does not pin its buffer for the connection's life.
  static void on_idle(server_connection& idle) { idle.input().shrink_if_idle(); }
  static connect_failure pool_timeout(std::string message) {
    return {errc::pool_timeout, er_con_count_error, sqlstate_pool_timeout, std::move(message)};
  }
};

using server_pool = pool::basic_server_pool<pool_protocol>;
using acquire_result = pool::basic_acquire_result<pool_protocol>;

}  // namespace sluice::backends::mysql

// Compiled once, in pool_protocol.cpp.
namespace sluice::backends::pool {
extern template class basic_server_pool<mysql::pool_protocol>;
}  // namespace sluice::backends::pool
