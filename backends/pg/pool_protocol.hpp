// PostgreSQL's part of the protocol-neutral pool (backends/pool/server_pool.hpp): its server connection,
// connect target and failure, and what a pool learns at its first login (the ParameterStatus values
// that greet clients, encoded once).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "backends/pg/server_connection.hpp"
#include "backends/pg/wire/parameter_status_set.hpp"
#include "backends/pool/server_pool.hpp"

namespace sluice::backends::pg {

struct pool_protocol {
  using connection = server_connection;
  using connect_target = pg::connect_target;
  using connect_failure = pg::connect_failure;

  struct learnt {
    // ParameterStatus values from the first successful login, for greeting clients.
    std::vector<std::pair<std::string, std::string>> server_parameters;
    // The same, encoded once when they are learnt: a greeting copies them (issue 14: encoding them
    // for every client was about 9k instructions per connection).
    wire::parameter_status_set greeting;
    // Set once: every connection of a pool logs in to the same server as the same user and database.
    void learn(server_connection& first) {
      server_parameters = first.startup_parameters();
      greeting = wire::parameter_status_set(server_parameters);
    }
    bool empty() const noexcept { return server_parameters.empty(); }
  };

  static void on_idle(server_connection& idle) { idle.input().shrink_if_idle(); }
  static connect_failure pool_timeout(std::string message) {
    return {errc::pool_timeout, "53300", std::move(message)};
  }
};

using server_pool = pool::basic_server_pool<pool_protocol>;
using acquire_result = pool::basic_acquire_result<pool_protocol>;

}  // namespace sluice::backends::pg

// Compiled once, in pool_protocol.cpp.
namespace sluice::backends::pool {
extern template class basic_server_pool<pg::pool_protocol>;
}  // namespace sluice::backends::pool
