// MySQL server connection: TCP connect + the login driven by the sans-IO auth::server_login, the idle
// liveness check, COM_QUIT at the end, and the move to another worker.
#include "backends/mysql/server_connection.hpp"

#include "backends/drained_read.hpp"
#include "backends/server_socket.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/write.hpp>
#include <array>
#include <cerrno>
#include <utility>
#include <variant>

namespace sluice::backends::mysql {

namespace {
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// Login packets are small (a greeting, an auth switch, an OK); anything larger is a protocol problem.
constexpr std::size_t max_login_payload = 64 * 1024;

connect_failure network_failure(const boost::system::error_code& ec, std::string_view what) {
  return connect_failure{errc::server_connect, 0, sqlstate_link_failure, std::string(what) + ": " + ec.message()};
}
}  // namespace

server_connection::server_connection(asio::any_io_executor executor, std::size_t backend_index)
    : socket_(executor), deadline_(executor), backend_index_(backend_index) {}

void server_connection::close() noexcept { close_socket(socket_); }

void server_connection::terminate() noexcept {
  if (socket_.is_open()) {
    // COM_QUIT: a 1-byte payload with sequence id 0, five bytes the empty send buffer takes at once.
    constexpr std::array<std::uint8_t, 5> quit{1, 0, 0, 0, wire::com_quit};
    (void)::send(socket_.native_handle(), quit.data(), quit.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  }
  close();
}

asio::awaitable<connect_failure> server_connection::connect(const connect_target& target) {
  // The whole connect + login races a timer; whichever finishes first cancels the other.
  using namespace asio::experimental::awaitable_operators;
  endpoint_ = target.endpoint;
  deadline_.expires_after(target.timeout);
  auto outcome = co_await (connect_and_login(target) || deadline_.async_wait(use_tuple));
  if (outcome.index() == 1) {
    close();
    co_return connect_failure{errc::server_connect, 0, sqlstate_link_failure,
                              "connect and login timed out after " + std::to_string(target.timeout.count()) + " ms"};
  }
  co_return std::get<0>(std::move(outcome));
}

asio::awaitable<connect_failure> server_connection::connect_and_login(const connect_target& target) {
  auto [connect_ec] = co_await socket_.async_connect(target.endpoint, use_tuple);
  if (connect_ec) co_return network_failure(connect_ec, "connect");
  boost::system::error_code ignored;
  socket_.set_option(tcp::no_delay(true), ignored);
  enable_keepalive(socket_);
  enable_drained_reads(socket_);

  auth::server_login_params params;
  params.user = target.user;
  params.password = target.password;  // the machine wipes its copy when it ends
  params.database = target.database;
  params.capabilities = target.capabilities;
  params.character_set = target.character_set;
  auth::server_login login(std::move(params));
  wire::byte_buffer out;
  for (;;) {
    // The server speaks first: nothing to send before the greeting.
    const auto [frame, read_ec] = co_await read_message(socket_, input_, max_login_payload);
    if (read_ec) {
      co_return network_failure(read_ec, read_ec == asio::error::eof ? "backend closed the connection during login"
                                                                     : "read during login");
    }
    if (frame.status != wire::codec_errc::ok) {
      co_return connect_failure{errc::server_protocol, 0, sqlstate_link_failure,
                                frame.status == wire::codec_errc::packet_too_large
                                    ? "backend sent an oversized packet during login"
                                    : "backend sent a malformed packet during login"};
    }
    const auto step = login.on_message(frame.message, out);
    input_.consume(frame.message.wire.size());
    if (step == auth::server_login::step::failed) {
      const auto& error = login.error();
      co_return connect_failure{error.code, error.server_errno, error.sqlstate, error.message};
    }
    if (step == auth::server_login::step::start_tls) {
      // Not asked for (params.tls is false): a machine that wants TLS anyway is a bug, not the server's.
      co_return connect_failure{errc::server_protocol, 0, sqlstate_link_failure, "TLS to backends is not supported"};
    }
    if (!out.empty()) {
      auto [write_ec, written] = co_await asio::async_write(socket_, asio::buffer(out), use_tuple);
      if (write_ec) co_return network_failure(write_ec, "write during login");
      out.clear();
    }
    if (step == auth::server_login::step::done) break;
  }
  session_ = login.session();
  status_flags = session_.status_flags;
  created_at_ = last_used = steady_clock::now();
  co_return connect_failure{};
}

bool server_connection::idle_and_healthy() {
  // Bytes already buffered are unsolicited too.
  return input_.empty() && idle_socket_healthy(socket_);
}

void server_connection::rebind(asio::any_io_executor executor) {
  move_socket(socket_, executor);
  deadline_ = asio::steady_timer(std::move(executor));
}

}  // namespace sluice::backends::mysql
