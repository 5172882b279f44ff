// Server connection: connect + login driven by the sans-IO server_login, liveness check, cancel.
#include "backends/pg/server_connection.hpp"

#include "backends/drained_read.hpp"
#include "backends/server_socket.hpp"

#include "backends/pg/read_message.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <array>
#include <cerrno>
#include <variant>

namespace sluice::backends::pg {

namespace {
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// Messages during login are small; anything larger is a protocol problem.
constexpr std::size_t max_login_message = 1024 * 1024;

// Connect, send the CancelRequest, then wait for the server to close the connection (it does so
// after processing the request), so the cancel is delivered before we drop the socket.
// True when the server took the request and closed the connection (it has signalled the backend).
asio::awaitable<bool> cancel_exchange(tcp::socket& socket, tcp::endpoint endpoint,
                                      wire::backend_key_data key) {
  auto [connect_ec] = co_await socket.async_connect(endpoint, use_tuple);
  if (connect_ec) co_return false;
  enable_keepalive(socket);
  wire::byte_buffer out;
  wire::encode_cancel_request(out, key.process_id, key.secret_key);
  auto [write_ec, written] = co_await asio::async_write(socket, asio::buffer(out), use_tuple);
  if (write_ec) co_return false;
  std::uint8_t scratch[16];
  // Anything but EOF (bytes, which PostgreSQL never sends here) ends the wait too.
  auto [read_ec, count] = co_await socket.async_read_some(asio::buffer(scratch), use_tuple);
  co_return read_ec == asio::error::eof;
}
}  // namespace

server_connection::server_connection(asio::any_io_executor executor, std::size_t backend_index)
    : socket_(executor), deadline_(executor), backend_index_(backend_index) {}

void server_connection::close() noexcept { close_socket(socket_); }

void server_connection::terminate() noexcept {
  if (socket_.is_open()) {
    // 'X' and a length of 4: five bytes, which the empty send buffer of an idle connection takes at once.
    constexpr std::array<char, 5> terminate_message{wire::fe::terminate, 0, 0, 0, 4};
    (void)::send(socket_.native_handle(), terminate_message.data(), terminate_message.size(),
                 MSG_DONTWAIT | MSG_NOSIGNAL);
  }
  close();
}

asio::awaitable<connect_failure> server_connection::connect(const connect_target& target) {
  // The whole connect + login races a timer; whichever finishes first cancels the other.
  using namespace asio::experimental::awaitable_operators;
  endpoint_ = target.endpoint;
  deadline_.expires_after(target.timeout);
  auto outcome = co_await (connect_and_login(target) || deadline_.async_wait(asio::use_awaitable));
  if (outcome.index() == 1) {
    close();
    co_return connect_failure{errc::server_connect, "08006", "connect and login timed out"};
  }
  co_return std::get<0>(std::move(outcome));
}

asio::awaitable<connect_failure> server_connection::connect_and_login(const connect_target& target) {
  const auto network_failure = [](const boost::system::error_code& ec, std::string_view what) {
    return connect_failure{errc::server_connect, "08006", std::string(what) + ": " + ec.message()};
  };

  auto [connect_ec] = co_await socket_.async_connect(target.endpoint, use_tuple);
  if (connect_ec) co_return network_failure(connect_ec, "connect");
  boost::system::error_code ignored;
  socket_.set_option(tcp::no_delay(true), ignored);
  enable_keepalive(socket_);
  enable_drained_reads(socket_);

  server_login login(target.credentials);
  wire::byte_buffer out;
  login.start(out);
  for (;;) {
    if (!out.empty()) {
      auto [write_ec, written] = co_await asio::async_write(socket_, asio::buffer(out), use_tuple);
      if (write_ec) co_return network_failure(write_ec, "write");
      out.clear();
    }
    const auto [frame, read_ec] = co_await read_message(socket_, input_, max_login_message);
    if (read_ec) co_return network_failure(read_ec, "read");
    if (frame.status != wire::frame_status::ok) {
      co_return connect_failure{errc::server_protocol, "08P01", "malformed message from backend during login"};
    }
    const auto step = login.on_message(frame.message, out);
    input_.consume(frame.message.wire_size);
    if (step == server_login::step::failed) {
      co_return connect_failure{login.error(), login.sqlstate(), login.message()};
    }
    if (step == server_login::step::done) break;
  }
  key_ = login.key();
  parameters_ = std::move(login.parameters());
  created_at_ = last_used = steady_clock::now();
  co_return connect_failure{};
}

bool server_connection::idle_and_healthy() {
  // Bytes already buffered are unsolicited too.
  return input_.empty() && idle_socket_healthy(socket_);
}

asio::awaitable<bool> send_cancel_request(asio::any_io_executor executor, tcp::endpoint endpoint,
                                          wire::backend_key_data key, std::chrono::milliseconds timeout) {
  // connect + write + wait-for-close race one timer; whichever finishes first cancels the other,
  // so an unreachable or silent server costs at most `timeout`.
  using namespace asio::experimental::awaitable_operators;
  tcp::socket socket(executor);
  asio::steady_timer deadline(executor);
  deadline.expires_after(timeout);
  auto result = co_await (cancel_exchange(socket, endpoint, key) || deadline.async_wait(use_tuple));
  boost::system::error_code ignored;
  socket.close(ignored);
  co_return result.index() == 0 && std::get<0>(result);
}

void server_connection::rebind(asio::any_io_executor executor) {
  move_socket(socket_, executor);
  deadline_ = asio::steady_timer(std::move(executor));
}

}  // namespace sluice::backends::pg
