// server_connection and send_cancel_request against local acceptors on 127.0.0.1: TCP keepalive is on
// for server sockets, and a cancel request ends at the server's close or at its deadline when the
// server never answers. One io_context, run in the test thread.
#include "backends/pg/server_connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <exception>
#include <optional>

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using sluice::backends::pg::connect_target;
using sluice::backends::pg::send_cancel_request;
using sluice::backends::pg::server_connection;
namespace wire = sluice::backends::pg::wire;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

tcp::acceptor local_acceptor(asio::io_context& io) {
  return tcp::acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
}

int tcp_option(int fd, int level, int name) {
  int value = -1;
  socklen_t length = sizeof(value);
  if (::getsockopt(fd, level, name, &value, &length) != 0) return -1;
  return value;
}

std::uint32_t read_be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

// Runs the io_context until `done` or `limit` (a safety net so a hung test fails instead of hanging).
template <typename Done>
void run_until(asio::io_context& io, Done&& done, std::chrono::milliseconds limit = 5000ms) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < give_up) {
    io.run_for(10ms);
    if (io.stopped()) io.restart();
  }
}

}  // namespace

TEST_CASE("a server connection has TCP keepalive on", "[server_connection][keepalive]") {
  asio::io_context io;
  auto acceptor = local_acceptor(io);
  // The server accepts and closes at once: the login fails on read, the socket stays open to inspect.
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    auto [ec, peer] = co_await acceptor.async_accept(use_tuple);
    if (!ec) peer.close();
  }, asio::detached);

  server_connection connection(io.get_executor(), 0);
  connect_target target;
  target.endpoint = acceptor.local_endpoint();
  target.credentials.user = "alice";
  target.timeout = 2000ms;
  bool finished = false;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    const auto failure = co_await connection.connect(target);
    CHECK(failure.code != sluice::errc::ok);  // nobody logged us in
    finished = true;
  }, asio::detached);
  run_until(io, [&] { return finished; });
  REQUIRE(finished);
  REQUIRE(connection.socket().is_open());
  const int fd = connection.socket().native_handle();
  CHECK(tcp_option(fd, SOL_SOCKET, SO_KEEPALIVE) == 1);
  CHECK(tcp_option(fd, IPPROTO_TCP, TCP_KEEPIDLE) == 30);
  CHECK(tcp_option(fd, IPPROTO_TCP, TCP_KEEPINTVL) == 10);
  CHECK(tcp_option(fd, IPPROTO_TCP, TCP_KEEPCNT) == 3);
  CHECK(tcp_option(fd, IPPROTO_TCP, TCP_NODELAY) == 1);
}

TEST_CASE("send_cancel_request sends a CancelRequest and ends when the server closes",
          "[server_connection][cancel]") {
  asio::io_context io;
  auto acceptor = local_acceptor(io);
  std::optional<std::array<std::uint8_t, 16>> received;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    auto [ec, peer] = co_await acceptor.async_accept(use_tuple);
    if (ec) co_return;
    std::array<std::uint8_t, 16> bytes{};
    auto [read_ec, n] = co_await asio::async_read(peer, asio::buffer(bytes), use_tuple);
    if (!read_ec && n == bytes.size()) received = bytes;
    peer.close();  // as PostgreSQL does after processing the request
  }, asio::detached);

  bool finished = false;
  const auto started = std::chrono::steady_clock::now();
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    co_await send_cancel_request(io.get_executor(), acceptor.local_endpoint(),
                                 wire::backend_key_data{4242, 0x12345678}, 5000ms);
    finished = true;
  }, asio::detached);
  run_until(io, [&] { return finished; });
  REQUIRE(finished);
  CHECK(std::chrono::steady_clock::now() - started < 2000ms);
  REQUIRE(received);
  CHECK(read_be32(received->data()) == 16);
  CHECK(read_be32(received->data() + 4) == wire::cancel_request_code);
  CHECK(read_be32(received->data() + 8) == 4242);
  CHECK(read_be32(received->data() + 12) == 0x12345678);
}

TEST_CASE("send_cancel_request gives up at its deadline when the server never closes",
          "[server_connection][cancel]") {
  asio::io_context io;
  auto acceptor = local_acceptor(io);
  std::optional<tcp::socket> held;  // accepted and kept open, never read from or closed
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    auto [ec, peer] = co_await acceptor.async_accept(use_tuple);
    if (!ec) held.emplace(std::move(peer));
  }, asio::detached);

  bool finished = false;
  const auto started = std::chrono::steady_clock::now();
  std::chrono::steady_clock::duration took{};
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    co_await send_cancel_request(io.get_executor(), acceptor.local_endpoint(),
                                 wire::backend_key_data{1, 2}, 300ms);
    took = std::chrono::steady_clock::now() - started;
    finished = true;
  }, asio::detached);
  run_until(io, [&] { return finished; });
  REQUIRE(finished);
  CHECK(held.has_value());  // it did connect: the wait was for the close
  CHECK(took >= 300ms);
  CHECK(took < 2000ms);
}
