// async_read_some_drained (backends/drained_read.hpp) on real loopback sockets: it reads what Asio's
// async_read_some reads, and a read after a send makes no recv that returns EAGAIN when the last read
// emptied the socket. recv and recvmsg are interposed in this binary (its own, for that reason) to count.
#include "backends/drained_read.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <optional>
#include <string>

namespace {
std::atomic<int> recv_calls{0};
std::atomic<int> recv_eagain{0};
}  // namespace

// Every recv and recvmsg of this process (Asio's included) is counted, then made as the system call glibc
// makes.
extern "C" ssize_t recv(int fd, void* buffer, size_t size, int flags) {
  ++recv_calls;
  const auto result = ::syscall(SYS_recvfrom, fd, buffer, size, flags, nullptr, nullptr);
  if (result < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) ++recv_eagain;
  return static_cast<ssize_t>(result);
}
extern "C" ssize_t recvmsg(int fd, struct msghdr* message, int flags) {
  ++recv_calls;
  const auto result = ::syscall(SYS_recvmsg, fd, message, flags);
  if (result < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) ++recv_eagain;
  return static_cast<ssize_t>(result);
}

namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using sluice::backends::async_read_some_drained;

struct loopback_pair {
  asio::io_context io;
  tcp::socket reader{io};
  tcp::socket writer{io};

  loopback_pair() {
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    writer.connect(acceptor.local_endpoint());
    acceptor.accept(reader);
    reader.non_blocking(true);
    sluice::backends::enable_drained_reads(reader);
  }
  // What a session's send to the peer records (router/engine/send_now.cpp).
  void sent_to_peer() { sluice::backends::note_sent(reader.native_handle()); }
  void send(const std::string& text) { asio::write(writer, asio::buffer(text)); }
  // Lets epoll report what the kernel has: the reactor runs (a work guard keeps it from returning at once
  // when no operation is queued) and consumes the edge-triggered events.
  void settle() {
    auto guard = asio::make_work_guard(io);
    io.restart();
    io.run_for(std::chrono::milliseconds(20));
  }
};

struct read_result {
  std::optional<boost::system::error_code> error;
  std::size_t count = 0;
};

template <typename Start>
void start_read(Start&& start, read_result& result) {
  start([&result](boost::system::error_code ec, std::size_t count) {
    result.error = ec;
    result.count = count;
  });
}

// Runs until `result` completes or a second passes.
void wait_for(loopback_pair& pair, read_result& result) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (!result.error && std::chrono::steady_clock::now() < until) {
    pair.io.restart();
    pair.io.run_one_for(std::chrono::milliseconds(50));
  }
}

// Starts a drained read into `buffer`; `result` is filled when it completes.
void start_drained(loopback_pair& pair, asio::mutable_buffer buffer, read_result& result) {
  start_read([&](auto handler) { async_read_some_drained(pair.reader, buffer, handler); }, result);
}

// A drained read, run until it completes or a second passes.
read_result read_drained(loopback_pair& pair, asio::mutable_buffer buffer) {
  read_result result;
  start_drained(pair, buffer, result);
  wait_for(pair, result);
  return result;
}

struct race_outcome {
  bool timed_out = false;
  std::size_t read_after = 0;
};

// A read raced against a 30 ms timer (awaitable operator ||, which connects a cancellation slot), then
// one more read once "yz" is sent.
asio::awaitable<void> read_against_timer(loopback_pair& pair, std::array<char, 64>& buffer, race_outcome& outcome) {
  using namespace asio::experimental::awaitable_operators;
  constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
  asio::steady_timer timer(pair.io, std::chrono::milliseconds(30));
  auto raced =
      co_await (async_read_some_drained(pair.reader, asio::buffer(buffer), use_tuple) || timer.async_wait(use_tuple));
  outcome.timed_out = raced.index() == 1;
  pair.send("yz");
  auto [ec, count] = co_await async_read_some_drained(pair.reader, asio::buffer(buffer), use_tuple);
  if (!ec) outcome.read_after = count;
}

}  // namespace

TEST_CASE("drained read: after a read that emptied the socket and a send, the next read waits for epoll, with no recv that returns EAGAIN") {
#if !SLUICE_DRAINED_READ
  SKIP("not built on Boost 1.81's epoll reactor: async_read_some_drained is Asio's async_read_some");
#endif
  loopback_pair pair;
  std::array<char, 64> buffer{};
  pair.send("abc");
  pair.settle();
  auto first = read_drained(pair, asio::buffer(buffer));
  REQUIRE(first.error == boost::system::error_code());
  REQUIRE(first.count == 3);

  pair.sent_to_peer();
  recv_calls = 0;
  recv_eagain = 0;
  read_result second;
  start_drained(pair, asio::buffer(buffer), second);
  pair.settle();
  CHECK(!second.error);
  CHECK(recv_calls == 0);  // nothing tried: the socket was empty after "abc", and a request went out
  pair.send("de");
  wait_for(pair, second);
  REQUIRE(second.error == boost::system::error_code());
  CHECK(second.count == 2);
  CHECK(std::string(buffer.data(), 2) == "de");
  CHECK(recv_calls == 1);
  CHECK(recv_eagain == 0);
}

// "abc" read, then a second read with no send in between, started by `start(buffer, result)`: the
// number of recv calls that got EAGAIN before "de" arrived. The second read must still get "de".
template <typename Start>
int eagain_without_send(Start start) {
  loopback_pair pair;
  std::array<char, 64> buffer{};
  pair.send("abc");
  pair.settle();
  read_result first;
  start(pair, asio::buffer(buffer), first);
  wait_for(pair, first);
  REQUIRE(first.count == 3);
  recv_eagain = 0;
  read_result second;
  start(pair, asio::buffer(buffer), second);
  pair.settle();
  const int eagain = recv_eagain;
  pair.send("de");
  wait_for(pair, second);
  CHECK(second.count == 2);
  return eagain;
}

TEST_CASE("drained read: Asio's own async_read_some tries first and gets EAGAIN (what the drained read saves)") {
  CHECK(eagain_without_send([](loopback_pair& pair, asio::mutable_buffer buffer, read_result& result) {
          start_read([&](auto handler) { pair.reader.async_read_some(buffer, handler); }, result);
        }) == 1);
}

TEST_CASE("drained read: a full buffer is not taken for an empty socket; the rest is read at once") {
  loopback_pair pair;
  std::array<char, 4> buffer{};
  pair.send("0123456789");
  pair.settle();
  std::string got;
  for (const std::size_t expected : {4, 4, 2}) {
    auto part = read_drained(pair, asio::buffer(buffer));
    REQUIRE(part.error == boost::system::error_code());
    REQUIRE(part.count == expected);
    got.append(buffer.data(), part.count);
  }
  CHECK(got == "0123456789");
}

TEST_CASE("drained read: bytes that arrive after a short read, while no read waits, are read by the next one") {
  loopback_pair pair;
  std::array<char, 64> buffer{};
  pair.send("a");
  pair.settle();
  auto first = read_drained(pair, asio::buffer(buffer));
  REQUIRE(first.count == 1);
  pair.send("b");
  pair.settle();  // epoll reports "b" while no read is queued
  auto second = read_drained(pair, asio::buffer(buffer));
  REQUIRE(second.error == boost::system::error_code());
  CHECK(second.count == 1);
  CHECK(buffer[0] == 'b');
}

TEST_CASE("drained read: end of file, cancel, close and per-operation cancellation") {
  SECTION("end of file after a short read") {
    loopback_pair pair;
    std::array<char, 64> buffer{};
    pair.send("x");
    pair.settle();
    auto first = read_drained(pair, asio::buffer(buffer));
    REQUIRE(first.count == 1);
    read_result second;
    start_drained(pair, asio::buffer(buffer), second);
    pair.writer.close();
    wait_for(pair, second);
    CHECK(second.error == asio::error::eof);
  }
  SECTION("socket.cancel() ends a waiting read with operation_aborted; the socket reads on afterwards") {
    loopback_pair pair;
    std::array<char, 64> buffer{};
    read_result waiting;
    start_drained(pair, asio::buffer(buffer), waiting);
    pair.settle();
    REQUIRE(!waiting.error);
    pair.reader.cancel();
    wait_for(pair, waiting);
    CHECK(waiting.error == asio::error::operation_aborted);
    pair.send("ok");
    auto after = read_drained(pair, asio::buffer(buffer));
    CHECK(after.count == 2);
  }
  SECTION("an empty buffer completes at once with no bytes") {
    loopback_pair pair;
    auto empty = read_drained(pair, asio::mutable_buffer());
    CHECK(empty.error == boost::system::error_code());
    CHECK(empty.count == 0);
  }
  SECTION("a coroutine's read raced against a timer (a connected cancellation slot) is cancelled, and reads on") {
    loopback_pair pair;
    std::array<char, 64> buffer{};
    race_outcome outcome;
    asio::co_spawn(pair.io, read_against_timer(pair, buffer, outcome), asio::detached);
    pair.io.run_for(std::chrono::seconds(2));
    CHECK(outcome.timed_out);
    CHECK(outcome.read_after == 2);
  }
}

TEST_CASE("drained read: without a send since the last read, the next read tries recv first, as Asio's") {
  CHECK(eagain_without_send(start_drained) == 1);
}

TEST_CASE("drained read: a FIN that came with the data is not taken for an empty socket (TCP_INQ counts it)") {
  loopback_pair pair;
  std::array<char, 64> buffer{};
  pair.send("x");
  pair.writer.shutdown(tcp::socket::shutdown_send);  // data and FIN arrive before the read
  pair.settle();
  auto first = read_drained(pair, asio::buffer(buffer));
  REQUIRE(first.count == 1);
  pair.sent_to_peer();  // even after a send: the FIN raises no further event, the read must try
  auto second = read_drained(pair, asio::buffer(buffer));
  CHECK(second.error == asio::error::eof);
}

TEST_CASE("drained read: a reset that came with the data is met by the next read when nothing was sent") {
  loopback_pair pair;
  std::array<char, 64> buffer{};
  pair.send("y");
  pair.writer.set_option(asio::socket_base::linger(true, 0));
  pair.writer.close();  // RST after the data
  pair.settle();
  auto first = read_drained(pair, asio::buffer(buffer));
  REQUIRE((first.count == 1 || first.error == asio::error::connection_reset));
  auto second = read_drained(pair, asio::buffer(buffer));
  CHECK(second.error.has_value());
  CHECK(second.error != boost::system::error_code());
}
