// One TCP connection from sluice to a MySQL or MariaDB backend, logged in by the sans-IO server_login
// (backends/mysql/auth/server_login.hpp), with what the login learnt (thread id for KILL QUERY, server
// version, negotiated capabilities) and what the pool needs (liveness check, clean end, rebind).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstdint>
#include <string>

#include "backends/drained_read.hpp"
#include "backends/errc.hpp"
#include "backends/mysql/auth/server_login.hpp"
#include "backends/mysql/server_statements.hpp"
#include "backends/mysql/session_variables.hpp"
#include "backends/mysql/wire/constants.hpp"
#include "backends/mysql/wire/packet.hpp"
#include "backends/pg/address_source.hpp"
#include "backends/pg/read_buffer.hpp"

namespace sluice::backends::mysql {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using steady_clock = std::chrono::steady_clock;

// Both are protocol-neutral despite their folder: the address of a backend named by host name, and a
// connection's reusable input buffer (its views are std::span<const std::uint8_t>, as wire::bytes_view).
using address_source = pg::address_source;
using read_buffer = pg::read_buffer;

// What sluice asks a backend for by default: server_login's set plus CLIENT_DEPRECATE_EOF (result sets
// end with an OK, which carries the session-state changes) and CLIENT_CONNECT_WITH_DB (dropped by the
// login when no database is named). A front end passes another set per client flag set (found rows,
// deprecate EOF) so that the answers it relays are shaped for that client.
inline constexpr wire::capabilities default_capabilities =
    auth::default_server_login_capabilities | wire::client_deprecate_eof | wire::client_connect_with_db;

struct connect_target {
  tcp::endpoint endpoint;
  // When set, the pool asks it for the endpoint at each new connection and tells it of failed ones (a
  // backend named by host name); `endpoint` is then only the latest one used.
  address_source* addresses = nullptr;
  std::string user;
  std::string password;  // empty: log in without one
  std::string database;  // empty: none
  wire::capabilities capabilities = default_capabilities;  // wanted; the server's offer bounds them
  std::uint8_t character_set = wire::charset_utf8mb4_general_ci;
  std::chrono::milliseconds timeout{5000};  // TCP connect and the whole login
};

// sqlstate sluice reports for a connect or login that failed on the network (MySQL's "communication
// link failure"; the server sent no ERR).
inline constexpr const char* sqlstate_link_failure = "08S01";

struct connect_failure {
  // ok; server_connect (network failure or timeout), server_auth_failed (the server refused the
  // credentials: ERR 1045/1698), server_error (any other ERR, e.g. 1049 unknown database, 1040 too many
  // connections), server_unsupported_auth, server_protocol (bytes sluice cannot follow); pool_timeout
  // from the pool.
  errc code = errc::ok;
  std::uint16_t server_errno = 0;  // from the server's ERR packet; 0 when sluice itself gave up
  std::string sqlstate;            // the ERR's SQLSTATE, or sluice's own (08S01 network, 28000 auth)
  std::string message;
};

// What one read of a whole logical message from a server socket gave.
struct read_message_result {
  wire::message_frame frame;        // ok: frame.message is at the front of the buffer (not consumed)
  boost::system::error_code error;  // set when the read failed before a whole message arrived
};

// Reads into `buffer` until one whole MySQL message (its chunks joined) is buffered; returns at it, at a
// bad frame (packet_too_large beyond `max_payload`, out_of_order chunks) or at a read error. The framing
// stays sans-IO (wire::frame_message); this only moves bytes.
template <class Socket>
asio::awaitable<read_message_result> read_message(Socket& socket, read_buffer& buffer, std::size_t max_payload) {
  for (;;) {
    auto frame = wire::frame_message(buffer.available(), max_payload);
    if (frame.status != wire::codec_errc::need_more) co_return read_message_result{frame, {}};
    buffer.prepare(frame.needed);
    auto [ec, count] = co_await async_read_some_drained(socket, buffer.writable(), asio::as_tuple(asio::use_awaitable));
    if (ec) co_return read_message_result{frame, ec};
    buffer.commit(count);
  }
}

class server_connection {
 public:
  server_connection(asio::any_io_executor executor, std::size_t backend_index);

  // TCP connect with TCP_NODELAY and TCP keepalive, then the login (server_login), everything within
  // target.timeout. Failures come back as values; on one the connection is not usable (drop it).
  asio::awaitable<connect_failure> connect(const connect_target& target);

  // False when the server closed the connection or sent something unsolicited while idle (an ERR before
  // it closes: MySQL 8's 4031 at wait_timeout, MariaDB's shutdown message): not to be lent out. A
  // non-blocking MSG_PEEK; nothing is consumed.
  bool idle_and_healthy();

  void close() noexcept;
  // An idle connection's clean end: COM_QUIT, sent without waiting (an idle connection's send buffer is
  // empty), then close(). The server ends the session as for a client that said goodbye, instead of
  // counting an aborted connection.
  void terminate() noexcept;

  // Moves this connection to another worker's io_context (the pool's cross-worker handover): releases the
  // descriptor from this executor's reactor and re-creates the socket and the timer on `executor`. Call
  // on the thread that owns the connection now, with no operation pending on it; afterwards only
  // `executor`'s thread may use it.
  void rebind(asio::any_io_executor executor);

  tcp::socket& socket() noexcept { return socket_; }
  // The address this connection was opened to (where a KILL QUERY for it goes).
  const tcp::endpoint& endpoint() const noexcept { return endpoint_; }
  read_buffer& input() noexcept { return input_; }
  std::size_t backend_index() const noexcept { return backend_index_; }

  // What the login learnt (valid after a successful connect()).
  const auth::server_session& session() const noexcept { return session_; }
  // The server's connection id: what KILL [QUERY] takes.
  std::uint32_t thread_id() const noexcept { return session_.thread_id; }
  const std::string& server_version() const noexcept { return session_.server_version; }
  // Negotiated: what both sides use from now on (decode this connection's packets with it).
  wire::capabilities capabilities() const noexcept { return session_.capabilities; }
  std::uint8_t character_set() const noexcept { return session_.character_set; }
  // The server status flags of the latest OK or EOF seen on this connection (the login's OK until the
  // front end updates it): SERVER_STATUS_IN_TRANS, SERVER_STATUS_AUTOCOMMIT ...
  std::uint16_t status_flags = 0;
  // The schema and tracked session variables in force on this connection as the front end last learnt
  // them from its OK packets: each borrower replays only what differs from its client's.
  session_variables state;
  // The statements prepared on this connection, shared by every client that borrows it.
  server_statements statements;

  steady_clock::time_point created_at() const noexcept { return created_at_; }
  steady_clock::time_point last_used = steady_clock::now();

 private:
  asio::awaitable<connect_failure> connect_and_login(const connect_target& target);

  tcp::socket socket_;
  tcp::endpoint endpoint_;
  asio::steady_timer deadline_;
  read_buffer input_;
  std::size_t backend_index_;
  auth::server_session session_;
  steady_clock::time_point created_at_ = steady_clock::now();
};

}  // namespace sluice::backends::mysql
