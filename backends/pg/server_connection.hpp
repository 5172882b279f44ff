// One TCP connection from sluice to a PostgreSQL backend, with the state that must follow it through
// the pool: its backend key (for cancels), the session settings applied on it, and which of sluice's
// named prepared statements exist on it.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "backends/errc.hpp"
#include "backends/pg/address_source.hpp"
#include "backends/pg/prepared_cache.hpp"
#include "backends/pg/read_buffer.hpp"
#include "backends/pg/server_login.hpp"

namespace sluice::backends::pg {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using steady_clock = std::chrono::steady_clock;

// A session setting as SQL: name and the value text to put after "SET name TO ".
using setting = std::pair<std::string, std::string>;

struct connect_target {
  tcp::endpoint endpoint;
  login_credentials credentials;
  std::chrono::milliseconds timeout{5000};
  // When set, the pool asks it for the endpoint at each new connection and tells it of failed ones
  // (a backend named by host name); `endpoint` is then only the latest one used.
  address_source* addresses = nullptr;
};

struct connect_failure {
  errc code = errc::ok;
  std::string sqlstate;  // from the server's ErrorResponse, or 08006 for network failures
  std::string message;
};

class server_connection {
 public:
  server_connection(asio::any_io_executor executor, std::size_t backend_index);

  // TCP connect with TCP_NODELAY and TCP keepalive, then login; everything within target.timeout.
  asio::awaitable<connect_failure> connect(const connect_target& target);

  // False when the server closed the connection or sent something unsolicited while idle
  // (e.g. FATAL 57P01 at shutdown): such a connection must not be lent out.
  bool idle_and_healthy();

  tcp::socket& socket() noexcept { return socket_; }
  // The address this connection was opened to (where its cancel requests go).
  const tcp::endpoint& endpoint() const noexcept { return endpoint_; }
  read_buffer& input() noexcept { return input_; }
  std::size_t backend_index() const noexcept { return backend_index_; }
  const wire::backend_key_data& key() const noexcept { return key_; }
  std::vector<std::pair<std::string, std::string>>& startup_parameters() noexcept { return parameters_; }

  // Session settings currently in force on this server connection, sorted by name.
  std::vector<setting>& applied_settings() noexcept { return applied_settings_; }
  // True when a SET ran inside a transaction or an error hid the outcome: replay must RESET ALL first.
  bool settings_unknown = false;

  prepared_cache& prepared() noexcept { return prepared_; }

  // Whose unnamed prepared statement the server holds: the stamp of the client Parse("") that made
  // it (sessions stamp each of theirs uniquely), 0 when none or unknown. A client binding the unnamed
  // statement on a connection whose stamp is not its own gets its Parse replayed first, so it never
  // runs another client's statement.
  std::uint64_t unnamed_stamp = 0;
  // CancelRequests sent for this connection's backend and not yet answered (the server closes the
  // cancel connection once it has signalled the backend). Such a connection is not lent to anyone
  // else: the signal could land on the next borrower's query.
  std::uint32_t cancels_in_flight = 0;

  steady_clock::time_point created_at() const noexcept { return created_at_; }
  steady_clock::time_point last_used = steady_clock::now();

  void close() noexcept;
  // An idle connection's clean end (PgBouncer does the same): a Terminate message, sent without
  // waiting (an idle connection's send buffer is empty), then close(). The server ends the session
  // as for a client that said goodbye, instead of logging an unexpected EOF.
  void terminate() noexcept;

  // Moves this connection to another worker's io_context (server_pool's cross-worker handover):
  // releases the socket's descriptor from this executor's reactor and re-creates the socket and the
  // timer on `executor`. Call on the thread that owns the connection now, with no operation pending on
  // it; afterwards only `executor`'s thread may use it (post the connection there).
  void rebind(asio::any_io_executor executor);

 private:
  asio::awaitable<connect_failure> connect_and_login(const connect_target& target);

  tcp::socket socket_;
  tcp::endpoint endpoint_;
  asio::steady_timer deadline_;
  read_buffer input_;
  std::size_t backend_index_;
  wire::backend_key_data key_;
  std::vector<std::pair<std::string, std::string>> parameters_;
  std::vector<setting> applied_settings_;
  prepared_cache prepared_;
  steady_clock::time_point created_at_ = steady_clock::now();
};

// Sends a CancelRequest for `key` to `endpoint` on a fresh connection (PostgreSQL docs 55.2.7) and
// completes once the server has closed that connection, on any error, or after `timeout` (connect,
// write and the wait for the close all count against it), whichever comes first. True when the
// server closed the cancel connection, i.e. it has signalled the backend; false on a failure or the
// deadline (the signal may still come later).
asio::awaitable<bool> send_cancel_request(asio::any_io_executor executor, tcp::endpoint endpoint,
                                          wire::backend_key_data key, std::chrono::milliseconds timeout);

}  // namespace sluice::backends::pg
